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
//! - `af_xdp_queue_without_a_socket_passes_to_the_kernel`: the redirect's fallback.
//! - errors (no privileges, UMEM over the memlock limit, missing queue), bad frames on tx: see
//!   each test. The legacy-program replacement and malformed ring descriptors are unit tests in
//!   `io/src/backend/af_xdp/mod.rs` (they reach inside the backend).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brick_io::backend::af_packet::{self, AfPacketConfig};
use brick_io::backend::af_xdp::{self, AfXdpConfig, XdpMode};
use brick_io::netns::Netns;
use brick_io::{Burst, DropReason, Error, Pool, PoolConfig};
use common::{Traffic, pair, skip_unless_root};

const FRAMES: u32 = 1_000_000;

/// How many XDP programs `ip link` shows on `dev` (any mode, link or legacy).
fn progs(ns: &Netns, dev: &str) -> usize {
    let out = ns.exec(&["ip", "-d", "link", "show", "dev", dev]).unwrap();
    out.matches("prog/xdp id").count()
}

fn veth_both_ways(tag: &str, queues: usize) {
    let (a, b) = pair(tag, queues);
    let cfg = AfXdpConfig {
        queues,
        ..Default::default()
    };
    let pa = a
        .enter(|| af_xdp::open("v0", cfg.clone()))
        .unwrap()
        .unwrap();
    let pb = b
        .enter(|| af_xdp::open("v1", cfg.clone()))
        .unwrap()
        .unwrap();
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
    assert_eq!(progs(&a, "v0"), 1, "one program on v0");
    let t = Traffic {
        frames: FRAMES,
        others_allowed: false,
    };
    let start = Instant::now();
    let r = common::both_ways(pa, pb, t, t);
    eprintln!(
        "{queues} queue(s): per rx queue at a {:?}, at b {:?}, {:.1} s",
        r.at_a.per_queue,
        r.at_b.per_queue,
        start.elapsed().as_secs_f64()
    );
    // A sender per tx queue q sends the flows f with f % queues == q, and veth delivers what tx
    // queue q sent on the peer's rx queue q: so every rx queue receives, and flow f on f % queues.
    for side in [&r.at_a, &r.at_b] {
        assert!(
            side.per_queue.iter().all(|&n| n > 0),
            "every rx queue receives"
        );
        for (&flow, &q) in &side.owner {
            assert_eq!(q, usize::from(flow) % queues, "rx queue of flow {flow}");
        }
    }
    assert_eq!(progs(&a, "v0"), 0, "the program left with the port");
    assert_eq!(progs(&b, "v1"), 0, "the program left with the port");
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

/// Input: AF_XDP on v0 (whose kernel side also owns 10.99.0.1), AF_PACKET on v1 (kernel side
/// 10.99.0.2); 200k test frames each way while namespace b pings 10.99.0.1. Output: the XDP port
/// receives exactly the test frames (ARP and the ICMP to the host address go to the kernel), the
/// pings all come back; then, with no host address given, the ICMP goes to the socket instead and
/// the ping fails: the steering rule is what keeps the host reachable.
#[test]
fn af_xdp_mixed_with_af_packet_and_host_ping() {
    if skip_unless_root("af_xdp_mixed_with_af_packet_and_host_ping") {
        return;
    }
    let (a, b) = pair("bkxm", 1);
    a.exec(&["ip", "addr", "add", "10.99.0.1/24", "dev", "v0"])
        .unwrap();
    b.exec(&["ip", "addr", "add", "10.99.0.2/24", "dev", "v1"])
        .unwrap();
    let host: std::net::Ipv4Addr = "10.99.0.1".parse().unwrap();
    let cfg = AfXdpConfig {
        host_ipv4: vec![host],
        ..Default::default()
    };
    let pa = a.enter(|| af_xdp::open("v0", cfg)).unwrap().unwrap();
    let pb = b
        .enter(|| af_packet::open("v1", AfPacketConfig::default()))
        .unwrap()
        .unwrap();
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            b.name(),
            "ping",
            "-n",
            "-q",
            "-c",
            "30",
            "-i",
            "0.05",
        ])
        .args(["-W", "2", "10.99.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let to_b = Traffic {
        frames: 200_000,
        // The AF_PACKET port also sees the host's ARP and echo replies.
        others_allowed: true,
    };
    let to_a = Traffic {
        frames: 200_000,
        others_allowed: false,
    };
    common::both_ways(pa, pb, to_b, to_a);
    let out = ping.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(
        out.status.success() && text.contains("30 received"),
        "ping of the host through the XDP port: {text}"
    );

    // Without the host address, the echo requests are ours: the host no longer answers.
    let pa = a
        .enter(|| af_xdp::open("v0", AfXdpConfig::default()))
        .unwrap()
        .unwrap();
    let sa = pa.stats();
    let (mut rx, _tx) = pa.split();
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let ok = b
        .exec(&[
            "ping",
            "-n",
            "-q",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            "10.99.0.1",
        ])
        .is_ok();
    assert!(
        !ok,
        "the host answered although its ICMP went to the socket"
    );
    let mut burst = Burst::new(32);
    let mut icmp = 0;
    while rx[0].rx_burst(&pool, &mut burst) != 0 {
        icmp += burst.drain().filter(|p| p.data()[23] == 1).count();
    }
    assert_eq!(
        icmp,
        2,
        "both echo requests reached the socket: {}",
        sa.total()
    );
}

