//! A whole node (workers, control thread, control socket) on in-process mem cables, with the test
//! playing the hosts on both sides: no root needed. The root test `linux_hosts` does the same
//! with real Linux hosts.

use std::time::{Duration, Instant};

use brick_io::backend::mem::{CableConfig, cable};
use brick_io::{Burst, Pool, PoolConfig, Port, Rx, Tx};
use brick_router::reply;
use brick_router::wire::arp::{ArpPacket, ArpRepr, Operation};
use brick_router::wire::checksum;
use brick_router::wire::ethernet::EthernetAddress;
use brick_router::{Config, Node};

const R0: [u8; 6] = [2, 0, 0, 0, 1, 0];
const R1: [u8; 6] = [2, 0, 0, 0, 1, 1];
const H0: EthernetAddress = EthernetAddress([2, 0, 0, 0, 2, 0]);
const H1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 2, 1]);

struct Host {
    rx: Rx,
    tx: Tx,
    pool: Pool,
}

impl Host {
    fn new(port: Port) -> Host {
        let (mut rx, mut tx) = port.split();
        Host {
            rx: rx.remove(0),
            tx: tx.remove(0),
            pool: Pool::new(PoolConfig::default()).unwrap(),
        }
    }

    fn send(&mut self, frames: &[Vec<u8>]) {
        for chunk in frames.chunks(32) {
            let mut b = Burst::new(32);
            for f in chunk {
                b.push(self.pool.alloc_from(f).unwrap()).unwrap();
            }
            assert_eq!(self.tx.tx_burst(&mut b), chunk.len());
        }
    }

    /// Frames received within `within`, until `enough` of them match `want`.
    fn recv(
        &mut self,
        want: impl Fn(&[u8]) -> bool,
        enough: usize,
        within: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        let mut b = Burst::new(32);
        while got.len() < enough && Instant::now() < deadline {
            if self.rx.rx_burst(&self.pool, &mut b) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            got.extend(b.drain().map(|p| p.data().to_vec()).filter(|f| want(f)));
        }
        got
    }
}

/// Waits up to 5 s for the node's `forwarded` counter to reach `n`: a worker publishes its
/// counters after it transmitted, so a frame can arrive before they say so.
fn forwarded_until(node: &Node, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.counters().forwarded < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(node.counters().forwarded, n, "the fast path");
}

/// A plain HTTP GET; returns the status line and the body.
fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// Asks `cmd` until the answer satisfies `ok` (the control thread refreshes what `show` reads
/// every 100 ms, and soon after ARP traffic), for at most 5 s: a loaded machine may not run it
/// for a while.
fn show_until(node: &Node, cmd: &str, ok: impl Fn(&str) -> bool) {
    ask_until(|| node.command(cmd), ok);
}

/// Calls `ask` until its answer satisfies `ok`, for at most 5 s.
fn ask_until(ask: impl Fn() -> String, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut out = ask();
    while !ok(&out) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        out = ask();
    }
    assert!(ok(&out), "{out}");
}

fn is_arp(f: &[u8]) -> bool {
    f[12..14] == [0x08, 0x06]
}

fn arp(f: &[u8]) -> ArpRepr {
    ArpRepr::parse(&ArpPacket::new_checked(&f[14..]).unwrap()).unwrap()
}

