//! The standard forwarding comparison on one machine: the same traffic through the Linux kernel
//! and through a Brick node (AF_PACKET, AF_XDP) in the same namespace topology, in one run.
//!
//! ```text
//!  [gen] g0 ==veth== r1 [router: kernel | Brick] r2 ==veth== s0 [sink]
//!  10.1.0.2          10.1.0.1            10.2.0.1          10.2.0.2
//! ```
//!
//! - The generator is XDP live frames ([`LiveFrames`]) on the first core: 5-9 Mpps of 64-byte
//!   frames from one core, more than any router here forwards, so the figures measure the router.
//!   The frames spread over 64 UDP flows to one destination.
//! - The sink is a program on s0 that counts and drops ([`DropSink`]); ARP passes to the sink's
//!   kernel, which answers for 10.2.0.2. By default it sits at tc ingress: as an XDP program it
//!   would make veth copy every frame built by a socket sender (Brick's AF_XDP and AF_PACKET
//!   transmits, not the kernel's forwarding) into a page first, on the router's core, a cost
//!   of the apparatus charged to one side only (`sink`).
//! - The router gets the second core. Where r1's receive work (its NAPI) runs is set by
//!   `napi`: `router` makes it a kernel thread pinned to the router's core (threaded NAPI), so
//!   the kernel forwards and Brick receives on the same core and the router is one core either
//!   way; `generator` leaves it where veth puts it, on the sending core, which then does the
//!   kernel's forwarding too (and Brick's receive copy).
//!
//! Each router first forwards a warm-up (ARP resolved, caches warm), then the measured seconds:
//! offered = frames the generator laid out; forwarded = frames of that stream the sink counted
//! (by their signature: a stray frame from the router counts for nothing).

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brick_io::backend::af_xdp::live::{
    DropSink, LiveFrames, MAGIC_AT, SIGNATURE_MAGIC, SinkCounts,
};
use brick_io::netns::{Netns, is_root};
use brick_io::poll;
use brick_router::config::{RouteTarget, StaticRoute};
use brick_router::{Config, Node};
use serde::Serialize;

use crate::Error;
use crate::rfc2544;
use crate::traffic::{Latency, Rate};

/// What forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Dut {
    /// Linux kernel forwarding (net.ipv4.ip_forward=1).
    Kernel,
    /// A Brick node on AF_PACKET ports.
    AfPacket,
    /// A Brick node on AF_XDP ports (copy mode: veth offers no zero-copy).
    AfXdp,
    /// DPDK's testpmd on its AF_XDP driver, rewriting MAC addresses only (no routing): the
    /// DPDK reference, in the same topology and run (needs `dpdk-testpmd`, package dpdk-dev).
    Testpmd,
}

impl std::str::FromStr for Dut {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kernel" => Ok(Dut::Kernel),
            "af_packet" => Ok(Dut::AfPacket),
            "af_xdp" => Ok(Dut::AfXdp),
            "testpmd" => Ok(Dut::Testpmd),
            _ => Err(format!(
                "router {s:?}: kernel, af_packet, af_xdp or testpmd"
            )),
        }
    }
}

impl std::str::FromStr for Napi {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "router" => Ok(Napi::Router),
            "generator" => Ok(Napi::Generator),
            _ => Err(format!("napi {s:?}: router or generator")),
        }
    }
}

/// Where the sink counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Sink {
    /// At tc ingress (tcx): the frame as it comes.
    Tc,
    /// An XDP program: veth then copies frames from socket senders first.
    Xdp,
}

impl std::str::FromStr for Sink {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tc" => Ok(Sink::Tc),
            "xdp" => Ok(Sink::Xdp),
            _ => Err(format!("sink {s:?}: tc or xdp")),
        }
    }
}

impl Dut {
    fn name(self) -> &'static str {
        match self {
            Dut::Kernel => "kernel",
            Dut::AfPacket => "brick af_packet",
            Dut::AfXdp => "brick af_xdp",
            Dut::Testpmd => "dpdk testpmd af_xdp (mac)",
        }
    }
}

/// Where r1's receive processing runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Napi {
    /// Threaded NAPI pinned to the router's core.
    Router,
    /// veth's default: on the generator's core.
    Generator,
}