/// Input: v1 has two rx queues but its AF_XDP port binds only queue 0; v0 sends 100 frames of flow
/// 0 on tx queue 0 and 100 of flow 1 on tx queue 1; an AF_PACKET socket on v1 watches what the
/// kernel gets. Output: flow 0 reaches the XDP socket and not the kernel, flow 1 (rx queue 1, no
/// socket) passes to the kernel and not the XDP socket.
#[test]
fn af_xdp_queue_without_a_socket_passes_to_the_kernel() {
    if skip_unless_root("af_xdp_queue_without_a_socket_passes_to_the_kernel") {
        return;
    }
    let (a, b) = pair("bkxp", 2);
    let two = AfXdpConfig {
        queues: 2,
        ..Default::default()
    };
    let tx_port = a.enter(|| af_xdp::open("v0", two)).unwrap().unwrap();
    let xdp = b
        .enter(|| af_xdp::open("v1", AfXdpConfig::default()))
        .unwrap()
        .unwrap();
    let kernel = b
        .enter(|| af_packet::open("v1", AfPacketConfig::default()))
        .unwrap()
        .unwrap();
    let (_, mut tx) = tx_port.split();
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut burst = Burst::new(32);
    let mut frame = [0u8; 64];
    for (q, tx) in tx.iter_mut().enumerate() {
        for seq in 0..100 {
            brick_io::testframe::build(&mut frame, q as u16, seq);
            burst.push(pool.alloc_from(&frame).unwrap()).unwrap();
            if burst.room() == 0 || seq == 99 {
                tx.tx_burst(&mut burst);
            }
        }
    }
    let mut flows_of = |port: brick_io::Port| {
        let (mut rx, _) = port.split();
        let mut n = [0usize; 2];
        let deadline = Instant::now() + Duration::from_secs(5);
        while n[0] + n[1] < 100 && Instant::now() < deadline {
            rx[0].rx_burst(&pool, &mut burst);
            for p in burst.drain() {
                if let Some((flow, _)) = brick_io::testframe::check(p.data()) {
                    n[usize::from(flow)] += 1;
                }
            }
        }
        n
    };
    assert_eq!(flows_of(xdp), [100, 0], "the XDP socket of rx queue 0");
    assert_eq!(flows_of(kernel), [0, 100], "the kernel, for rx queue 1");
}

