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
    let (a, b) = common::pair("bkap", 2);
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
    let (a, b) = common::pair("bkab", 1);
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

/// Input: a tx queue that kicks the kernel every 64 frames is given 10. Output: nothing crosses
/// until `flush`, then all 10 do.
#[test]
fn af_packet_batched_kicks_wait_for_flush() {
    if skip_unless_root("af_packet_batched_kicks_wait_for_flush") {
        return;
    }
    let (a, b) = common::pair("bkak", 1);
    let batched = AfPacketConfig {
        tx_kick: 64,
        ..Default::default()
    };
    let (_, mut tx) = a
        .enter(|| af_packet::open("v0", batched))
        .unwrap()
        .unwrap()
        .split();
    let (mut rx, _) = b
        .enter(|| af_packet::open("v1", AfPacketConfig::default()))
        .unwrap()
        .unwrap()
        .split();
    let pool = brick_io::Pool::new(brick_io::PoolConfig::default()).unwrap();
    let mut burst = brick_io::Burst::new(32);
    let mut frame = [0u8; 60];
    for seq in 0..10 {
        brick_io::testframe::build(&mut frame, 0, seq);
        burst.push(pool.alloc_from(&frame).unwrap()).unwrap();
    }
    assert_eq!(tx[0].tx_burst(&mut burst), 10);
    let mut count = |rx: &mut brick_io::Rx, ms: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        let mut n = 0;
        while std::time::Instant::now() < deadline && n < 10 {
            n += rx.rx_burst(&pool, &mut burst);
            burst.clear();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        n
    };
    assert_eq!(count(&mut rx[0], 100), 0, "queued, not kicked");
    tx[0].flush();
    assert_eq!(count(&mut rx[0], 5000), 10, "flush sends them");
}