/// One comparison.
#[derive(Clone, Debug)]
pub struct Forward {
    /// Ethernet frame sizes without FCS (60..=1514), each measured in turn.
    pub sizes: Vec<usize>,
    /// Measured seconds per router and frame size.
    pub seconds: f64,
    /// Routers to compare, in order.
    pub duts: Vec<Dut>,
    /// Where r1's NAPI runs.
    pub napi: Napi,
    /// A route table loaded into Brick as static routes via the sink (the kernel gets only the
    /// connected routes): `prefix next-hop` lines, gzip accepted.
    pub table: Option<std::path::PathBuf>,
    /// Also run RFC 2544 against each router: throughput (the highest paced rate without
    /// loss), latency at that rate, the frame loss rate curve, and back-to-back bursts.
    pub rfc2544: bool,
    /// Back-to-back searches per router (RFC 2544 asks for 50; 0 skips them).
    pub back_to_back: usize,
    /// RFC 2544's upper bound when below what the unpaced generator offers: a fixed rate at
    /// which to compare the routers' latency.
    pub max_rate: Option<Rate>,
    /// Set (Ctrl-C) to end the run after the current trial, with the results so far.
    pub stop: Arc<AtomicBool>,
    /// The Brick nodes' idle policy.
    pub idle: brick_io::IdlePolicy,
    /// How the Brick nodes' worker is scheduled.
    pub priority: brick_io::Priority,
    /// Where the sink counts.
    pub sink: Sink,
}

/// One router's figures.
#[derive(Clone, Debug, Serialize)]
pub struct DutResult {
    /// Which router.
    pub dut: &'static str,
    /// Frame size without FCS.
    pub size: usize,
    /// Frames the generator laid out, Mpps.
    pub offered_mpps: f64,
    /// Frames the sink counted, Mpps.
    pub forwarded_mpps: f64,
    /// forwarded / the kernel's forwarded, when the kernel ran.
    pub vs_kernel: Option<f64>,
    /// Routes in the router's table.
    pub routes: usize,
    /// RFC 2544 throughput: the highest offered rate forwarded without loss, Mpps.
    pub throughput_mpps: Option<f64>,
    /// throughput / the kernel's throughput.
    pub throughput_vs_kernel: Option<f64>,
    /// One-way latency of every frame of a trial at the throughput rate, generator to sink.
    pub latency: Option<Latency>,
    /// `(percent of the upper bound, loss ratio)`, from 100 % down. The upper bound is the
    /// overload run's offered rate, or `max_rate` when lower.
    pub loss_curve: Vec<(f64, f64)>,
    /// Longest burst at the upper bound forwarded without loss, frames (mean).
    pub back_to_back: Option<f64>,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct ForwardReport {
    /// Always "forward".
    pub bench: &'static str,
    /// Frame sizes without FCS.
    pub sizes: Vec<usize>,
    /// Measured seconds per router and frame size.
    pub seconds: f64,
    /// Generator backend, and where everything ran.
    pub generator: String,
    /// Placement of the threads and of r1's NAPI.
    pub placement: String,
    /// Per router.
    pub results: Vec<DutResult>,
    /// Ended early by [`Forward::stop`]: the results are what was measured until then.
    pub stopped: bool,
}

impl ForwardReport {
    /// The terminal table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "forwarding, {} s per router and frame size\ngenerator: {}\nplacement: {}\n{:<18} {:>6} {:>12} {:>14} {:>10} {:>9}\n",
            self.seconds,
            self.generator,
            self.placement,
            "router",
            "bytes",
            "offered Mpps",
            "forwarded Mpps",
            "vs kernel",
            "routes"
        );
        for r in &self.results {
            s += &format!(
                "{:<18} {:>6} {:>12.3} {:>14.3} {:>10} {:>9}\n",
                r.dut,
                r.size,
                r.offered_mpps,
                r.forwarded_mpps,
                ratio(r.vs_kernel),
                r.routes
            );
            if let Some(t) = r.throughput_mpps {
                s += &format!(
                    "  RFC 2544: throughput {t:.3} Mpps ({} the kernel's), latency p50/p99/max {} us, back-to-back {} frames\n",
                    ratio(r.throughput_vs_kernel),
                    latency(r.latency),
                    frames(r.back_to_back)
                );
            }
            if !r.loss_curve.is_empty() {
                s += &format!(
                    "  loss curve: {}\n",
                    rfc2544::loss_curve_text(&r.loss_curve)
                );
            }
        }
        if self.stopped {
            s += STOPPED;
            s += "\n";
        }
        s
    }

    /// A section for docs/benchmarks.md: when, the command, the machine, and the results as a
    /// table.
    pub fn markdown(&self, when: &str, command: &str, machine: &str) -> String {
        let mut s = format!(
            "### `brick bench forward`, {when}\n\nCommand: `{command}`. Machine: {machine}. \
             Frames of {} bytes without FCS, {} s per router and size. Generator: {}. Placement: {}.\n\n\
             | router | bytes | routes | offered Mpps | forwarded Mpps | vs kernel | RFC 2544 throughput Mpps | vs kernel | latency p50/p99/max us | back-to-back frames |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
            sizes(&self.sizes),
            self.seconds,
            self.generator,
            self.placement
        );
        for r in &self.results {
            s += &format!(
                "| {} | {} | {} | {:.3} | {:.3} | {} | {} | {} | {} | {} |\n",
                r.dut,
                r.size,
                r.routes,
                r.offered_mpps,
                r.forwarded_mpps,
                ratio(r.vs_kernel),
                r.throughput_mpps.map_or("-".into(), |t| format!("{t:.3}")),
                ratio(r.throughput_vs_kernel),
                latency(r.latency),
                frames(r.back_to_back)
            );
        }
        let curves: Vec<String> = (self.results.iter())
            .filter(|r| !r.loss_curve.is_empty())
            .map(|r| {
                format!(
                    "- {}, {} B: {}\n",
                    r.dut,
                    r.size,
                    rfc2544::loss_curve_text(&r.loss_curve)
                )
            })
            .collect();
        if !curves.is_empty() {
            s += "\nFrame loss rate (percent of the upper bound, the overload's offered rate or \
                  --max-rate: loss):\n\n";
            s += &curves.concat();
        }
        if self.stopped {
            s += &format!("\n{STOPPED}\n");
        }
        s + "\n"
    }

    /// Appends [`ForwardReport::markdown`], dated now (UTC), to the Markdown file at `path`.
    pub fn append_markdown(&self, path: &Path, command: &str, machine: &str) -> Result<(), Error> {
        use std::io::Write;
        let when = Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let fail = |e: std::io::Error| Error::Usage(format!("{}: {e}", path.display()));
        // A blank line before the heading, whether or not the file ends with a newline.
        let sep = match std::fs::read(path).map_err(fail)?.last() {
            None => "",
            Some(b'\n') => "\n",
            Some(_) => "\n\n",
        };
        let section = format!("{sep}{}", self.markdown(&when, command, machine));
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(section.as_bytes()))
            .map_err(fail)
    }
}