/// Input: 256 frames sent to a port of 64-entry rings that nobody reads meanwhile. Output: 64
/// received, the rest (up to 192: veth itself may drop a few first) counted as kernel drops once
/// the queue looks (before blocking).
#[test]
fn af_xdp_counts_what_the_kernel_dropped() {
    if skip_unless_root("af_xdp_counts_what_the_kernel_dropped") {
        return;
    }
    let (a, b) = pair("bkxo", 1);
    let tx_port = a
        .enter(|| af_xdp::open("v0", AfXdpConfig::default()))
        .unwrap()
        .unwrap();
    let small = AfXdpConfig {
        ring_size: 64,
        ..Default::default()
    };
    let rx_port = b.enter(|| af_xdp::open("v1", small)).unwrap().unwrap();
    let stats = rx_port.stats();
    let (_, mut tx) = tx_port.split();
    let (mut rx, _) = rx_port.split();
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut burst = Burst::new(32);
    let mut frame = [0u8; 64];
    for seq in 0..256 {
        brick_io::testframe::build(&mut frame, 0, seq);
        burst.push(pool.alloc_from(&frame).unwrap()).unwrap();
        if burst.room() == 0 {
            assert_eq!(tx[0].tx_burst(&mut burst), 32);
        }
    }
    tx[0].flush();
    // Read until the counts stop moving (a loaded machine delivers late), then once more with the
    // pre-block look that reads the kernel's drop counter.
    let (mut got, mut quiet) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while quiet < 20 && Instant::now() < deadline {
        let n = rx[0].rx_burst(&pool, &mut burst);
        burst.clear();
        got += n;
        quiet = if n == 0 { quiet + 1 } else { 0 };
        std::thread::sleep(Duration::from_millis(10));
    }
    rx[0].arm();
    let s = stats.total();
    assert_eq!(got, 64, "the 64-entry ring fills once: {s}");
    // veth's own 256-entry ring may drop a few before XDP sees them; the rest must be counted.
    let drops = s.drops(DropReason::KernelDrop);
    assert!((150..=192).contains(&drops), "kernel drops counted: {s}");
}

/// A child process that holds a port (see `af_xdp_kill_9_leaves_nothing_attached`).
#[test]
#[ignore = "helper: run in a child process by af_xdp_kill_9_leaves_nothing_attached"]
fn af_xdp_child_holds_a_port() {
    let Ok(ifname) = std::env::var("BRICK_XDP_CHILD_IF") else {
        return;
    };
    match af_xdp::open(&ifname, AfXdpConfig::default()) {
        Ok(port) => {
            println!("ready {}", port.mode());
            std::thread::sleep(Duration::from_secs(60));
        }
        Err(e) => println!("error {e}"),
    }
}

/// Runs `af_xdp_child_holds_a_port` with `prefix` (e.g. `ip netns exec NS`) and returns it with
/// its first line of its own (`ready ...` or `error ...`).
/// Kills the child when dropped, so a failing assertion does not leave it running.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn child(prefix: &[&str], ifname: &str) -> (Reap, String) {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(prefix[0])
        .args(&prefix[1..])
        .arg(exe)
        .args([
            "--ignored",
            "--exact",
            "af_xdp_child_holds_a_port",
            "--nocapture",
        ])
        .env("BRICK_XDP_CHILD_IF", ifname)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    let line = lines
        .find_map(|l| {
            let l = l.ok()?;
            (l.starts_with("ready") || l.starts_with("error")).then_some(l)
        })
        .unwrap_or_default();
    (Reap(c), line)
}

/// Input: a child process opens an AF_XDP port on v0 and is killed with SIGKILL. Output: its
/// program is gone with it; a second start works and attaches exactly one program.
#[test]
fn af_xdp_kill_9_leaves_nothing_attached() {
    if skip_unless_root("af_xdp_kill_9_leaves_nothing_attached") {
        return;
    }
    let (a, _b) = pair("bkxk", 1);
    let (mut c, line) = child(&["ip", "netns", "exec", a.name()], "v0");
    assert_eq!(line, "ready af_xdp copy native");
    assert_eq!(progs(&a, "v0"), 1);
    c.0.kill().unwrap(); // SIGKILL
    c.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while progs(&a, "v0") != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(progs(&a, "v0"), 0, "the program died with the process");

    let (_child, line) = child(&["ip", "netns", "exec", a.name()], "v0");
    assert_eq!(line, "ready af_xdp copy native", "second start");
    assert_eq!(progs(&a, "v0"), 1, "exactly one program");
    // A second port on the same interface while the first lives: refused, not stacked.
    let e = a
        .enter(|| af_xdp::open("v0", AfXdpConfig::default()))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("already has an XDP program"), "{e}");
    assert_eq!(progs(&a, "v0"), 1, "still exactly one program");
}