/// UDP from 10.1.0.2 (h0) to `dst` via the router, sequence number `seq` in the payload.
fn udp(dst: [u8; 4], seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0..6].copy_from_slice(&R0);
    f[6..12].copy_from_slice(&H0.0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&46u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[10, 1, 0, 2]);
    f[30..34].copy_from_slice(&dst);
    f[34..36].copy_from_slice(&1024u16.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[42..46].copy_from_slice(&seq.to_be_bytes());
    let c = checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn config(socket: &str) -> Config {
    config_with(socket, "")
}

fn config_with(socket: &str, extra: &str) -> Config {
    let core = brick_io::poll::cores().first().copied().unwrap_or(0);
    let text = format!(
        r#"
[dataplane]
cores = [{core}]
[control]
socket = "{socket}"
[metrics]
listen = "127.0.0.1:0"
[[port]]
name = "lan"
backend = "af_packet:unused0"
addresses = ["10.1.0.1/24"]
mac = "02:00:00:00:01:00"
[[port]]
name = "wan"
backend = "af_packet:unused1"
addresses = ["10.2.0.1/24"]
mac = "02:00:00:00:01:01"
{extra}"#
    );
    Config::parse("node_mem.toml", &text).unwrap()
}

/// Input: a node between two mem cables; the hosts announce nothing. Output, in order: the
/// node's gratuitous ARP on both sides; an ARP reply for its address; the first packet towards
/// an unknown neighbour waits for ARP and then arrives; the next 1000 take the fast path, in
/// order; `show` reports it all; stopping removes the socket.
#[test]
fn a_node_on_mem_cables_resolves_forwards_and_reports() {
    let socket = std::env::temp_dir().join(format!("brick-node-mem-{}.sock", std::process::id()));
    let (r0, h0) = cable("r0", "h0", CableConfig::default()).unwrap();
    let (r1, h1) = cable("r1", "h1", CableConfig::default()).unwrap();
    let node =
        Node::start_with(&config(socket.to_str().unwrap()), vec![r0, r1.with_id(1)]).unwrap();
    let (mut h0, mut h1) = (Host::new(h0), Host::new(h1));

    for (h, addr) in [(&mut h0, [10, 1, 0, 1]), (&mut h1, [10, 2, 0, 1])] {
        let g = h.recv(is_arp, 1, Duration::from_secs(2));
        let a = arp(&g[0]);
        assert_eq!(
            (
                a.source_protocol_addr.octets(),
                a.target_protocol_addr.octets()
            ),
            (addr, addr),
            "gratuitous ARP"
        );
    }

    h0.send(&[reply::arp_request(
        H0,
        [10, 1, 0, 2].into(),
        [10, 1, 0, 1].into(),
        None,
    )]);
    let r = h0.recv(is_arp, 1, Duration::from_secs(2));
    assert_eq!(arp(&r[0]).operation, Operation::Reply);
    assert_eq!(arp(&r[0]).source_hardware_addr.0, R0);

    h0.send(&[udp([10, 2, 0, 9], 0)]);
    let req = h1.recv(is_arp, 1, Duration::from_secs(2));
    let a = arp(&req[0]);
    assert_eq!(a.target_protocol_addr.octets(), [10, 2, 0, 9]);
    h1.send(&[reply::arp_reply(
        &req[0],
        &brick_router::classify::Local::new(H1, vec![[10, 2, 0, 9].into()]),
    )
    .unwrap()]);
    let first = h1.recv(|f| !is_arp(f), 1, Duration::from_secs(2));
    assert_eq!(first.len(), 1, "the packet that waited for ARP");
    assert_eq!(
        (&first[0][0..6], &first[0][6..12], first[0][22]),
        (&H1.0[..], &R1[..], 63)
    );

    let frames: Vec<Vec<u8>> = (1..=1000).map(|i| udp([10, 2, 0, 9], i)).collect();
    h0.send(&frames);
    let got = h1.recv(|f| !is_arp(f), 1000, Duration::from_secs(5));
    let seqs: Vec<u32> = got
        .iter()
        .map(|f| u32::from_be_bytes(f[42..46].try_into().unwrap()))
        .collect();
    assert_eq!(
        seqs,
        (1..=1000).collect::<Vec<_>>(),
        "all of them, in order"
    );

    let value = |name: &str| {
        node.command("show counters")
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(name)).then(|| w.next()?.parse::<u64>().ok())?
            })
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && value("forwarded") < 1000 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(value("forwarded"), 1000, "the fast path");
    assert_eq!(value("slow_forwarded"), 1, "the packet that waited");
    assert_eq!(value("punt_unresolved"), 1);
    assert!(
        node.command("show routes")
            .contains("10.2.0.0/24          connected")
    );
    // Through the socket, as `brick show` asks. The list is a snapshot the control thread
    // refreshes soon after ARP traffic: an answer may still show the entry from before the
    // reply, so wait for the state, not for the address.
    ask_until(
        || brick_router::node::request(&socket, "show neighbors").unwrap(),
        |out| {
            out.lines().any(|l| {
                l.contains("10.2.0.9")
                    && l.contains("02:00:00:00:02:01")
                    && l.contains(" wan ")
                    && l.contains("reachable")
            })
        },
    );
    let (status, body) = http_get(node.metrics_addr().unwrap(), "/metrics");
    assert!(status.contains("200"), "{status}");
    for want in [
        "# TYPE brick_forwarded_packets_total counter",
        "brick_forwarded_packets_total 1000",
        "brick_punted_packets_total{kind=\"unresolved\"} 1",
        "brick_port_rx_packets_total{port=\"lan\"}",
        "brick_control_events_total{event=\"slow_forwarded\"} 1",
        "brick_routes{family=\"ipv4\"} 2",
    ] {
        assert!(body.contains(want), "{want} in:\n{body}");
    }
    let sample = |name: &str| -> f64 {
        let line = body
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{worker=\"0\",core=\"")))
            .unwrap_or_else(|| panic!("{name} of worker 0 in:\n{body}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    // Every frame of the stream went through the one worker, which was busy for a while.
    assert!(sample("brick_worker_rx_packets_total") >= 1000.0, "{body}");
    let busy = sample("brick_worker_busy_seconds_total");
    assert!(busy > 0.0 && busy < 60.0, "{body}");
    assert!(
        node.command("show counters").contains("worker 0 (core "),
        "{}",
        node.command("show counters")
    );
    assert!(
        http_get(node.metrics_addr().unwrap(), "/")
            .0
            .contains("404")
    );
    assert!(
        brick_router::node::request(&socket, "show everything")
            .unwrap_err()
            .contains("unknown command")
    );
    node.stop();
    assert!(!socket.exists(), "the socket goes with the node");
}

/// Input: a node with a static neighbour 10.2.0.7 on wan, and a packet from h0 to it. Output: the
/// packet leaves towards the configured MAC at once, no ARP request for 10.2.0.7 goes out, and
/// `show neighbors` lists it as permanent.
#[test]
fn a_static_neighbor_needs_no_arp() {
    let socket =
        std::env::temp_dir().join(format!("brick-node-static-{}.sock", std::process::id()));
    let (r0, h0) = cable("r0", "h0", CableConfig::default()).unwrap();
    let (r1, h1) = cable("r1", "h1", CableConfig::default()).unwrap();
    let extra = "[[neighbor]]\naddress = \"10.2.0.7\"\nmac = \"02:00:00:00:02:07\"\n";
    let cfg = config_with(socket.to_str().unwrap(), extra);
    let node = Node::start_with(&cfg, vec![r0, r1.with_id(1)]).unwrap();
    let (mut h0, mut h1) = (Host::new(h0), Host::new(h1));
    h0.send(&[udp([10, 2, 0, 7], 1)]);
    let got = h1.recv(|_| true, 2, Duration::from_secs(2));
    let asks_for_7 =
        |f: &Vec<u8>| is_arp(f) && arp(f).target_protocol_addr.octets() == [10, 2, 0, 7];
    assert!(!got.iter().any(asks_for_7), "no ARP for a static neighbour");
    let fwd: Vec<_> = got.iter().filter(|f| !is_arp(f)).collect();
    assert_eq!(fwd.len(), 1, "{got:?}");
    assert_eq!(&fwd[0][0..6], &[2, 0, 0, 0, 2, 7]);
    forwarded_until(&node, 1);
    let listed = |out: &str| {
        out.lines().any(|l| {
            l.contains("10.2.0.7")
                && l.contains("02:00:00:00:02:07")
                && l.contains(" wan ")
                && l.contains("permanent")
        })
    };
    show_until(&node, "show neighbors", listed);
}

/// Input (root): the node of `a_static_neighbor_needs_no_arp` with `realtime = 1` and `idle =
/// "interrupt"`, and a packet from h0. Output: a worker thread runs under SCHED_FIFO and the
/// packet is forwarded, woken from its sleep.
#[test]
fn a_realtime_worker_sleeps_and_forwards() {
    let allowed = std::thread::spawn(|| {
        brick_io::poll::set_priority(brick_io::Priority::Realtime(1)).map_err(|e| e.to_string())
    })
    .join()
    .unwrap();
    if let Err(e) = allowed {
        eprintln!("skipped a_realtime_worker_sleeps_and_forwards: {e}");
        return;
    }
    let socket = std::env::temp_dir().join(format!("brick-node-rt-{}.sock", std::process::id()));
    let (r0, h0) = cable("r0", "h0", CableConfig::default()).unwrap();
    let (r1, h1) = cable("r1", "h1", CableConfig::default()).unwrap();
    let extra = "[[neighbor]]\naddress = \"10.2.0.7\"\nmac = \"02:00:00:00:02:07\"\n";
    let mut cfg = config_with(socket.to_str().unwrap(), extra);
    cfg.priority = brick_io::Priority::Realtime(1);
    cfg.idle = "interrupt".parse().unwrap();
    let node = Node::start_with(&cfg, vec![r0, r1.with_id(1)]).unwrap();
    // Field 41 of a thread's stat is its policy (1: SCHED_FIFO); fields count from the pid,
    // and the name in parentheses (field 2) may hold spaces.
    let fifo_workers = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            let (name, rest) = stat.rsplit_once(") ").unwrap_or_default();
            name.ends_with("(brick-w0") && rest.split(' ').nth(41 - 3) == Some("1")
        })
        .count();
    assert!(fifo_workers >= 1, "no worker runs under SCHED_FIFO");
    let (mut h0, mut h1) = (Host::new(h0), Host::new(h1));
    // Let the worker fall asleep first, so that the frame must wake it.
    std::thread::sleep(Duration::from_millis(50));
    h0.send(&[udp([10, 2, 0, 7], 1)]);
    let got = h1.recv(|f| !is_arp(f), 1, Duration::from_secs(2));
    assert_eq!(got.len(), 1, "the packet was not forwarded");
    forwarded_until(&node, 1);
}