const STOPPED: &str = "Stopped early (Ctrl-C): partial results.";

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |v| format!("{v:.2}x"))
}

fn sizes(sizes: &[usize]) -> String {
    let s: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    s.join(", ")
}

fn latency(l: Option<Latency>) -> String {
    l.map_or("-".into(), |l| {
        format!("{:.0}/{:.0}/{:.0}", l.p50_us, l.p99_us, l.max_us)
    })
}

fn frames(n: Option<f64>) -> String {
    n.map_or("-".into(), |n| format!("{n:.0}"))
}

/// This machine as a benchmark report names it: CPU model, cores, kernel, load average.
pub fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|m| m.1.trim())
        })
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let loadavg = read("/proc/loadavg");
    let load: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    format!(
        "{model}, {cores} cores, Linux {}, load average {}",
        read("/proc/sys/kernel/osrelease").trim(),
        load.join(" ")
    )
}

const PREFIX: &str = "bfw";

/// Frames per live-frame call: paced, most of them are dropped by the program before they are
/// written, so a call must be long to keep its set-up (tens of milliseconds) a small share.
const REPEAT: u32 = 1 << 22;

fn ns_name(n: &str) -> String {
    format!("{PREFIX}{n}")
}

/// Runs `argv` in `ns`, failing with its output.
fn ok(ns: &Netns, argv: &[&str]) -> Result<String, Error> {
    Ok(ns.exec(argv)?)
}

/// A UDP frame from g0 to 10.2.0.2 through the router's r1 (`mac`), `size` bytes, with the
/// traffic generator's signature (stream 0).
fn frame(size: usize, src: [u8; 6], dst: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; size];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((size - 14) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 1, 0, 2]);
    f[30..34].copy_from_slice(&[10, 2, 0, 2]);
    let c = brick_router::wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&1024u16.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&((size - 34) as u16).to_be_bytes());
    // The signature's magic: the sink times the frames that carry it.
    f[MAGIC_AT..MAGIC_AT + 2].copy_from_slice(&SIGNATURE_MAGIC.to_be_bytes());
    f
}

fn mac_of(ns: &Netns, ifname: &str) -> Result<[u8; 6], Error> {
    let text = ok(ns, &["cat", &format!("/sys/class/net/{ifname}/address")])?;
    brick_router::config::parse_mac(text.trim())
        .map(|m| m.0)
        .map_err(Error::Usage)
}

