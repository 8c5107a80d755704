//! AF_PACKET ports on both ends of a veth pair between two network namespaces (needs root; CI
//! runs as root). Input: 200k frames of mixed sizes (60-1514 B) each way, both directions at
//! once, over two fanout queues per port. Output: every frame arrives once and intact, each flow
//! in order on one queue, and the counters of both ends agree.

mod common;

use brick_io::backend::af_packet::{self, AfPacketConfig};
use brick_io::netns::Netns;

use common::{Traffic, skip_unless_root};

const FRAMES: u32 = 200_000;

#[test]
fn af_packet_veth_200k_each_way() {
    if skip_unless_root("af_packet_veth_200k_each_way") {
        return;
    }
    let tag = format!("bkap{}", std::process::id() % 100_000);
    let a = Netns::new(&format!("{tag}a")).unwrap();
    let b = Netns::new(&format!("{tag}b")).unwrap();
    a.veth("v0", &b, "v1", 2).unwrap();
    let cfg = AfPacketConfig {
        queues: 2,
        ..Default::default()
    };
    let pa = a
        .enter(|| af_packet::open("v0", cfg))
        .unwrap()
        .unwrap()
        .with_id(0);
    let pb = b
        .enter(|| af_packet::open("v1", cfg))
        .unwrap()
        .unwrap()
        .with_id(1);
    assert_eq!((pa.rx_queues(), pa.tx_queues()), (2, 2));
    let t = Traffic {
        frames: FRAMES,
        others_allowed: false,
    };
    common::both_ways(pa, pb, t, t);
}

#[test]
fn af_packet_counts_bad_frames_on_tx() {
    if skip_unless_root("af_packet_counts_bad_frames_on_tx") {
        return;
    }
    let tag = format!("bkab{}", std::process::id() % 100_000);
    let a = Netns::new(&format!("{tag}a")).unwrap();
    let b = Netns::new(&format!("{tag}b")).unwrap();
    a.veth("v0", &b, "v1", 1).unwrap();
    let pa = a
        .enter(|| af_packet::open("v0", AfPacketConfig::default()))
        .unwrap()
        .unwrap();
    let pb = b
        .enter(|| af_packet::open("v1", AfPacketConfig::default()))
        .unwrap()
        .unwrap();
    common::bad_frames_on_tx(pa, pb);
}

#[test]
fn af_packet_missing_interface_in_namespace_is_named() {
    if skip_unless_root("af_packet_missing_interface_in_namespace_is_named") {
        return;
    }
    let ns = Netns::new(&format!("bkan{}", std::process::id() % 100_000)).unwrap();
    let e = ns
        .enter(|| af_packet::open("eth9", AfPacketConfig::default()))
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("\"eth9\""), "{e}");
}
