//! Shared by the root tests that push test frames both ways between two ports: senders with a
//! window, receivers that record per-flow order, and the checks of content, order and counters.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use brick_io::netns::is_root;
use brick_io::poll::{self, IdlePolicy};
use brick_io::{Burst, DropReason, Pool, PoolConfig, Port, PortStats, Rx, Tx, testframe};

pub const FLOWS: u16 = 64;
/// Frames in flight per direction: less than the receive path can hold (the veth backlog of 1000
/// and the rings), so a lost frame is a bug, not an overload.
pub const WINDOW: u64 = 256;

pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipped {test}: needs root (network namespaces, veth, packet and XDP sockets)");
    true
}

/// The length of frame number `i`: 60..=1514, spread over the whole range.
pub fn size_of(i: u32) -> usize {
    60 + (i as usize * 7919) % (1514 - 60 + 1)
}

/// Whether `frame` is one of ours (IPv4/UDP to port 9), whatever its content.
pub fn is_test_frame(frame: &[u8]) -> bool {
    frame.len() >= testframe::MIN_FRAME
        && frame[12..14] == [0x08, 0x00]
        && frame[23] == 17
        && frame[36..38] == 9u16.to_be_bytes()
}

/// One direction's traffic: frames `0..frames`, frame `i` on flow `i % FLOWS`.
#[derive(Clone, Copy, Debug)]
pub struct Traffic {
    pub frames: u32,
    /// Ignore frames that are not test frames (ARP, ICMP of a host on the same link).
    pub others_allowed: bool,
}

/// Sends the frames whose flow falls in `lane` of `lanes` (flow % lanes == lane), never more than
/// WINDOW ahead of `received` (counted over all lanes).
pub fn send(mut tx: Tx, t: Traffic, lane: u32, lanes: u32, sent: &AtomicU64, received: &AtomicU64) {
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut burst = Burst::new(32);
    let mut buf = vec![0u8; 1514];
    let deadline = Instant::now() + Duration::from_secs(120);
    let mine: Vec<u32> = (0..t.frames)
        .filter(|i| (i % u32::from(FLOWS)) % lanes == lane)
        .collect();
    for (k, &i) in mine.iter().enumerate() {
        let (flow, seq) = ((i % u32::from(FLOWS)) as u16, i / u32::from(FLOWS));
        let f = &mut buf[..size_of(i)];
        testframe::build(f, flow, seq);
        burst.push(pool.alloc_from(f).unwrap()).unwrap();
        if burst.room() == 0 || k + 1 == mine.len() {
            while sent
                .load(Ordering::Relaxed)
                .saturating_sub(received.load(Ordering::Relaxed))
                > WINDOW
            {
                assert!(Instant::now() < deadline, "peer stopped receiving");
                std::thread::yield_now();
            }
            let n = burst.len() as u64;
            sent.fetch_add(n, Ordering::Relaxed);
            assert_eq!(tx.tx_burst(&mut burst) as u64, n, "{}", tx.stats());
        }
    }
    tx.flush();
}

/// Receives until `stop`; returns, per flow, the sequence numbers in arrival order.
pub fn receive(
    mut rx: Rx,
    t: Traffic,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> HashMap<u16, Vec<u32>> {
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
                if t.others_allowed && !is_test_frame(p.data()) {
                    continue;
                }
                let (flow, seq) = testframe::check(p.data()).expect("frame arrived intact");
                let want = u32::from(flow) + seq * u32::from(FLOWS);
                assert_eq!(p.len(), size_of(want), "length of flow {flow} seq {seq}");
                flows.entry(flow).or_default().push(seq);
                received.fetch_add(1, Ordering::Relaxed);
            }
        },
    );
    flows
}

/// One receiving side: frames per rx queue, and the rx queue each flow arrived on.
#[derive(Debug)]
pub struct Side {
    pub per_queue: Vec<usize>,
    pub owner: HashMap<u16, usize>,
}

/// Checks one receiving side: every frame once, in order per flow, each flow on one queue.
pub fn check_side(name: &str, t: Traffic, queues: Vec<HashMap<u16, Vec<u32>>>) -> Side {
    let mut owner = HashMap::new();
    let mut total = 0;
    let mut per_queue = Vec::new();
    for (q, flows) in queues.into_iter().enumerate() {
        let mut n = 0;
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
            n += seqs.len();
        }
        per_queue.push(n);
        total += n;
    }
    assert_eq!(total, t.frames as usize, "{name}: frames received");
    assert_eq!(owner.len(), FLOWS as usize);
    Side { per_queue, owner }
}