struct Topology {
    gen_ns: Netns,
    router: Netns,
    sink_ns: Netns,
}

fn topology(size: usize) -> Result<Topology, Error> {
    let (g, r, s) = (
        Netns::new(&ns_name("g"))?,
        Netns::new(&ns_name("r"))?,
        Netns::new(&ns_name("s"))?,
    );
    g.veth("g0", &r, "r1", 1)?;
    s.veth("s0", &r, "r2", 1)?;
    let mtu = (size - 14).max(1500).to_string();
    for (ns, ifname) in [(&g, "g0"), (&r, "r1"), (&r, "r2"), (&s, "s0")] {
        ok(ns, &["ip", "link", "set", ifname, "mtu", &mtu])?;
    }
    ok(&g, &["ip", "addr", "add", "10.1.0.2/24", "dev", "g0"])?;
    ok(&s, &["ip", "addr", "add", "10.2.0.2/24", "dev", "s0"])?;
    // NAPI on r1 (GRO on), so that the generator's redirect into g0 is received.
    ok(&r, &["ethtool", "-K", "r1", "gro", "on"])?;
    Ok(Topology {
        gen_ns: g,
        router: r,
        sink_ns: s,
    })
}

/// Makes r1's NAPI a kernel thread on `core`.
fn pin_napi(ns: &Netns, ifname: &str, core: usize) -> Result<(), Error> {
    let threaded = format!("echo 1 > /sys/class/net/{ifname}/threaded");
    ok(ns, &["sh", "-c", &threaded])?;
    let ps = brick_io::netns::sh("ps", &["-e", "-o", "pid=,comm="])?;
    let name = format!("napi/{ifname}-");
    let pids: Vec<&str> = ps
        .lines()
        .filter(|l| l.contains(&name))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if pids.is_empty() {
        return Err(Error::Usage(format!(
            "no {name}* thread after enabling threaded NAPI"
        )));
    }
    for pid in pids {
        brick_io::netns::sh("taskset", &["-pc", &core.to_string(), pid])?;
    }
    Ok(())
}

/// How long [`blast`] measures.
#[derive(Clone, Copy, Debug)]
enum Span {
    Seconds(f64),
    /// Until the generator has laid out this many frames (its program stops there).
    Frames(u64),
}

/// What [`blast`] saw over its measured part.
struct Blast {
    /// Frames the generator laid out.
    generated: u64,
    /// What the sink counted.
    sunk: SinkCounts,
    /// Seconds.
    seconds: f64,
}

/// Sends from the generator's namespace, pinned to `core`, for `warmup` seconds and then `span`.
/// Without `drain` the counters are read while traffic flows (a rate under overload); with it
/// the generator stops first and the sink gets a moment to count what was in flight (a loss
/// count).
fn blast(
    topo: &Topology,
    sink: &DropSink,
    sender: &LiveFrames,
    core: Option<usize>,
    (warmup, span): (f64, Span),
    drain: bool,
) -> Result<Blast, Error> {
    if matches!(span, Span::Frames(_)) && warmup > 0.0 {
        // The limit is set in the program's state, which a running generator also writes.
        return Err(Error::Usage("a burst is sent without warm-up".into()));
    }
    let stop = AtomicBool::new(false);
    let read = |before: &(u64, SinkCounts, Instant)| -> Result<Blast, Error> {
        Ok(Blast {
            generated: sender.generated()? - before.0,
            sunk: sink.counts()?.since(&before.1),
            seconds: before.2.elapsed().as_secs_f64(),
        })
    };
    // The measured part starts here, or after a warm-up; a burst's end is set in the program.
    let start = || -> Result<_, Error> {
        let before = (sender.generated()?, sink.counts()?, Instant::now());
        if let Span::Frames(n) = span {
            sender.set_limit(before.0 + n)?;
        }
        Ok(before)
    };
    let mut before = if warmup > 0.0 { None } else { Some(start()?) };
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            topo.gen_ns.enter(|| -> Result<(), Error> {
                if let Some(c) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                while !stop.load(Ordering::Relaxed) {
                    // Well under a second per call: the stop flag is seen within that.
                    sender.send(REPEAT, 256)?;
                }
                Ok(())
            })?
        });
        let measured = (|| -> Result<_, Error> {
            let before = match before.take() {
                Some(b) => b,
                None => {
                    std::thread::sleep(Duration::from_secs_f64(warmup));
                    start()?
                }
            };
            match span {
                Span::Seconds(s) => std::thread::sleep(Duration::from_secs_f64(s)),
                Span::Frames(n) => {
                    while sender.generated()? < before.0 + n && !thread.is_finished() {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
            let running = read(&before)?;
            Ok((before, running))
        })();
        // Stopped whatever happened, or the scope would wait for the generator forever.
        stop.store(true, Ordering::Relaxed);
        thread
            .join()
            .map_err(|_| Error::Usage("the generator thread panicked".into()))??;
        sender.set_limit(u64::MAX)?;
        let (before, running) = measured?;
        if drain {
            // The generator's last call ran on after the stop: its frames count, and its time.
            let seconds = before.2.elapsed().as_secs_f64();
            std::thread::sleep(Duration::from_millis(100));
            Ok(Blast {
                seconds,
                ..read(&before)?
            })
        } else {
            Ok(running)
        }
    })
}

