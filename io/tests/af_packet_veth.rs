//! AF_PACKET ports on both ends of a veth pair between two network namespaces (needs root; CI
//! runs as root). Input: 200k frames of mixed sizes (60-1514 B) each way, both directions at
//! once, over two fanout queues per port. Output: every frame arrives once and intact, each flow
//! in order on one queue, and the counters of both ends agree.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use brick_io::backend::af_packet::{self, AfPacketConfig};
use brick_io::netns::{Netns, is_root};
use brick_io::poll::{self, IdlePolicy};
use brick_io::{Burst, DropReason, Pool, PoolConfig, PortStats, Rx, Tx, testframe};

const FRAMES: u32 = 200_000;
const FLOWS: u16 = 64;
/// Frames in flight per direction: less than the receive path can hold (the veth backlog of 1000
/// and the rings), so a lost frame is a bug, not an overload.
const WINDOW: u64 = 256;

fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipped {test}: needs root (network namespaces, veth, packet sockets)");
    true
}

fn size_of(seq: u32) -> usize {
    60 + (seq as usize * 7919) % (1514 - 60 + 1)
}

/// Sends FRAMES frames round-robin over FLOWS flows, never more than WINDOW ahead of `received`.
fn send(mut tx: Tx, received: Arc<AtomicU64>) {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut burst = Burst::new(32);
    let mut buf = vec![0u8; 1514];
    let mut sent = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..FRAMES {
        let (flow, seq) = ((i % u32::from(FLOWS)) as u16, i / u32::from(FLOWS));
        let f = &mut buf[..size_of(i)];
        testframe::build(f, flow, seq);
        burst.push(pool.alloc_from(f).unwrap()).unwrap();
        if burst.room() == 0 || i + 1 == FRAMES {
            while sent.saturating_sub(received.load(Ordering::Relaxed)) > WINDOW {
                assert!(Instant::now() < deadline, "peer stopped receiving");
                std::thread::yield_now();
            }
            let n = burst.len() as u64;
            assert_eq!(tx.tx_burst(&mut burst) as u64, n, "{}", tx.stats());
            sent += n;
        }
    }
}

/// Receives until `stop`; returns, per flow, the sequence numbers in arrival order.
fn receive(mut rx: Rx, received: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> HashMap<u16, Vec<u32>> {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut flows: HashMap<u16, Vec<u32>> = HashMap::new();
    let policy = IdlePolicy::Interrupt(Duration::from_millis(2));
    poll::run(
        std::slice::from_mut(&mut rx),
        &pool,
        32,
        policy,
        &stop,
        |_, burst| {
            for p in burst.drain() {
                let (flow, seq) = testframe::check(p.data()).expect("frame arrived intact");
                let want = (u32::from(flow) + seq * u32::from(FLOWS)) as usize;
                assert_eq!(
                    p.len(),
                    size_of(want as u32),
                    "length of flow {flow} seq {seq}"
                );
                flows.entry(flow).or_default().push(seq);
                received.fetch_add(1, Ordering::Relaxed);
            }
        },
    );
    flows
}

fn check_side(name: &str, queues: Vec<HashMap<u16, Vec<u32>>>) {
    let mut owner = HashMap::new();
    let mut total = 0;
    for (q, flows) in queues.into_iter().enumerate() {
        for (flow, seqs) in flows {
            assert!(
                owner.insert(flow, q).is_none(),
                "{name}: flow {flow} seen on two queues"
            );
            let want: Vec<u32> = (0..seqs.len() as u32).collect();
            assert_eq!(
                seqs, want,
                "{name}: flow {flow} lost, duplicated or reordered frames"
            );
            total += seqs.len();
        }
    }
    assert_eq!(total, FRAMES as usize, "{name}: frames received");
    assert_eq!(owner.len(), FLOWS as usize);
}

fn check_counters(from: &PortStats, to: &PortStats) {
    let (t, r) = (from.total(), to.total());
    assert_eq!(t.tx_packets, u64::from(FRAMES), "{}: {t}", from.name());
    assert_eq!(r.rx_packets, u64::from(FRAMES), "{}: {r}", to.name());
    assert_eq!(t.tx_bytes, r.rx_bytes);
    let want_bytes: u64 = (0..FRAMES).map(|i| size_of(i) as u64).sum();
    assert_eq!(r.rx_bytes, want_bytes);
    assert_eq!((t.total_drops(), r.total_drops()), (0, 0), "{t} / {r}");
}

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
    let (sa, sb) = (pa.stats(), pb.stats());
    let (rxa, mut txa) = pa.split();
    let (rxb, mut txb) = pb.split();

    let stop = Arc::new(AtomicBool::new(false));
    let got_at_a = Arc::new(AtomicU64::new(0));
    let got_at_b = Arc::new(AtomicU64::new(0));
    let spawn_rx = |rxs: Vec<Rx>, counter: &Arc<AtomicU64>| {
        rxs.into_iter()
            .map(|q| {
                let (c, s) = (Arc::clone(counter), Arc::clone(&stop));
                std::thread::spawn(move || receive(q, c, s))
            })
            .collect::<Vec<_>>()
    };
    let recv_a = spawn_rx(rxa, &got_at_a);
    let recv_b = spawn_rx(rxb, &got_at_b);
    let (ta, tb) = (txa.remove(0), txb.remove(0));
    let (ga, gb) = (Arc::clone(&got_at_b), Arc::clone(&got_at_a));
    let send_ab = std::thread::spawn(move || send(ta, ga));
    let send_ba = std::thread::spawn(move || send(tb, gb));
    send_ab.join().unwrap();
    send_ba.join().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while got_at_a.load(Ordering::Relaxed) < u64::from(FRAMES)
        || got_at_b.load(Ordering::Relaxed) < u64::from(FRAMES)
    {
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Anything still in flight would show up as a count above FRAMES below.
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let at_a: Vec<_> = recv_a.into_iter().map(|t| t.join().unwrap()).collect();
    let at_b: Vec<_> = recv_b.into_iter().map(|t| t.join().unwrap()).collect();
    check_side("b (sent by a)", at_b);
    check_side("a (sent by b)", at_a);
    check_counters(&sa, &sb);
    check_counters(&sb, &sa);
    eprintln!("a: {}\nb: {}", sa.total(), sb.total());
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
    let (sa, sb) = (pa.stats(), pb.stats());
    let (_, mut tx) = pa.split();
    let (mut rx, _) = pb.split();
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut burst = Burst::new(8);
    let mut good = vec![0u8; 1514];
    testframe::build(&mut good, 1, 1);
    let mut big = vec![0u8; 1515];
    testframe::build(&mut big, 1, 2);
    burst.push(pool.alloc().unwrap()).unwrap();
    burst.push(pool.alloc_from(&big).unwrap()).unwrap();
    burst.push(pool.alloc_from(&good).unwrap()).unwrap();
    assert_eq!(tx[0].tx_burst(&mut burst), 1);
    let s = sa.total();
    assert_eq!(s.drops(DropReason::Empty), 1, "{s}");
    assert_eq!(s.drops(DropReason::Oversize), 1, "{s}");
    assert_eq!((s.tx_packets, s.tx_bytes), (1, 1514));

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.is_empty() && Instant::now() < deadline {
        rx[0].rx_burst(&pool, &mut burst);
        got.extend(burst.drain().map(|p| p.data().to_vec()));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(got, vec![good], "only the good frame crosses");
    assert_eq!(sb.total().rx_packets, 1);
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