/// UDP from fd01::2 (h0) to `dst` via the router.
fn udp6(dst: std::net::Ipv6Addr) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 40 + 8 + 4];
    f[0..6].copy_from_slice(&R0);
    f[6..12].copy_from_slice(&H0.0);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60;
    f[18..20].copy_from_slice(&12u16.to_be_bytes());
    (f[20], f[21]) = (17, 64);
    f[22..38].copy_from_slice(&"fd01::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
    f[38..54].copy_from_slice(&dst.octets());
    f[54..56].copy_from_slice(&1024u16.to_be_bytes());
    f[56..58].copy_from_slice(&9u16.to_be_bytes());
    f[58..60].copy_from_slice(&12u16.to_be_bytes());
    f
}

/// Input: a route to 2001:db8::/32 via fe80::7 on wan, and fe80::7 a static neighbour on wan.
/// Output: a packet to 2001:db8::5 leaves wan at once to that MAC, without a Neighbor
/// Solicitation; `show neighbors` lists the entry as fe80::7%wan, permanent.
#[test]
fn a_static_link_local_neighbor_is_the_gateway_on_its_port() {
    let socket =
        std::env::temp_dir().join(format!("brick-node-static6-{}.sock", std::process::id()));
    let (r0, h0) = cable("r0", "h0", CableConfig::default()).unwrap();
    let (r1, h1) = cable("r1", "h1", CableConfig::default()).unwrap();
    let extra = "[[route]]\nprefix = \"2001:db8::/32\"\nvia = \"fe80::7\"\nport = \"wan\"\n\
                 [[neighbor]]\naddress = \"fe80::7\"\nport = \"wan\"\nmac = \"02:00:00:00:02:07\"\n";
    let mut cfg = config_with(socket.to_str().unwrap(), extra);
    cfg.ports[0].addresses6 = vec!["fd01::1/64".parse().unwrap()];
    let node = Node::start_with(&cfg, vec![r0, r1.with_id(1)]).unwrap();
    let (mut h0, mut h1) = (Host::new(h0), Host::new(h1));
    h0.send(&[udp6("2001:db8::5".parse().unwrap())]);
    let ipv6 = |f: &Vec<u8>| f[12..14] == [0x86, 0xdd];
    let got = h1.recv(|f| f[12..14] == [0x86, 0xdd], 1, Duration::from_secs(2));
    let is_ns = |f: &Vec<u8>| ipv6(f) && f.len() > 54 && f[20] == 58 && f[54] == 135;
    assert!(
        !got.iter().any(is_ns),
        "no solicitation for a static neighbour: {got:?}"
    );
    let fwd: Vec<_> = got.iter().filter(|f| ipv6(f) && f[20] == 17).collect();
    assert_eq!(fwd.len(), 1, "{got:?}");
    assert_eq!(&fwd[0][0..6], &[2, 0, 0, 0, 2, 7]);
    let listed = |out: &str| {
        out.lines().any(|l| {
            l.contains("fe80::7%wan") && l.contains("02:00:00:00:02:07") && l.contains("permanent")
        })
    };
    show_until(&node, "show neighbors", listed);
}