/// One router's measurements.
struct Measured {
    offered_mpps: f64,
    forwarded_mpps: f64,
    rfc2544: Option<rfc2544::SizeResult>,
}

/// Every frame size of `lives` in turn through the router set up now.
fn measure_sizes(
    topo: &Topology,
    sink: &DropSink,
    lives: &[(usize, LiveFrames)],
    core: Option<usize>,
    f: &Forward,
    name: &str,
) -> Result<Vec<(usize, Measured)>, Error> {
    let mut done = Vec::new();
    for (size, live) in lives {
        if f.stop.load(Ordering::Relaxed) {
            break;
        }
        done.push((*size, measure(topo, sink, live, core, f, name, *size)?));
    }
    Ok(done)
}

/// The overload run (generator unpaced), then, when asked, RFC 2544's tests with the overload's
/// offered rate as the upper bound.
fn measure(
    topo: &Topology,
    sink: &DropSink,
    live: &LiveFrames,
    core: Option<usize>,
    f: &Forward,
    name: &str,
    size: usize,
) -> Result<Measured, Error> {
    live.set_rate(0.0)?;
    let b = blast(
        topo,
        sink,
        live,
        core,
        (1.0, Span::Seconds(f.seconds)),
        false,
    )?;
    let offered = b.generated as f64 / b.seconds;
    let forwarded = b.sunk.timed() as f64 / b.seconds;
    let mut m = Measured {
        offered_mpps: offered / 1e6,
        forwarded_mpps: forwarded / 1e6,
        rfc2544: None,
    };
    if !f.rfc2544 || f.stop.load(Ordering::Relaxed) {
        return Ok(m);
    }
    let mut dut = LiveDut {
        topo,
        sink,
        live,
        core,
        what: name.to_string(),
    };
    let cfg = rfc2544::Config {
        sizes: vec![size + 4],
        max_rate: Some(Rate::Pps(
            f.max_rate
                .map_or(offered, |r| r.pps((size + 4) as f64).min(offered)),
        )),
        trial_seconds: 2.0,
        settle_seconds: 0.3,
        // Fine: the bound is the generator's rate, several times what a router here forwards.
        resolution: 0.005,
        loss_curve: true,
        back_to_back_trials: f.back_to_back,
        ..rfc2544::Config::default()
    };
    let report = rfc2544::run(&mut dut, &cfg, &f.stop, |line| eprintln!("{name}: {line}"))?;
    m.rfc2544 = report.results.into_iter().next();
    Ok(m)
}

/// The router under test as RFC 2544 sees it: paced live frames in, the sink's count and
/// latency histogram out.
struct LiveDut<'a> {
    topo: &'a Topology,
    sink: &'a DropSink,
    live: &'a LiveFrames,
    core: Option<usize>,
    what: String,
}

impl LiveDut<'_> {
    fn run(&mut self, size: usize, pps: f64, span: Span) -> Result<rfc2544::Trial, Error> {
        self.live.set_rate(pps)?;
        let b = blast(
            self.topo,
            self.sink,
            self.live,
            self.core,
            (0.0, span),
            true,
        )?;
        Ok(rfc2544::Trial {
            size,
            // What was really laid out: a live-frame call has some set-up time without frames.
            offered_pps: b.generated as f64 / b.seconds,
            tx: b.generated,
            // Frames of the stream only: a stray frame from the router cannot hide a loss.
            rx: b.sunk.timed(),
            latency: Latency::of_sink(&b.sunk),
        })
    }
}