/// Input: a process without privileges opens a port. Output: an error that says so and names the
/// capabilities.
#[test]
fn af_xdp_without_privileges_says_what_to_do() {
    if skip_unless_root("af_xdp_without_privileges_says_what_to_do") {
        return;
    }
    let (a, _b) = pair("bkxn", 1);
    let prefix = [
        "ip",
        "netns",
        "exec",
        a.name(),
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let (mut c, line) = child(&prefix, "v0");
    c.0.wait().unwrap();
    assert!(
        line.starts_with("error") && line.contains("permission denied") && line.contains("CAP_"),
        "{line}"
    );
}

/// Input: a root process without CAP_IPC_LOCK and with a locked-memory limit of 64 KiB opens a
/// port (whose UMEM is 32 MiB). Output: an error that names the UMEM registration and the limit.
#[test]
fn af_xdp_umem_over_the_memlock_limit_says_what_to_do() {
    if skip_unless_root("af_xdp_umem_over_the_memlock_limit_says_what_to_do") {
        return;
    }
    let (a, _b) = pair("bkxu", 1);
    let prefix = [
        "prlimit",
        "--memlock=65536:65536",
        "setpriv",
        "--bounding-set=-ipc_lock",
        "ip",
        "netns",
        "exec",
        a.name(),
    ];
    let (mut c, line) = child(&prefix, "v0");
    let _ = c.0.kill();
    c.0.wait().unwrap();
    assert!(
        line.starts_with("error")
            && line.contains("register the UMEM")
            && line.contains("ulimit -l"),
        "{line}"
    );
    assert_eq!(progs(&a, "v0"), 0, "nothing left attached");
}

/// Input: two queues asked of a veth that has one; a missing interface; an MTU above what a UMEM
/// frame holds. Output: errors naming the cause and the fix; nothing stays attached.
#[test]
fn af_xdp_missing_queue_is_named() {
    if skip_unless_root("af_xdp_missing_queue_is_named") {
        return;
    }
    let (a, _b) = pair("bkxq", 1);
    let cfg = AfXdpConfig {
        queues: 2,
        ..Default::default()
    };
    let e = a.enter(|| af_xdp::open("v0", cfg)).unwrap().unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Os { .. }), "{text}");
    assert!(
        text.contains("rx queue 1") && text.contains("has 1 rx queues"),
        "{text}"
    );
    assert_eq!(progs(&a, "v0"), 0);
    let e = a
        .enter(|| af_xdp::open("eth9", AfXdpConfig::default()))
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::NoSuchInterface(_)), "{e}");
    // Frames that would not fit a UMEM frame: refused up front, with the fix.
    a.exec(&["ip", "link", "set", "v0", "mtu", "3000"]).unwrap();
    let e = a
        .enter(|| af_xdp::open("v0", AfXdpConfig::default()))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(e.contains("MTU 3000") && e.contains("mtu 1500"), "{e}");
    assert_eq!(progs(&a, "v0"), 0);
}

/// Input: frames no wire carries (empty, above the MTU) in a burst with a good one. Output: only
/// the good frame crosses; the others are counted by reason.
#[test]
fn af_xdp_counts_bad_frames_on_tx() {
    if skip_unless_root("af_xdp_counts_bad_frames_on_tx") {
        return;
    }
    let (a, b) = pair("bkxb", 1);
    let pa = a
        .enter(|| af_xdp::open("v0", AfXdpConfig::default()))
        .unwrap()
        .unwrap();
    let pb = b
        .enter(|| af_xdp::open("v1", AfXdpConfig::default()))
        .unwrap()
        .unwrap();
    common::bad_frames_on_tx(pa, pb);
}
