//! Mem cable throughput: a producer core fills bursts and sends them down a cable, a consumer core
//! receives them into its own pool. The figure is what the consumer received.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brick_io::backend::mem::{self, CableConfig};
use brick_io::poll::{self, IdlePolicy};
use brick_io::{Burst, Error, Pool, PoolConfig, testframe};
use serde::Serialize;

/// What to run.
#[derive(Clone, Debug)]
pub struct MemBench {
    /// Frame size in bytes (Ethernet, without FCS).
    pub size: usize,
    /// Packets per burst.
    pub burst: usize,
    /// How long to measure.
    pub seconds: f64,
    /// Distinct flows (UDP source ports) in the traffic.
    pub flows: u16,
    /// Cores for the producer and the consumer (`None`: let the scheduler choose).
    pub cores: Option<(usize, usize)>,
    /// Print the rate once a second while running.
    pub progress: bool,
}

/// What was measured.
#[derive(Clone, Debug, Serialize)]
pub struct MemReport {
    /// Always "mem_cable".
    pub bench: &'static str,
    /// Frame size.
    pub size: usize,
    /// Burst size.
    pub burst: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Frames received by the consumer.
    pub rx_packets: u64,
    /// Received rate in millions of packets per second.
    pub mpps: f64,
    /// Received rate in Gbit/s of frame bytes.
    pub gbps: f64,
    /// Frames the producer sent.
    pub tx_packets: u64,
    /// Frames the producer dropped because the ring was full (the consumer was slower).
    pub tx_full: u64,
}

/// Runs the benchmark.
pub fn run(b: &MemBench) -> Result<MemReport, Error> {
    if b.size < testframe::MIN_FRAME || b.size > 1518 {
        return Err(Error::Config(format!(
            "frame size {} outside 60..=1518",
            b.size
        )));
    }
    let (a, z) = mem::cable("gen", "sink", CableConfig::default())?;
    let (a_stats, z_stats) = (a.stats(), z.stats());
    let (_, mut tx) = a.split();
    let (mut rx, _) = z.split();
    let stop = Arc::new(AtomicBool::new(false));
    let (pc, cc) = b.cores.unzip();

    let (size, burst_size, flows) = (b.size, b.burst, b.flows.max(1));
    let stop_p = Arc::clone(&stop);
    let producer = poll::spawn("mem-gen", pc, move || -> Result<(), Error> {
        let pool = Pool::new(PoolConfig::default())?;
        let mut templates = Vec::with_capacity(flows.into());
        for f in 0..flows {
            // Padded to 64 bytes so a small frame is copied with one fixed-size move.
            let mut t = vec![0u8; size.max(brick_io::pool::SMALL)];
            testframe::build(&mut t[..size], f, 0);
            templates.push(t);
        }
        let mut burst = Burst::new(burst_size);
        let mut k = 0usize;
        while !stop_p.load(Ordering::Relaxed) {
            while burst.room() != 0 {
                let Some(p) = pool.alloc_from_padded(size, &templates[k]) else {
                    break;
                };
                k = if k + 1 == templates.len() { 0 } else { k + 1 };
                let _ = burst.push(p);
            }
            let n = burst.len();
            if tx[0].tx_burst(&mut burst) < n {
                // The ring was full: the consumer is the bottleneck. Give it a moment instead of
                // building frames that can only be dropped.
                for _ in 0..256 {
                    std::hint::spin_loop();
                }
            }
        }
        Ok(())
    })?;
    let stop_c = Arc::clone(&stop);
    let consumer = poll::spawn("mem-sink", cc, move || -> Result<(), Error> {
        let pool = Pool::new(PoolConfig::default())?;
        poll::run(
            &mut rx,
            &pool,
            burst_size,
            IdlePolicy::Busy,
            &stop_c,
            |_, burst| burst.clear(),
        );
        Ok(())
    })?;

    // Let both threads reach full speed before the window opens.
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let first = z_stats.total();
    let first_tx = a_stats.total();
    let mut last = first.rx_packets;
    let mut tick = start;
    while start.elapsed().as_secs_f64() < b.seconds {
        std::thread::sleep(Duration::from_millis(50));
        if b.progress && tick.elapsed() >= Duration::from_secs(1) {
            let now = z_stats.total().rx_packets;
            eprintln!(
                "  {:>5.1} s  {:>7.2} Mpps",
                start.elapsed().as_secs_f64(),
                (now - last) as f64 / tick.elapsed().as_secs_f64() / 1e6
            );
            last = now;
            tick = Instant::now();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let end = z_stats.total();
    let end_tx = a_stats.total();
    stop.store(true, Ordering::Relaxed);
    producer
        .join()
        .map_err(|_| Error::Config("producer panicked".into()))??;
    consumer
        .join()
        .map_err(|_| Error::Config("consumer panicked".into()))??;

    let rx_packets = end.rx_packets - first.rx_packets;
    let rx_bytes = end.rx_bytes - first.rx_bytes;
    Ok(MemReport {
        bench: "mem_cable",
        size: b.size,
        burst: b.burst,
        seconds: secs,
        rx_packets,
        mpps: rx_packets as f64 / secs / 1e6,
        gbps: rx_bytes as f64 * 8.0 / secs / 1e9,
        tx_packets: end_tx.tx_packets - first_tx.tx_packets,
        tx_full: end_tx.drops(brick_io::DropReason::TxFull)
            - first_tx.drops(brick_io::DropReason::TxFull),
    })
}