impl rfc2544::Dut for LiveDut<'_> {
    fn trial(&mut self, size: usize, pps: f64, seconds: f64) -> Result<rfc2544::Trial, Error> {
        self.run(size, pps, Span::Seconds(seconds))
    }

    fn burst(&mut self, size: usize, pps: f64, frames: u64) -> Result<rfc2544::Trial, Error> {
        self.run(size, pps, Span::Frames(frames))
    }

    fn describe(&self) -> String {
        format!(
            "{} (generator: xdp live frames, paced in the program; latency stamped by the \
             generator's program, read by the sink's)",
            self.what
        )
    }
}

/// Runs the comparison (root).
pub fn run(f: &Forward) -> Result<ForwardReport, Error> {
    if !is_root() {
        return Err(Error::Usage(
            "brick bench forward needs root (namespaces, veth, XDP)".into(),
        ));
    }
    if let Some(bad) = f.sizes.iter().find(|s| !(60..=1514).contains(*s)) {
        return Err(Error::Usage(format!("--size {bad}: 60..=1514 bytes")));
    }
    let Some(&largest) = f.sizes.iter().max() else {
        return Err(Error::Usage("--size: give at least one frame size".into()));
    };
    let cores = poll::cores();
    let (gen_core, router_core) = match cores.as_slice() {
        [a, b, ..] => (Some(*a), *b),
        [a] => (Some(*a), *a),
        [] => (None, 0),
    };
    let table = match &f.table {
        Some(path) => load_table(path)?,
        None => Vec::new(),
    };
    let topo = topology(largest)?;
    let sink = topo.sink_ns.enter(|| match f.sink {
        Sink::Tc => DropSink::attach_tc("s0"),
        Sink::Xdp => DropSink::attach("s0"),
    })??;
    // The sink's receive work runs on the core that transmits into r2, the router's: moved to
    // the generator's core it was starved by the generator's spinning and dropped frames that
    // counted as the router's loss (measured: the kernel lost 7 % at 92 kpps).
    let macs = (mac_of(&topo.gen_ns, "g0")?, mac_of(&topo.router, "r1")?);
    let lives = (f.sizes.iter())
        .map(|&size| {
            let frame = frame(size, macs.0, macs.1);
            Ok((
                size,
                topo.gen_ns.enter(|| LiveFrames::new("g0", &frame, 64))??,
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if f.napi == Napi::Router {
        pin_napi(&topo.router, "r1", router_core)?;
    }
    let mut results = Vec::new();
    for &dut in &f.duts {
        if f.stop.load(Ordering::Relaxed) {
            break;
        }
        let (m, routes) = match dut {
            Dut::Kernel => {
                let r = &topo.router;
                ok(r, &["ip", "addr", "add", "10.1.0.1/24", "dev", "r1"])?;
                ok(r, &["ip", "addr", "add", "10.2.0.1/24", "dev", "r2"])?;
                ok(r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
                // The sink drops ICMP, so no ping: its MAC goes into the table as a neighbour.
                let sink_mac = mac_of(&topo.sink_ns, "s0")?
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":");
                ok(
                    r,
                    &[
                        "ip", "neigh", "replace", "10.2.0.2", "lladdr", &sink_mac, "dev", "r2",
                    ],
                )?;
                let m = measure_sizes(&topo, &sink, &lives, gen_core, f, dut.name());
                ok(r, &["sysctl", "-qw", "net.ipv4.ip_forward=0"])?;
                ok(r, &["ip", "addr", "flush", "dev", "r1"])?;
                ok(r, &["ip", "addr", "flush", "dev", "r2"])?;
                (m?, 2)
            }
            Dut::AfPacket | Dut::AfXdp => {
                let backend = if dut == Dut::AfXdp {
                    "af_xdp"
                } else {
                    "af_packet"
                };
                let opts = if dut == Dut::AfXdp { ",copy" } else { "" };
                let text = format!(
                    r#"
[dataplane]
cores = [{router_core}]
idle = "{idle}"
{priority}
[control]
socket = "/tmp/brick-bench-forward-{pid}.sock"
[[port]]
name = "r1"
backend = "{backend}:r1{opts}@{ns}"
addresses = ["10.1.0.1/24"]
[[port]]
name = "r2"
backend = "{backend}:r2{opts}@{ns}"
addresses = ["10.2.0.1/24"]
"#,
                    pid = std::process::id(),
                    ns = topo.router.name(),
                    idle = f.idle,
                    priority = match f.priority {
                        brick_io::Priority::Inherit => String::new(),
                        brick_io::Priority::Nice(n) => format!("nice = {n}"),
                        brick_io::Priority::Realtime(p) => format!("realtime = {p}"),
                    },
                );
                let mut cfg = Config::parse("bench forward", &text)
                    .map_err(|e| Error::Usage(e.to_string()))?;
                cfg.routes = table.clone();
                let node = Node::start(&cfg).map_err(|e| Error::Usage(e.to_string()))?;
                let m = measure_sizes(&topo, &sink, &lives, gen_core, f, dut.name());
                node.stop();
                (m?, table.len() + 2)
            }
            Dut::Testpmd => {
                let sink_mac = mac_of(&topo.sink_ns, "s0")?;
                let pmd = Testpmd::start(&topo.router, gen_core, router_core, sink_mac)?;
                let m = measure_sizes(&topo, &sink, &lives, gen_core, f, dut.name());
                pmd.stop();
                (m?, 0)
            }
        };
        for (size, m) in m {
            let r = m.rfc2544;
            results.push(DutResult {
                dut: dut.name(),
                size,
                offered_mpps: m.offered_mpps,
                forwarded_mpps: m.forwarded_mpps,
                vs_kernel: None,
                routes,
                throughput_mpps: r.as_ref().map(|r| r.throughput_pps / 1e6),
                throughput_vs_kernel: None,
                latency: r.as_ref().and_then(|r| r.latency),
                loss_curve: r.as_ref().map_or(Vec::new(), |r| r.loss_curve.clone()),
                back_to_back: r.and_then(|r| r.back_to_back),
            });
        }
    }
    // Each router against the kernel at the same frame size.
    let kernel: Vec<DutResult> = (results.iter())
        .filter(|r| r.dut == Dut::Kernel.name())
        .cloned()
        .collect();
    for r in &mut results {
        let Some(k) = kernel.iter().find(|k| k.size == r.size) else {
            continue;
        };
        r.vs_kernel = Some(r.forwarded_mpps / k.forwarded_mpps.max(1e-9));
        // A kernel that lost frames at every rate tried has no throughput to compare with.
        if let Some(kt) = k.throughput_mpps.filter(|&t| t > 0.0) {
            r.throughput_vs_kernel = r.throughput_mpps.map(|t| t / kt);
        }
    }
    let placement = format!(
        "generator on core {}, router on core {router_core} (Brick idle policy {}, {}), r1's NAPI {}, the sink ({}) on the core that transmits into r2",
        gen_core.map_or("-".into(), |c| c.to_string()),
        f.idle,
        f.priority,
        match f.napi {
            Napi::Router => format!("threaded and pinned to core {router_core}"),
            Napi::Generator => "on the generator's core (veth default)".into(),
        },
        match f.sink {
            Sink::Tc => "tc ingress program on s0, run from the backlog",
            Sink::Xdp => "XDP program on s0, s0's NAPI",
        }
    );
    Ok(ForwardReport {
        bench: "forward",
        sizes: f.sizes.clone(),
        seconds: f.seconds,
        generator: "xdp live frames (BPF_PROG_TEST_RUN), 64 flows".into(),
        placement,
        results,
        stopped: f.stop.load(Ordering::Relaxed),
    })
}

/// DPDK's testpmd forwarding r1 to r2 through its AF_XDP driver, in `mac` mode: each frame
/// leaves with r2's address as source and the sink's as destination, as a router's would.
struct Testpmd {
    child: std::process::Child,
}

impl Testpmd {
    /// Starts it in namespace `ns`, forwarding on `core` (its main thread, which only waits,
    /// on `main`), and waits until it forwards.
    fn start(ns: &Netns, main: Option<usize>, core: usize, sink: [u8; 6]) -> Result<Self, Error> {
        use std::io::BufRead;
        let main = main.filter(|&m| m != core).unwrap_or(core);
        let peer = sink.map(|b| format!("{b:02x}")).join(":");
        // Line-buffered: into a pipe its C stdio would hold the line that says it is ready.
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "stdbuf", "-oL", "dpdk-testpmd"])
            .args(["--no-huge", "-m", "1024", "--no-pci"])
            .args([
                "--main-lcore",
                &main.to_string(),
                "-l",
                &format!("{main},{core}"),
            ])
            .args([
                "--vdev",
                "net_af_xdp0,iface=r1",
                "--vdev",
                "net_af_xdp1,iface=r2",
            ])
            .args(["--", "--forward-mode=mac", "--total-num-mbufs=16384"])
            .arg(format!("--eth-peer=1,{peer}"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| Error::Usage(format!("ip netns exec ... dpdk-testpmd: {e}")))?;
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Without a terminal it starts forwarding, then waits for a line on stdin.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut said = Vec::new();
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains("Press enter to exit") {
                return Ok(Testpmd { child });
            }
            said.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        let tail = said[said.len().saturating_sub(5)..].join("\n");
        Err(Error::Usage(format!(
            "dpdk-testpmd did not start forwarding within 30 s (installed? apt-get install \
             dpdk-dev librte-net-af-xdp23):\n{tail}"
        )))
    }

    /// Ends it the way it asks (a line on stdin), so that it detaches its XDP programs.
    fn stop(mut self) {
        use std::io::Write;
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.child.wait();
    }
}

/// Static routes via the sink for every prefix of a route file.
fn load_table(path: &Path) -> Result<Vec<StaticRoute>, Error> {
    let file = brick_routing::loader::load::<u32>(path)?;
    Ok(file
        .routes
        .into_iter()
        .map(|(prefix, _)| StaticRoute {
            prefix,
            target: RouteTarget::Via(Ipv4Addr::new(10, 2, 0, 2)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_names_parse() {
        let all = [Dut::Kernel, Dut::AfPacket, Dut::AfXdp, Dut::Testpmd];
        let parsed: Vec<Dut> = ["kernel", "af_packet", "af_xdp", "testpmd"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(parsed, all);
        let err = "dpdk".parse::<Dut>().unwrap_err();
        assert!(err.contains("testpmd"), "{err}");
    }

    #[test]
    fn markdown_section_has_the_command_machine_and_a_row_per_router() {
        let row = |dut, fwd, vs| DutResult {
            dut,
            size: 60,
            offered_mpps: 3.0,
            forwarded_mpps: fwd,
            vs_kernel: vs,
            routes: 2,
            throughput_mpps: None,
            throughput_vs_kernel: None,
            latency: None,
            loss_curve: Vec::new(),
            back_to_back: None,
        };
        let r = ForwardReport {
            bench: "forward",
            sizes: vec![60, 1514],
            seconds: 3.0,
            generator: "xdp live frames".into(),
            placement: "generator on core 0".into(),
            results: vec![
                row("kernel", 0.5, Some(1.0)),
                DutResult {
                    throughput_mpps: Some(0.2),
                    throughput_vs_kernel: Some(0.8),
                    latency: Some(Latency {
                        p50_us: 31.0,
                        p99_us: 90.4,
                        max_us: 400.0,
                        ..Latency::default()
                    }),
                    loss_curve: vec![(100.0, 0.5), (90.0, 0.0)],
                    back_to_back: Some(12000.0),
                    ..row("brick af_xdp", 0.25, Some(0.5))
                },
                DutResult {
                    size: 1514,
                    ..row("kernel", 0.08, Some(1.0))
                },
            ],
            stopped: true,
        };
        let md = r.markdown("2026-12-01 22:00 UTC", "brick bench forward", &machine());
        assert!(md.starts_with("### `brick bench forward`, 2026-12-01 22:00 UTC"));
        assert!(md.contains("Command: `brick bench forward`"));
        assert!(md.contains("cores, Linux "), "{md}");
        assert!(md.contains("Frames of 60, 1514 bytes without FCS"), "{md}");
        assert!(
            md.contains("| kernel | 60 | 2 | 3.000 | 0.500 | 1.00x | - | - | - | - |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| brick af_xdp | 60 | 2 | 3.000 | 0.250 | 0.50x | 0.200 | 0.80x | 31/90/400 | 12000 |"
            ),
            "{md}"
        );
        assert!(md.contains("| kernel | 1514 | 2 | 3.000 | 0.080 |"), "{md}");
        assert!(
            md.contains("- brick af_xdp, 60 B: 100 %: 50.000 %, 90 %: 0.000 %\n"),
            "{md}"
        );
        assert!(
            !md.contains("- kernel, "),
            "no curve without RFC 2544: {md}"
        );
        assert!(md.contains(STOPPED) && r.table().contains(STOPPED));
        let path = std::env::temp_dir().join(format!("brick-forward-{}.md", std::process::id()));
        std::fs::write(&path, "# Benchmarks").unwrap();
        r.append_markdown(&path, "brick bench forward", "m")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            text.starts_with("# Benchmarks\n\n### `brick bench forward`, "),
            "{text}"
        );
        let missing = std::env::temp_dir().join("brick-no-such-dir/x.md");
        let e = r
            .append_markdown(&missing, "c", "m")
            .unwrap_err()
            .to_string();
        assert!(e.contains("brick-no-such-dir/x.md"), "{e}");
    }
}