/// Checks that what `from` sent is what `to` received, with no drops on either.
pub fn check_counters(from: &PortStats, to: &PortStats, t: Traffic) {
    let (s, r) = (from.total(), to.total());
    assert_eq!(s.tx_packets, u64::from(t.frames), "{}: {s}", from.name());
    let want_bytes: u64 = (0..t.frames).map(|i| size_of(i) as u64).sum();
    assert_eq!(s.tx_bytes, want_bytes);
    if !t.others_allowed {
        assert_eq!(r.rx_packets, u64::from(t.frames), "{}: {r}", to.name());
        assert_eq!(r.rx_bytes, want_bytes);
    }
    assert_eq!((s.total_drops(), r.total_drops()), (0, 0), "{s} / {r}");
}

/// What each side's queues received.
#[derive(Debug)]
pub struct BothWays {
    pub at_a: Side,
    pub at_b: Side,
}

/// Sends `ta` from port `a` to port `b` and `tb` the other way at once, every tx queue a sender
/// thread, every rx queue a receiver thread, and checks both sides.
pub fn both_ways(a: Port, b: Port, ta: Traffic, tb: Traffic) -> BothWays {
    let (sa, sb) = (a.stats(), b.stats());
    let (rxa, txa) = a.split();
    let (rxb, txb) = b.split();
    let stop = Arc::new(AtomicBool::new(false));
    let got_at_a = Arc::new(AtomicU64::new(0));
    let got_at_b = Arc::new(AtomicU64::new(0));
    let spawn_rx = |rxs: Vec<Rx>, t: Traffic, counter: &Arc<AtomicU64>| {
        rxs.into_iter()
            .map(|q| {
                let (c, s) = (Arc::clone(counter), Arc::clone(&stop));
                std::thread::spawn(move || receive(q, t, c, s))
            })
            .collect::<Vec<_>>()
    };
    let recv_a = spawn_rx(rxa, tb, &got_at_a);
    let recv_b = spawn_rx(rxb, ta, &got_at_b);
    let spawn_tx = |txs: Vec<Tx>, t: Traffic, received: &Arc<AtomicU64>| {
        let lanes = txs.len() as u32;
        let sent = Arc::new(AtomicU64::new(0));
        txs.into_iter()
            .enumerate()
            .map(|(lane, q)| {
                let (s, r) = (Arc::clone(&sent), Arc::clone(received));
                std::thread::spawn(move || send(q, t, lane as u32, lanes, &s, &r))
            })
            .collect::<Vec<_>>()
    };
    let senders: Vec<_> = spawn_tx(txa, ta, &got_at_b)
        .into_iter()
        .chain(spawn_tx(txb, tb, &got_at_a))
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while (got_at_a.load(Ordering::Relaxed) < u64::from(tb.frames)
        || got_at_b.load(Ordering::Relaxed) < u64::from(ta.frames))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Anything still in flight would show up as a count above `frames` below.
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let at_a: Vec<_> = recv_a.into_iter().map(|t| t.join().unwrap()).collect();
    let at_b: Vec<_> = recv_b.into_iter().map(|t| t.join().unwrap()).collect();
    let r = BothWays {
        at_b: check_side("b (sent by a)", ta, at_b),
        at_a: check_side("a (sent by b)", tb, at_a),
    };
    check_counters(&sa, &sb, ta);
    check_counters(&sb, &sa, tb);
    eprintln!("a: {}\nb: {}", sa.total(), sb.total());
    r
}

/// Sends an empty frame, one above the MTU and a good one from `pa` to `pb`: only the good one
/// crosses, and the other two are counted by reason.
pub fn bad_frames_on_tx(pa: Port, pb: Port) {
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

/// Two namespaces named after `tag` and the pid, joined by a veth pair `v0` (in the first) and
/// `v1` (in the second) with `queues` queues; both are deleted when dropped.
pub fn pair(tag: &str, queues: usize) -> (brick_io::netns::Netns, brick_io::netns::Netns) {
    let tag = format!("{tag}{}", std::process::id() % 100_000);
    let a = brick_io::netns::Netns::new(&format!("{tag}a")).unwrap();
    let b = brick_io::netns::Netns::new(&format!("{tag}b")).unwrap();
    a.veth("v0", &b, "v1", queues).unwrap();
    (a, b)
}