/// Input: a node advertising on lan (ra = true, fd01::1/64). Output: h0 gets a router
/// advertisement from the port's link-local address when the node starts, and one with router
/// lifetime 0 when it stops.
#[test]
fn router_advertisements_at_start_and_at_stop() {
    let socket = std::env::temp_dir().join(format!("brick-node-ra-{}.sock", std::process::id()));
    let (r0, h0) = cable("r0", "h0", CableConfig::default()).unwrap();
    let (r1, _h1) = cable("r1", "h1", CableConfig::default()).unwrap();
    let mut cfg = config(socket.to_str().unwrap());
    cfg.ports[0].ra = true;
    cfg.ports[0].addresses6 = vec!["fd01::1/64".parse().unwrap()];
    let node = Node::start_with(&cfg, vec![r0, r1.with_id(1)]).unwrap();
    let mut h0 = Host::new(h0);
    let is_ra = |f: &[u8]| f[12..14] == [0x86, 0xdd] && f.len() > 54 && f[20] == 58 && f[54] == 134;
    let first = h0.recv(is_ra, 1, Duration::from_secs(2));
    assert_eq!(first.len(), 1, "an advertisement at start");
    let ll = brick_router::wire::ipv6::link_local(R0);
    assert_eq!(
        &first[0][22..38],
        &ll.octets(),
        "from the link-local address"
    );
    assert_eq!(
        &first[0][58..62],
        &[64, 0, 0x07, 0x08],
        "hop limit 64, lifetime 1800 s"
    );
    node.stop();
    let last = h0.recv(is_ra, 1, Duration::from_secs(1));
    assert_eq!(last.len(), 1, "a goodbye");
    assert_eq!(&last[0][60..62], &[0, 0], "lifetime 0");
}
