//! How fast the generator sends, on one core: on a mem cable, and on a veth (AF_PACKET) beside
//! trafgen (netsniff-ng) on the same veth in the same run. Needs root for the veth half.
//!
//! The veth figures are what a receiver (an AF_PACKET port in the peer namespace, on the second
//! core) counted in the steady state, so both generators are measured by the same yardstick.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brick_io::backend::af_packet::{self, AfPacketConfig};
use brick_io::backend::af_xdp::live::DropSink;
use brick_io::backend::mem::{self, CableConfig};
use brick_io::netns::Netns;
use brick_io::poll::{self, IdlePolicy};
use brick_io::{Pool, PoolConfig, PortStats};
use serde::Serialize;

use crate::traffic::profile::{FCS, Profile};
use crate::traffic::{self, LiveSpec, RunOpts};
use crate::{Error, veth};

/// Rates of the generators.
#[derive(Clone, Debug, Serialize)]
pub struct GenRateReport {
    /// Always "gen".
    pub bench: &'static str,
    /// Frame size with FCS.
    pub size: usize,
    /// Seconds per run.
    pub seconds: f64,
    /// Brick's generator into a mem cable, Mpps sent.
    pub brick_mem_mpps: f64,
    /// Brick's generator on the veth (AF_PACKET), Mpps received by the peer.
    pub brick_veth_mpps: f64,
    /// trafgen on the same veth, Mpps received by the peer (absent when trafgen is not installed).
    pub trafgen_veth_mpps: Option<f64>,
    /// brick_veth / trafgen_veth.
    pub ratio: Option<f64>,
    /// Brick's XDP live-frame sender on the same veth, Mpps counted by an XDP drop sink on the
    /// peer (absent when the kernel refuses live frames).
    pub xdp_live_veth_mpps: Option<f64>,
    /// trafgen on the same veth into the same XDP drop sink (the yardstick of the live frames).
    pub trafgen_xdp_sink_mpps: Option<f64>,
}

fn profile(size: usize, seconds: f64) -> Result<Profile, Error> {
    let text = format!(
        "duration = {seconds}\n[[stream]]\nname = \"gen\"\nsrc_ip = \"198.18.0.1\"\ndst_ip = \"198.18.0.2\"\nsize = {size}\n"
    );
    Profile::parse("(generated)", &text)
}

/// Counts what arrives on `stats` from 0.5 s after now until 0.2 s before `seconds` are up.
fn steady_rate(stats: &PortStats, seconds: f64) -> f64 {
    std::thread::sleep(Duration::from_millis(500));
    let (r0, t0) = (stats.total().rx_packets, Instant::now());
    std::thread::sleep(Duration::from_secs_f64((seconds - 0.7).max(0.3)));
    (stats.total().rx_packets - r0) as f64 / t0.elapsed().as_secs_f64() / 1e6
}

/// A receiver thread counting into its port's stats until `stop`.
fn sink(
    b: &Netns,
    stop: &Arc<AtomicBool>,
    core: Option<usize>,
) -> Result<(PortStats, std::thread::JoinHandle<()>), Error> {
    let port = b.enter(|| af_packet::open("v1", AfPacketConfig::default()))??;
    let stats = port.stats();
    let (mut rx, _) = port.split();
    let s = Arc::clone(stop);
    let h = poll::spawn("gen-sink", core, move || {
        if let Ok(pool) = Pool::new(PoolConfig::default()) {
            poll::run(&mut rx, &pool, 32, IdlePolicy::default(), &s, |_, b| {
                b.clear()
            });
        }
    })?;
    Ok((stats, h))
}

/// trafgen sending `packet` out of v0 in `na` on one CPU for `secs` seconds.
fn trafgen_cmd(na: &Netns, secs: &str, packet: &str) -> Command {
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        na.name(),
        "timeout",
        "-s",
        "INT",
        secs,
        "trafgen",
        "--dev",
        "v0",
        "--cpus",
        "1",
        "--no-cpu-stats",
        "--notouch-irq",
        packet,
    ]);
    c
}

