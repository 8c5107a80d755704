//! AF_XDP ports on veth pairs between network namespaces (needs root; CI runs as root).
//!
//! - `af_xdp_veth_1m_each_way_{one,two}_queue(s)`: Input: 1M frames of mixed sizes (60-1514 B)
//!   each way at once between two AF_XDP ports. Output: every frame arrives once and intact, each
//!   flow in order on one queue, the counters of both ends agree; with two queues, both rx queues
//!   receive (a veth delivers a frame on the rx queue numbered like the peer's tx queue, and an
//!   AF_XDP tx queue transmits on its own queue number).
//! - `af_xdp_mixed_with_af_packet_and_host_ping`: AF_XDP on one end, AF_PACKET on the other, and
//!   the kernel stacks of both namespaces pinging each other over the same veth: the program
//!   passes ARP and ICMP to the host address to the kernel while test frames reach the socket.
//! - `af_xdp_kill_9_leaves_nothing_attached`: a child process opens a port and is killed with
//!   SIGKILL; the program goes with it, and a new port attaches exactly one program.
//! - `af_xdp_replaces_a_legacy_program`, errors, malformed descriptors: see each test.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brick_io::backend::af_packet::{self, AfPacketConfig};
use brick_io::backend::af_xdp::{self, AfXdpConfig, XdpMode};
use brick_io::netns::Netns;
use brick_io::{Burst, DropReason, Error, Pool, PoolConfig, testframe};
use common::{Traffic, skip_unless_root};

const FRAMES: u32 = 1_000_000;

fn pair(tag: &str, queues: usize) -> (Netns, Netns) {
    let tag = format!("{tag}{}", std::process::id() % 100_000);
    let a = Netns::new(&format!("{tag}a")).unwrap();
    let b = Netns::new(&format!("{tag}b")).unwrap();
    a.veth("v0", &b, "v1", queues).unwrap();
    (a, b)
}

/// The XDP programs attached to `dev`, as `ip link show` lists them: (mode word, program id).
fn attached(ns: &Netns, dev: &str) -> Vec<(String, String)> {
    let out = ns.exec(&["ip", "-d", "link", "show", "dev", dev]).unwrap();
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut progs = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if *w == "prog/xdp" && i + 2 < words.len() && words[i + 1] == "id" {
            // `xdp`, `xdpgeneric` or `xdpdrv` stands in the line that opens the attachment.
            let mode = words[..i]
                .iter()
                .rev()
                .find(|w| w.starts_with("xdp"))
                .unwrap_or(&"?");
            progs.push((mode.to_string(), words[i + 2].to_string()));
        }
    }
    progs
}

fn veth_both_ways(tag: &str, queues: usize) {
    let (a, b) = pair(tag, queues);
    let cfg = AfXdpConfig {
        queues,
        ..Default::default()
    };
    let pa = a.enter(|| af_xdp::open("v0", cfg.clone())).unwrap().unwrap();
    let pb = b.enter(|| af_xdp::open("v1", cfg.clone())).unwrap().unwrap();
    eprintln!("v0: {} / v1: {}", pa.mode(), pb.mode());
    assert!(format!("{pa:?}").contains(pa.mode()), "mode in Debug");
    let mode = XdpMode::parse(pa.mode()).expect("an af_xdp mode");
    // veth runs XDP in its driver, without zero-copy.
    assert_eq!(
        mode,
        XdpMode {
            zero_copy: false,
            native: true
        }
    );
    assert_eq!(attached(&a, "v0").len(), 1, "one program on v0");
    let t = Traffic {
        frames: FRAMES,
        others_allowed: false,
    };
    let start = Instant::now();
    let r = common::both_ways(pa, pb, t, t);
    eprintln!(
        "{queues} queue(s): per rx queue at a {:?}, at b {:?}, {:.1} s",
        r.at_a,
        r.at_b,
        start.elapsed().as_secs_f64()
    );
    assert!(
        r.at_a.iter().chain(&r.at_b).all(|&n| n > 0),
        "every rx queue receives"
    );
    assert!(attached(&a, "v0").is_empty(), "the program left with the port");
    assert!(attached(&b, "v1").is_empty(), "the program left with the port");
}

#[test]
fn af_xdp_veth_1m_each_way_one_queue() {
    if skip_unless_root("af_xdp_veth_1m_each_way_one_queue") {
        return;
    }
    veth_both_ways("bkx1", 1);
}

#[test]
fn af_xdp_veth_1m_each_way_two_queues() {
    if skip_unless_root("af_xdp_veth_1m_each_way_two_queues") {
        return;
    }
    veth_both_ways("bkx2", 2);
}
