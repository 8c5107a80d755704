//! The SPSC ring of mem cables beside crossbeam's `ArrayQueue` (bounded MPMC), moving the same
//! 64-byte frames from one thread to another in bursts of 32. This is the measurement behind the
//! ring choice in docs/decisions.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brick_io::ring;
use brick_io::{Error, poll};
use crossbeam_queue::ArrayQueue;
use serde::Serialize;

const FRAME: usize = 64;
const BURST: usize = 32;
const SLOTS: usize = 1024;

/// Frames per second through each queue.
#[derive(Clone, Debug, Serialize)]
pub struct RingReport {
    /// Always "ring".
    pub bench: &'static str,
    /// Million frames per second through the SPSC ring.
    pub spsc_mpps: f64,
    /// Million frames per second through `crossbeam_queue::ArrayQueue`.
    pub crossbeam_mpps: f64,
    /// spsc / crossbeam.
    pub ratio: f64,
}

fn timed(
    seconds: f64,
    cores: Option<(usize, usize)>,
    produce: impl FnMut() + Send + 'static,
    consume: impl FnMut() -> u64 + Send + 'static,
) -> Result<f64, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let (pc, cc) = cores.unzip();
    let (s1, s2) = (Arc::clone(&stop), Arc::clone(&stop));
    let mut produce = produce;
    let mut consume = consume;
    let p = poll::spawn("ring-p", pc, move || {
        while !s1.load(Ordering::Relaxed) {
            produce();
        }
    })?;
    let c = poll::spawn("ring-c", cc, move || {
        let mut n = 0u64;
        let start = Instant::now();
        while !s2.load(Ordering::Relaxed) {
            n += consume();
        }
        n as f64 / start.elapsed().as_secs_f64() / 1e6
    })?;
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    p.join()
        .map_err(|_| Error::Config("producer panicked".into()))?;
    c.join()
        .map_err(|_| Error::Config("consumer panicked".into()))
}

/// Runs both for `seconds` each.
pub fn run(seconds: f64, cores: Option<(usize, usize)>) -> Result<RingReport, Error> {
    let frame = [0x5au8; FRAME];
    let (mut tx, mut rx) = ring::ring(SLOTS, FRAME)?;
    let spsc = timed(
        seconds,
        cores,
        move || {
            for _ in 0..BURST {
                if !tx.push(7, &frame) {
                    break;
                }
            }
            tx.publish();
        },
        move || {
            let mut n = 0;
            let mut sink = [0u8; FRAME];
            while n < BURST as u64
                && rx
                    .pop(|_, b, _| sink[..b.len()].copy_from_slice(b))
                    .is_some()
            {
                n += 1;
            }
            rx.release();
            std::hint::black_box(&sink);
            n
        },
    )?;
    let q = Arc::new(ArrayQueue::<(u32, [u8; FRAME])>::new(SLOTS));
    let q2 = Arc::clone(&q);
    let cb = timed(
        seconds,
        cores,
        move || {
            for _ in 0..BURST {
                if q.push((7, frame)).is_err() {
                    break;
                }
            }
        },
        move || {
            let mut n = 0;
            let mut sink = [0u8; FRAME];
            while n < BURST as u64 {
                match q2.pop() {
                    Some((_, b)) => sink.copy_from_slice(&b),
                    None => break,
                }
                n += 1;
            }
            std::hint::black_box(&sink);
            n
        },
    )?;
    Ok(RingReport {
        bench: "ring",
        spsc_mpps: spsc,
        crossbeam_mpps: cb,
        ratio: spsc / cb,
    })
}
