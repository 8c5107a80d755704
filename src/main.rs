//! `brick`: the command line of the Brick router cluster. A thin layer: each subcommand's work
//! lives in the crate that owns it.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Result;
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
    /// Push traffic over an in-process mem cable for a few seconds and print the rate.
    /// Needs no root, no NIC and no configuration.
    Demo {
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Frame size in bytes (60..=1518).
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Benchmarks; each prints its figures and, last, one JSON line.
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Args, Debug, Clone)]
struct Cores {
    /// Pin the producer and consumer to these two cores, e.g. `--cores 0,1`
    /// (default: the first two cores, if there are two).
    #[arg(long, value_delimiter = ',', num_args = 2)]
    cores: Option<Vec<usize>>,
}

impl Cores {
    fn pair(&self) -> Option<(usize, usize)> {
        match &self.cores {
            Some(c) => Some((c[0], c[1])),
            None => {
                let c = brick_io::poll::cores();
                (c.len() >= 2).then(|| (c[0], c[1]))
            }
        }
    }
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// Mem cable throughput, one producer core to one consumer core.
    Mem {
        /// Frame size in bytes (60..=1518).
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
    /// The mem cable's SPSC ring beside crossbeam's ArrayQueue, 64 B frames, bursts of 32.
    Ring {
        /// Seconds to measure each queue.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        #[command(flatten)]
        cores: Cores,
    },
    /// AF_PACKET ports on a veth pair beside the kernel's UDP socket path over the same veth
    /// (root: builds two network namespaces and deletes them afterwards).
    Veth {
        /// Frame size in bytes (64..=1514).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Seconds to measure each path.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Demo { seconds, size } => demo(seconds, size),
        Cmd::Bench(b) => bench(b),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brick: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(seconds: f64, size: usize) -> Result<()> {
    let cores = Cores { cores: None }.pair();
    println!(
        "brick demo: {size} B frames over an in-process mem cable for {seconds} s \
         (producer and consumer on cores {cores:?})"
    );
    let r = brick_bench::mem::run(&brick_bench::mem::MemBench {
        size,
        burst: brick_io::DEFAULT_BURST,
        seconds,
        flows: 1024,
        cores,
        progress: true,
    })?;
    println!(
        "received {} frames in {:.2} s: {:.2} Mpps, {:.2} Gbit/s ({} dropped at a full ring)",
        r.rx_packets, r.seconds, r.mpps, r.gbps, r.tx_full
    );
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
        BenchCmd::Ring { seconds, cores } => {
            let r = brick_bench::ring::run(seconds, cores.pair())?;
            println!(
                "spsc ring {:.1} Mpps, crossbeam ArrayQueue {:.1} Mpps: {:.2}x",
                r.spsc_mpps, r.crossbeam_mpps, r.ratio
            );
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
    }
    Ok(())
}