/// Runs the measurements for `seconds` each.
pub fn run(size: usize, seconds: f64) -> Result<GenRateReport, Error> {
    let p = profile(size, seconds)?;
    let cores = poll::cores();
    let (c0, c1) = (cores.first().copied(), cores.get(1).copied());

    let (a, z) = mem::cable("gen", "sink", CableConfig::default())?;
    let (_, tx) = a.split();
    let (rx, _) = z.split();
    let opts = RunOpts {
        cores: cores.clone(),
        backend: "mem".into(),
        ..Default::default()
    };
    let (mem_report, _, _) = traffic::run(&p, tx, rx, &opts)?;

    if !(64..=1518).contains(&size) {
        return Err(Error::Usage(format!("frame size {size} outside 64..=1518")));
    }
    let (na, nb) = veth::pair("bench gen")?;
    let stop = Arc::new(AtomicBool::new(false));
    let (stats, h) = sink(&nb, &stop, c1)?;
    let (_, tx) = na
        .enter(|| {
            af_packet::open(
                "v0",
                AfPacketConfig {
                    tx_kick: 256,
                    ..Default::default()
                },
            )
        })??
        .split();
    let opts = RunOpts {
        cores: c0.into_iter().collect(),
        backend: "af_packet:v0".into(),
        // Unpaced: the largest burst, so one kick of the kernel moves 64 frames.
        burst: brick_io::MAX_BURST,
        ..Default::default()
    };
    let brick = std::thread::scope(|s| {
        let run = s.spawn(|| traffic::run(&p, tx, Vec::new(), &opts));
        let rate = steady_rate(&stats, seconds);
        run.join()
            .map(|r| r.map(|_| rate))
            .unwrap_or_else(|_| Err(Error::Usage("generator panicked".into())))
    })?;

    let mut frame = vec![0u8; size - FCS];
    brick_io::testframe::build(&mut frame, 1, 1);
    let bytes: Vec<String> = frame.iter().map(|b| format!("{b:#04x}")).collect();
    let packet = format!("{{ {} }}", bytes.join(", "));
    let secs = format!("{}", seconds.ceil() as u64);
    let trafgen = std::thread::scope(|s| {
        let child = s.spawn(|| trafgen_cmd(&na, &secs, &packet).output());
        let rate = steady_rate(&stats, seconds);
        match child.join() {
            Ok(Ok(_)) if rate > 0.0 => Some(rate),
            Ok(Ok(out)) => {
                eprintln!(
                    "trafgen sent nothing: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            _ => None,
        }
    });
    stop.store(true, Ordering::Relaxed);
    let _ = h.join();

    // The receiver above costs more per frame than the fastest sender: measure the live frames
    // (and trafgen again, for the ratio) into an XDP program that counts and drops.
    let sink = nb.enter(|| DropSink::attach("v1"))??;
    let steady = |count: &dyn Fn() -> u64| {
        std::thread::sleep(Duration::from_millis(500));
        let (n0, t0) = (count(), Instant::now());
        std::thread::sleep(Duration::from_secs_f64((seconds - 0.7).max(0.3)));
        (count() - n0) as f64 / t0.elapsed().as_secs_f64() / 1e6
    };
    let count = || sink.count().unwrap_or(0);
    // `brick gen --tx xdp-live:v0@NS` itself, on the first core, counted at the sink.
    let live = LiveSpec {
        ifname: "v0".into(),
        netns: Some(na.name().into()),
    };
    let live_opts = RunOpts {
        cores: c0.into_iter().collect(),
        seconds: Some(seconds),
        ..Default::default()
    };
    let xdp_live = std::thread::scope(|s| {
        let run = s.spawn(|| traffic::live::run(&p, &live, Vec::new(), &live_opts));
        let rate = steady(&count);
        match run.join() {
            Ok(Ok(_)) => Some(rate),
            Ok(Err(e)) => {
                eprintln!("xdp live frames unavailable: {e}");
                None
            }
            Err(_) => None,
        }
    });
    let trafgen_xdp = trafgen.and_then(|_| {
        std::thread::scope(|s| {
            let child = s.spawn(|| trafgen_cmd(&na, &secs, &packet).output());
            let rate = steady(&count);
            child.join().ok().and_then(|r| r.ok()).map(|_| rate)
        })
    });
    Ok(GenRateReport {
        bench: "gen",
        size,
        seconds,
        brick_mem_mpps: mem_report.tx_mpps,
        brick_veth_mpps: brick,
        trafgen_veth_mpps: trafgen,
        ratio: trafgen.map(|t| brick / t),
        xdp_live_veth_mpps: xdp_live,
        trafgen_xdp_sink_mpps: trafgen_xdp,
    })
}
