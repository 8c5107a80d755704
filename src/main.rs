//! `brick`: the command line of the Brick router cluster. A thin layer: each subcommand's work
//! lives in the crate that owns it.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use brick_bench::rfc2544;
use brick_bench::traffic::{self, Profile, Rate, RunOpts, Source};
use brick_io::backend::PortSpec;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "brick",
    version,
    about = "Brick: a RouteBricks-style software router cluster"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// One router node between two in-process cables, with a generated table of Internet shape
    /// (about 1M prefixes), and traffic through it for a few seconds: forwarding rate, drops by
    /// reason, loss and latency. Needs no root, no NIC and no configuration.
    Demo {
        /// How long to send, in seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Frame size with FCS (64..=1518).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Prefixes in the generated table.
        #[arg(long, default_value_t = 1_000_000)]
        prefixes: usize,
        /// Offered rate, e.g. `500kpps` or `max` (as fast as the generator goes). The generator
        /// and the sink share one core and the router has the other, so past about 1 Mpps on a
        /// 2-core machine the figures measure the generator, not the router.
        #[arg(long, default_value = "1Mpps")]
        rate: String,
    },
    /// Generate traffic from a TOML profile on a tx port and count it per stream on an rx port:
    /// loss, duplicates, reordering, latency. Ctrl-C stops and reports what was measured.
    Gen {
        /// The profile (streams, rate, duration): see `bench/src/traffic/profile.rs` or README.
        #[arg(long, short)]
        profile: PathBuf,
        /// Port to send on, e.g. `af_packet:veth0` or `af_packet:veth0,queues=2@nsname`, or
        /// `xdp-live:veth0[@nsname]`: XDP live frames laid out by the kernel, several Mpps from
        /// one core (root; one fixed-size IPv4/UDP frame per stream, a core per stream).
        #[arg(long)]
        tx: Source,
        /// Port to receive on (omit to only send).
        #[arg(long)]
        rx: Option<PortSpec>,
        /// Override the profile's rate, e.g. `1Mpps`, `10Gbps`.
        #[arg(long)]
        rate: Option<Rate>,
        /// Override the profile's duration, in seconds.
        #[arg(long)]
        seconds: Option<f64>,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a router node from a configuration file until Ctrl-C or SIGTERM. Logs go to stderr
    /// (`RUST_LOG=debug` for more).
    Run {
        /// The node's configuration (TOML; see docs/configuration.md).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and exit: lists every error, each with the file, the line and
    /// the reason.
    Check {
        /// The node's configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Ask a running node over its control socket, like `birdc show ...`.
    Show {
        /// What to show.
        what: ShowWhat,
        /// The node's control socket (`[control] socket` of its configuration).
        #[arg(long, short, default_value = brick_router::config::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// Benchmarks; each prints its figures and, last, one JSON line.
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ShowWhat {
    /// The routing table: best route per prefix, its source and next hops.
    Routes,
    /// The neighbour cache (ARP and ND): address, MAC, port, state.
    Neighbors,
    /// Ports: backend, MAC, MTU, addresses, packet and drop counters.
    Ports,
    /// Data-path verdicts (forwarded, drops and punts by reason) and control-plane counters.
    Counters,
}

#[derive(Args, Debug, Clone)]
struct Cores {
    /// Pin the producer and consumer to these two cores, e.g. `--cores 0,1`
    /// (default: the first two cores, if there are two).
    #[arg(long, value_parser = core_pair)]
    cores: Option<(usize, usize)>,
}

/// Parses `A,B`.
fn core_pair(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("{s:?}: expected two core numbers, e.g. 0,1");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

impl Cores {
    fn pair(&self) -> Option<(usize, usize)> {
        self.cores.or_else(|| {
            let c = brick_io::poll::cores();
            (c.len() >= 2).then(|| (c[0], c[1]))
        })
    }
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per run
enum BenchCmd {
    /// Mem cable throughput, one producer core to one consumer core.
    Mem {
        /// Frame size in bytes without FCS (60..=1518; 60 is a 64-byte frame on the wire).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Packets per burst (1..=64).
        #[arg(long, default_value_t = brick_io::DEFAULT_BURST)]
        burst: usize,
        /// Seconds to measure.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Distinct flows in the traffic.
        #[arg(long, default_value_t = 1024)]
        flows: u16,
        #[command(flatten)]
        cores: Cores,
    },
    /// LPM lookups on a route table, one core, bursts of 32: our Poptrie beside our DIR-24-8,
    /// prefix-trie and ip_network_table. One JSON line per table, ours last.
    Lpm {
        /// Route file, `prefix/len next-hop` per line, gzip accepted.
        #[arg(long)]
        table: std::path::PathBuf,
        /// Address family of the table: v4 or v6.
        #[arg(long, default_value = "v4")]
        family: brick_bench::lpm::Family,
        /// Keys: random (uniform) or inside (inside a random prefix of the table).
        #[arg(long, default_value = "random")]
        keys: brick_bench::lpm::Keys,
        /// Seconds of lookups per table, as built and again after the updates (each timed pass
        /// follows an untimed one that warms the table). The updates are a fixed 1M per table,
        /// three ways (one by one, in announced batches, published), whatever this says.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// The mem cable's SPSC ring beside crossbeam's ArrayQueue, 64 B frames, bursts of 32.
    Ring {
        /// Seconds to measure each queue.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        #[command(flatten)]
        cores: Cores,
    },
    /// RFC 2544: throughput (binary search for zero loss), latency at that rate, the frame loss
    /// curve and back-to-back bursts, per frame size, through the device between `--tx` and
    /// `--rx`. Ctrl-C stops after
    /// the current trial with the results so far.
    Rfc2544 {
        /// Generator port, e.g. `af_packet:veth0@gen`, or `xdp-live:veth0[@gen]`: XDP live
        /// frames laid out by the kernel, several Mpps from one core, so the generator outruns
        /// a software router (root; the test frames must be one IPv4 address each way).
        #[arg(long)]
        tx: Source,
        /// Receiver port.
        #[arg(long)]
        rx: PortSpec,
        /// Frame sizes with FCS.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "64,128,256,512,1024,1280,1518"
        )]
        sizes: Vec<usize>,
        /// Link speed in Gbit/s (the search starts at its line rate).
        #[arg(long, default_value_t = 10.0)]
        link_gbps: f64,
        /// Upper bound of the search when below line rate, e.g. `2Mpps` or `1Gbps`.
        #[arg(long)]
        max_rate: Option<Rate>,
        /// Seconds per trial.
        #[arg(long, default_value_t = 2.0)]
        trial_seconds: f64,
        /// Quiet seconds before each trial.
        #[arg(long, default_value_t = 0.5)]
        settle: f64,
        /// Stop the search when the bracket is this share of the upper bound.
        #[arg(long, default_value_t = 0.005)]
        resolution: f64,
        /// Loss ratio still counted as zero loss (RFC 2544: 0).
        #[arg(long, default_value_t = 0.0)]
        loss_tolerance: f64,
        /// Also measure the frame loss rate curve.
        #[arg(long)]
        loss_curve: bool,
        /// Also search for the back-to-back burst length, this many times (RFC 2544: 50).
        #[arg(long, default_value_t = 0)]
        back_to_back: usize,
        /// Source MAC and IP (range) of the test frames.
        #[arg(long, default_value = "02:00:00:00:00:01")]
        src_mac: String,
        /// Destination MAC of the test frames (the device's port).
        #[arg(long, default_value = "02:00:00:00:00:02")]
        dst_mac: String,
        /// Source addresses, e.g. `198.18.0.1` or `198.18.0.0/24`.
        #[arg(long, default_value = "198.18.0.1")]
        src_ip: String,
        /// Destination addresses.
        #[arg(long, default_value = "198.19.0.1")]
        dst_ip: String,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write a plot of throughput and latency against frame size.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// The router's forwarding pipeline alone on one core: random destinations through classify,
    /// batched lookup and rewrite, with the table of FILE (`prefix/len next-hop`, gzip accepted)
    /// or a generated one of Internet shape.
    Pipeline {
        /// Route table file (default: 1M generated prefixes of Internet shape).
        #[arg(long)]
        table: Option<PathBuf>,
        /// Frame size in bytes, without FCS.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// The traffic generator's rate on one core: into a mem cable, and on a veth (AF_PACKET)
    /// beside trafgen (netsniff-ng) on the same veth (root).
    Gen {
        /// Frame size with FCS.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// The standard forwarding comparison: the Linux kernel and Brick nodes (AF_PACKET, AF_XDP)
    /// forwarding the same XDP live-frame traffic between namespaces, one core each for the
    /// generator and the router, as ratios to the kernel (root). Ctrl-C stops after the current
    /// trial with the results so far, and removes the namespaces.
    Forward {
        /// Frame sizes in bytes without FCS (60..=1514; 60 is a 64-byte frame on the wire),
        /// each measured in turn; RFC 2544's are 60,124,252,508,1020,1276,1514.
        #[arg(long = "size", value_delimiter = ',', default_value = "60")]
        sizes: Vec<usize>,
        /// Seconds to measure each router at each size.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Routers to compare: kernel, af_packet, af_xdp, and testpmd (DPDK's testpmd on its
        /// AF_XDP driver, MAC rewrite only; needs `dpdk-testpmd` from the package dpdk-dev).
        #[arg(long, value_delimiter = ',', default_value = "kernel,af_packet,af_xdp")]
        routers: Vec<brick_bench::forward::Dut>,
        /// Where the router's receive work (veth NAPI) runs: `router` (a thread pinned to the
        /// router's core) or `generator` (veth's default, the sending core).
        #[arg(long, default_value = "router")]
        napi: brick_bench::forward::Napi,
        /// The Brick nodes' idle policy: `busy` spins; `adaptive` (the node's own default)
        /// yields the core when its queues run dry, to r1's NAPI thread with `--napi router`.
        #[arg(long, default_value = "adaptive")]
        idle: brick_io::IdlePolicy,
        /// The Brick nodes' worker nice value (-20..=19): below 0 the worker gets the larger
        /// share of a core it shares with r1's receive work (`--napi router`); -5 is what
        /// docs/configuration.md recommends there.
        #[arg(long, default_value_t = -5, allow_hyphen_values = true)]
        nice: i32,
        /// Run the Brick nodes' worker under SCHED_FIFO at this priority (1..=99) instead of a
        /// nice value: r1's receive work then runs only while the worker sleeps, so pair it with
        /// `--idle interrupt`.
        #[arg(long, conflicts_with = "nice", value_parser = clap::value_parser!(u8).range(1..=99))]
        realtime: Option<u8>,
        /// Where the sink counts: `tc` (tc ingress, frames as they come) or `xdp` (an XDP
        /// program, which makes veth copy frames from socket senders first, on the router's core).
        #[arg(long, default_value = "tc")]
        sink: brick_bench::forward::Sink,
        /// Also append the results, with the date, the command and the machine, as a section
        /// of this Markdown file (e.g. docs/benchmarks.md).
        #[arg(long)]
        docs: Option<PathBuf>,
        /// A route file loaded into Brick as static routes (e.g. a full Internet table).
        #[arg(long)]
        table: Option<PathBuf>,
        /// Also run RFC 2544 against each router, up to the rate the overload run offered:
        /// throughput (the highest rate, paced in the generator's program, forwarded without
        /// loss; 2-second trials, 0.5 % resolution), latency at that rate (every frame, stamped by
        /// the generator and timed by the sink), the frame loss rate curve, and back-to-back.
        #[arg(long)]
        rfc2544: bool,
        /// With --rfc2544: back-to-back searches per router (the longest burst at the overload
        /// rate forwarded without loss; RFC 2544 asks for 50, their mean is reported; 0 skips).
        #[arg(long, default_value_t = 1)]
        back_to_back: usize,
        /// With --rfc2544: the upper bound of the tests when below the generator's unpaced
        /// rate, e.g. `300kpps`: compares latency at one rate.
        #[arg(long)]
        max_rate: Option<Rate>,
        /// Print only the JSON line.
        #[arg(long)]
        json: bool,
    },
    /// AF_PACKET ports on a veth pair beside the kernel's UDP socket path over the same veth
    /// (root: builds two network namespaces and deletes them afterwards).
    Veth {
        /// Frame size in bytes without FCS (64..=1514).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Seconds to measure each path.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// AF_XDP ports beside AF_PACKET ports on one veth pair, rx and tx, as a ratio
    /// (root: builds two network namespaces and deletes them afterwards).
    Xdp {
        /// Frame size in bytes without FCS (64..=1514).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Seconds to measure each backend in each round.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Rounds, each measuring AF_PACKET then AF_XDP.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Attach generic (skb) XDP instead of the driver's native XDP.
        #[arg(long)]
        generic: bool,
        /// Move the receiving veth's work off the sender's core: GRO on (so both backends get
        /// NAPI) and threaded NAPI (needs ethtool).
        #[arg(long)]
        offload_rx: bool,
        /// AF_XDP ring entries (and UMEM frames) per direction, a power of two.
        #[arg(long, default_value_t = brick_io::backend::af_xdp::AfXdpConfig::default().ring_size)]
        ring_size: u32,
        /// How the receivers idle: busy (poll-mode, as DPDK's testpmd), adaptive, interrupt.
        #[arg(long, default_value = "busy")]
        idle: brick_io::IdlePolicy,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Demo {
            seconds,
            size,
            prefixes,
            rate,
        } => match rate.as_str() {
            "max" => demo(seconds, size, prefixes, None),
            r => match r.parse::<Rate>() {
                Ok(r) => demo(seconds, size, prefixes, Some(r)),
                Err(e) => Err(anyhow::anyhow!("--rate: {e}")),
            },
        },
        Cmd::Gen {
            profile,
            tx,
            rx,
            rate,
            seconds,
            json,
        } => gen_traffic(&profile, &tx, rx.as_ref(), rate, seconds, json),
        Cmd::Run { config } => run(&config),
        Cmd::Check { config } => brick_router::Config::load(&config)
            .map(|c| {
                println!(
                    "{}: ok (node {}, {} ports, {} static IPv4 routes, {} static IPv6 routes, \
                     {} static neighbours, {} workers)",
                    config.display(),
                    c.node,
                    c.ports.len(),
                    c.routes.len(),
                    c.routes6.len(),
                    c.neighbors.len(),
                    c.cores.len()
                )
            })
            .map_err(Into::into),
        Cmd::Show { what, socket } => {
            let cmd = match what {
                ShowWhat::Routes => "show routes",
                ShowWhat::Neighbors => "show neighbors",
                ShowWhat::Ports => "show ports",
                ShowWhat::Counters => "show counters",
            };
            brick_router::node::request(&socket, cmd)
                .map(|out| print!("{out}"))
                .map_err(|e| anyhow::anyhow!(e))
        }
        Cmd::Bench(b) => bench(b),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Every error of ours says its cause in its own message; the chain would repeat it.
            eprintln!("brick: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &std::path::Path) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = brick_router::Config::load(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))?;
    let node = brick_router::Node::start(&cfg)?;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tracing::info!("stopping");
    node.stop();
    Ok(())
}

fn demo(seconds: f64, size: usize, prefixes: usize, rate: Option<Rate>) -> Result<()> {
    if !(64..=1518).contains(&size) {
        anyhow::bail!("--size {size}: frames are 64 to 1518 bytes");
    }
    println!(
        "brick demo: a router node between two in-process cables, {prefixes} prefixes of Internet shape, \
         {size} B frames to random destinations for {seconds} s ({})",
        rate.map_or("unpaced".to_string(), |r| r.to_string())
    );
    let demo = brick_bench::demo::Demo {
        prefixes,
        seconds,
        size,
        rate,
        progress: true,
    };
    let r = brick_bench::demo::run(&demo, |w| {
        println!(
            "node running; meanwhile: brick show counters --socket {}{}",
            w.socket.display(),
            w.metrics
                .map_or(String::new(), |m| format!(", curl http://{m}/metrics"))
        );
    })?;
    println!(
        "node: {} static routes, started in {:.0} ms (RIB, FIB and threads); FIB lookup table {:.1} MiB",
        r.prefixes,
        r.start_ms,
        r.table_bytes as f64 / (1 << 20) as f64
    );
    print!("{}", r.traffic.table());
    println!(
        "router: forwarded {:.2} Mpps on one core (what it was offered; its pipeline alone: `brick bench pipeline`)",
        r.forwarded_mpps
    );
    for (why, n) in &r.drops {
        println!("router: dropped {n} ({why})");
    }
    for (what, n) in [
        ("no route", r.no_route),
        ("unresolved next hop", r.unresolved),
        ("tx ring full", r.tx_dropped),
    ] {
        if n > 0 {
            println!("router: dropped {n} ({what})");
        }
    }
    Ok(())
}

/// A flag that Ctrl-C sets; a second Ctrl-C ends the process at once.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if s.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        eprintln!("stopping: finishing the current step (Ctrl-C again to quit now)");
    })?;
    Ok(stop)
}

fn gen_traffic(
    profile: &std::path::Path,
    tx: &Source,
    rx: Option<&PortSpec>,
    rate: Option<Rate>,
    seconds: Option<f64>,
    json: bool,
) -> Result<()> {
    let profile = Profile::load(profile)?;
    let rxq = match rx {
        Some(r) => r.open()?.split().0,
        None => Vec::new(),
    };
    let opts = RunOpts {
        stop: interrupt_flag()?,
        progress: !json,
        rate,
        seconds,
        ..Default::default()
    };
    let report = traffic::generate(&profile, tx, rxq, &opts)?;
    if json {
        brick_bench::print_json(&report);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn bench(b: BenchCmd) -> Result<()> {
    match b {
        BenchCmd::Mem {
            size,
            burst,
            seconds,
            flows,
            cores,
        } => {
            let r = brick_bench::mem::run(&brick_bench::mem::MemBench {
                size,
                burst,
                seconds,
                flows,
                cores: cores.pair(),
                progress: true,
            })?;
            println!(
                "mem cable: {:.2} Mpps, {:.2} Gbit/s, {size} B, burst {burst}",
                r.mpps, r.gbps
            );
            brick_bench::print_json(&r);
        }
        BenchCmd::Lpm {
            table,
            family,
            keys,
            seconds,
        } => {
            let reports = brick_bench::lpm::run(&brick_bench::lpm::LpmBench {
                table,
                family,
                keys,
                seconds,
            })?;
            reports.iter().for_each(brick_bench::print_json);
        }
        BenchCmd::Ring { seconds, cores } => {
            let r = brick_bench::ring::run(seconds, cores.pair())?;
            println!(
                "spsc ring {:.1} Mpps, crossbeam ArrayQueue {:.1} Mpps: {:.2}x",
                r.spsc_mpps, r.crossbeam_mpps, r.ratio
            );
            brick_bench::print_json(&r);
        }
        BenchCmd::Rfc2544 {
            tx,
            rx,
            sizes,
            link_gbps,
            max_rate,
            trial_seconds,
            settle,
            resolution,
            loss_tolerance,
            loss_curve,
            back_to_back,
            src_mac,
            dst_mac,
            src_ip,
            dst_ip,
            json,
            svg,
        } => {
            let parse = |what: &str, v: &str| anyhow::anyhow!("--{what} {v:?}: invalid");
            let src = (
                src_mac.parse().map_err(|_| parse("src-mac", &src_mac))?,
                src_ip
                    .parse()
                    .map_err(|e: String| anyhow::anyhow!("--src-ip: {e}"))?,
            );
            let dst = (
                dst_mac.parse().map_err(|_| parse("dst-mac", &dst_mac))?,
                dst_ip
                    .parse()
                    .map_err(|e: String| anyhow::anyhow!("--dst-ip: {e}"))?,
            );
            let cfg = rfc2544::Config {
                sizes,
                link_bps: link_gbps * 1e9,
                max_rate,
                trial_seconds,
                settle_seconds: settle,
                resolution,
                loss_tolerance,
                loss_curve,
                back_to_back_trials: back_to_back,
            };
            let stop = interrupt_flag()?;
            let opts = RunOpts {
                backend: tx.to_string(),
                ..Default::default()
            };
            let txq = match &tx {
                Source::Port(p) => rfc2544::Sender::Ports(p.open()?.split().1),
                Source::Live(l) => rfc2544::Sender::Live(l.clone()),
            };
            let (rxq, _) = rx.open()?.split();
            let what = format!("the device between {tx} and {rx}");
            let mut dut = rfc2544::PortDut::new(txq, rxq, src, dst, opts, what);
            let report = rfc2544::run(&mut dut, &cfg, &stop, |line| {
                if !json {
                    eprintln!("{line}")
                }
            })?;
            if let Some(path) = svg {
                std::fs::write(&path, report.svg())?;
            }
            if json {
                brick_bench::print_json(&report);
            } else {
                print!("{}", report.table());
            }
        }
        BenchCmd::Pipeline {
            table,
            size,
            seconds,
        } => {
            let r = brick_bench::pipeline::run(table.as_deref(), size, seconds)?;
            println!(
                "pipeline: {:.2} Mpps per core ({} prefixes from {}, {size} B; whole loop with frame building {:.2} Mpps)",
                r.mpps_per_core, r.prefixes, r.table, r.loop_mpps
            );
            brick_bench::print_json(&r);
        }
        BenchCmd::Gen { size, seconds } => {
            let r = brick_bench::genrate::run(size, seconds)?;
            println!(
                "generator {size} B: mem {:.3} Mpps; veth: brick {:.3} Mpps, trafgen {} -> {}",
                r.brick_mem_mpps,
                r.brick_veth_mpps,
                r.trafgen_veth_mpps
                    .map_or("not installed".into(), |t| format!("{t:.3} Mpps")),
                r.ratio.map_or(String::new(), |x| format!("{x:.2}x"))
            );
            let mpps = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3} Mpps"));
            println!(
                "into an XDP drop sink: brick xdp live frames {}, trafgen {}",
                mpps(r.xdp_live_veth_mpps),
                mpps(r.trafgen_xdp_sink_mpps)
            );
            brick_bench::print_json(&r);
        }
        BenchCmd::Forward {
            sizes,
            seconds,
            routers,
            napi,
            idle,
            nice,
            realtime,
            sink,
            docs,
            table,
            rfc2544,
            back_to_back,
            max_rate,
            json,
        } => {
            // Before the run: the load average of the machine as the run found it.
            let machine = brick_bench::forward::machine();
            let r = brick_bench::forward::run(&brick_bench::forward::Forward {
                sizes,
                seconds,
                duts: routers,
                napi,
                table,
                rfc2544,
                back_to_back,
                max_rate,
                idle,
                priority: match realtime {
                    Some(p) => brick_io::Priority::Realtime(p),
                    None => brick_io::Priority::Nice(nice),
                },
                sink,
                stop: interrupt_flag()?,
            })?;
            if !json {
                print!("{}", r.table());
            }
            if let Some(path) = docs {
                let args: Vec<String> = std::env::args().skip(1).collect();
                r.append_markdown(&path, &format!("brick {}", args.join(" ")), &machine)?;
                eprintln!("appended the results to {}", path.display());
            }
            brick_bench::print_json(&r);
        }
        BenchCmd::Veth { size, seconds } => {
            let r = brick_bench::veth::run(size, seconds)?;
            println!(
                "veth {size} B: brick af_packet tx {:.3} rx {:.3} Mpps; kernel udp tx {:.3} rx {:.3} Mpps; \
                 rx ratio {:.2}x, tx ratio {:.2}x",
                r.brick_tx_mpps,
                r.brick_rx_mpps,
                r.kernel_tx_mpps,
                r.kernel_rx_mpps,
                r.rx_ratio,
                r.tx_ratio
            );
            brick_bench::print_json(&r);
        }
        BenchCmd::Xdp {
            size,
            seconds,
            rounds,
            generic,
            offload_rx,
            ring_size,
            idle,
        } => {
            let r = brick_bench::xdp::run(&brick_bench::xdp::XdpBench {
                size,
                seconds,
                rounds,
                generic,
                offload_rx,
                ring_size,
                idle,
            })?;
            println!(
                "veth {size} B ({}, ring {}, receivers {}, sender/receiver cores {:?}): \
                 af_xdp/af_packet rx {:.2}x, tx {:.2}x",
                r.mode, r.ring_size, r.idle, r.cores, r.rx_ratio, r.tx_ratio
            );
            brick_bench::print_json(&r);
        }
    }
    Ok(())
}
