//! AF_XDP ports beside AF_PACKET ports on the same veth pair, in one run. Needs root: it builds
//! two namespaces joined by a veth pair (see [`crate::veth`]) and deletes them afterwards.
//!
//! Each round measures both backends one after the other: a tx port in namespace A sends bursts
//! of 64 B test frames as fast as it can, an rx port in namespace B counts what arrives. The
//! sender runs on the first core, the receiver on the second. The veth's receive work (NAPI when
//! an XDP program is attached, the netif_rx backlog otherwise) runs in softirq on the core that
//! transmitted, i.e. the sender's, unless threaded NAPI is switched on.

use brick_io::backend::af_packet::{self, AfPacketConfig};
use brick_io::backend::af_xdp::{self, AfXdpConfig, XdpAttach};
use brick_io::{Error, IdlePolicy, Port};
use serde::Serialize;

use crate::veth;

/// What to run.
#[derive(Clone, Debug)]
pub struct XdpBench {
    /// Frame size (Ethernet, without FCS).
    pub size: usize,
    /// Seconds per backend per round.
    pub seconds: f64,
    /// Rounds; each measures AF_PACKET then AF_XDP.
    pub rounds: usize,
    /// Force generic (skb) XDP instead of the veth driver's native XDP.
    pub generic: bool,
    /// Give the receiving veth NAPI for both backends (GRO on) and run it in a kernel thread
    /// (`/sys/class/net/v1/threaded`) that the scheduler can move off the sender's core (needs
    /// `ethtool`).
    pub offload_rx: bool,
    /// AF_XDP ring entries (and UMEM frames) per direction.
    pub ring_size: u32,
    /// How the receivers idle (both backends).
    pub idle: IdlePolicy,
}

/// One round's rates, in Mpps.
#[derive(Clone, Debug, Serialize)]
pub struct XdpRound {
    /// AF_XDP: frames the tx port handed to the kernel.
    pub af_xdp_tx_mpps: f64,
    /// AF_XDP: frames the rx port received.
    pub af_xdp_rx_mpps: f64,
    /// AF_PACKET: frames the tx port handed to the kernel.
    pub af_packet_tx_mpps: f64,
    /// AF_PACKET: frames the rx port received.
    pub af_packet_rx_mpps: f64,
}

/// What was measured.
#[derive(Clone, Debug, Serialize)]
pub struct XdpReport {
    /// Always "af_xdp_veth".
    pub bench: &'static str,
    /// Frame size.
    pub size: usize,
    /// Seconds per backend per round.
    pub seconds: f64,
    /// What the AF_XDP ports got, e.g. "af_xdp copy native".
    pub mode: String,
    /// (sender, receiver) cores.
    pub cores: (Option<usize>, Option<usize>),
    /// GRO on and threaded NAPI on the receiving veth.
    pub offload_rx: bool,
    /// AF_XDP ring entries per direction.
    pub ring_size: u32,
    /// How the receivers idled.
    pub idle: String,
    /// Every round.
    pub rounds: Vec<XdpRound>,
    /// Mean AF_XDP rx over mean AF_PACKET rx.
    pub rx_ratio: f64,
    /// Mean AF_XDP tx over mean AF_PACKET tx.
    pub tx_ratio: f64,
}

/// Runs the benchmark.
pub fn run(b: &XdpBench) -> Result<XdpReport, Error> {
    veth::check_size(b.size)?;
    let (na, nb) = veth::pair("bench xdp")?;
    if b.offload_rx {
        // GRO gives the veth a NAPI context for both backends (without it only an attached XDP
        // program does); threaded, that NAPI runs in a kernel thread the scheduler can put on
        // the receiver's core instead of in softirq on the sender's.
        nb.exec(&["ethtool", "-K", "v1", "gro", "on"])?;
        nb.exec(&["sh", "-c", "echo 1 > /sys/class/net/v1/threaded"])?;
    }
    let cfg = AfXdpConfig {
        attach: if b.generic {
            XdpAttach::Generic
        } else {
            XdpAttach::Native
        },
        ring_size: b.ring_size,
        ..Default::default()
    };
    let mode = na
        .enter(|| af_xdp::open("v0", cfg.clone()))??
        .mode()
        .to_string();
    let xdp = |dev: &str| af_xdp::open(dev, cfg.clone());
    let packet =
        |dev: &str| -> Result<Port, Error> { af_packet::open(dev, AfPacketConfig::default()) };
    let mut rounds = Vec::with_capacity(b.rounds);
    for r in 0..b.rounds.max(1) {
        let p = veth::port_path(&na, &nb, b.size, b.seconds, b.idle, &packet)?;
        let x = veth::port_path(&na, &nb, b.size, b.seconds, b.idle, &xdp)?;
        eprintln!(
            "  round {r}: af_xdp tx {:.3} rx {:.3} Mpps, af_packet tx {:.3} rx {:.3} Mpps",
            x.tx, x.rx, p.tx, p.rx
        );
        rounds.push(XdpRound {
            af_xdp_tx_mpps: x.tx,
            af_xdp_rx_mpps: x.rx,
            af_packet_tx_mpps: p.tx,
            af_packet_rx_mpps: p.rx,
        });
    }
    let mean = |f: fn(&XdpRound) -> f64| rounds.iter().map(f).sum::<f64>() / rounds.len() as f64;
    Ok(XdpReport {
        bench: "af_xdp_veth",
        size: b.size,
        seconds: b.seconds,
        mode,
        cores: veth::cores(),
        offload_rx: b.offload_rx,
        ring_size: b.ring_size,
        idle: b.idle.to_string(),
        rx_ratio: mean(|r| r.af_xdp_rx_mpps) / mean(|r| r.af_packet_rx_mpps),
        tx_ratio: mean(|r| r.af_xdp_tx_mpps) / mean(|r| r.af_packet_tx_mpps),
        rounds,
    })
}
