//! A Brick node between two real Linux hosts, each in its own network namespace and subnet, the
//! router in a third, on AF_PACKET and on AF_XDP ports (root; skipped, saying so, otherwise):
//!
//! ```text
//!  [h1] 10.1.0.2/24 ==veth== r1 [Brick node] r2 ==veth (MTU 1280)== 10.2.0.2/24 [h2]
//!                        10.1.0.1         10.2.0.1
//! ```
//!
//! The router's namespace gives its interfaces no addresses, so its kernel neither answers nor
//! forwards: everything the hosts see comes from Brick. The checks are what an operator would
//! try: ping both ways and to the router, traceroute, TTL 1, an unreachable network, a neighbour
//! that never answers ARP, a DF packet too big for the far link, a large packet the router
//! fragments, a bad checksum, an iperf3 TCP transfer, and `show`.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use brick_io::backend::PortSpec;
use brick_io::netns::{Netns, is_root};
use brick_io::{Burst, Pool, PoolConfig};
use brick_router::{Config, Node};

/// One rack at a time: the hosts' timers and iperf3 want the two cores.
static SERIAL: Mutex<()> = Mutex::new(());

struct Rack {
    h1: Netns,
    h2: Netns,
    // Dropped last: the router's namespace outlives the node's sockets in it.
    _r: Netns,
    prefix: String,
}

/// Runs `argv` in `ns`; returns whether it succeeded and what it printed (stdout and stderr).
fn run(ns: &Netns, argv: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .args(argv)
        .output()
        .expect("run ip netns exec");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ok(ns: &Netns, argv: &[&str]) -> String {
    let (good, text) = run(ns, argv);
    assert!(
        good,
        "`{}` in {} failed:\n{text}",
        argv.join(" "),
        ns.name()
    );
    text
}

fn rack(prefix: &str) -> Rack {
    let h1 = Netns::new(&format!("{prefix}h1")).unwrap();
    let r = Netns::new(&format!("{prefix}r")).unwrap();
    let h2 = Netns::new(&format!("{prefix}h2")).unwrap();
    let (ifh1, ifr1, ifr2, ifh2) = (
        format!("{prefix}h1"),
        format!("{prefix}r1"),
        format!("{prefix}r2"),
        format!("{prefix}h2"),
    );
    h1.veth(&ifh1, &r, &ifr1, 1).unwrap();
    h2.veth(&ifh2, &r, &ifr2, 1).unwrap();
    ok(&r, &["ip", "link", "set", &ifr2, "mtu", "1280"]);
    ok(&h2, &["ip", "link", "set", &ifh2, "mtu", "1280"]);
    for (h, ifname, addr, gw, addr6, gw6) in [
        (
            &h1,
            &ifh1,
            "10.1.0.2/24",
            "10.1.0.1",
            "fd01::2/64",
            "fd01::1",
        ),
        (
            &h2,
            &ifh2,
            "10.2.0.2/24",
            "10.2.0.1",
            "fd02::2/64",
            "fd02::1",
        ),
    ] {
        ok(h, &["ip", "addr", "add", addr, "dev", ifname]);
        ok(h, &["ip", "route", "add", "default", "via", gw]);
        let ipv6_on = format!("net.ipv6.conf.{ifname}.disable_ipv6=0");
        ok(h, &["sysctl", "-qw", &ipv6_on]);
        ok(
            h,
            &["ip", "-6", "addr", "add", addr6, "dev", ifname, "nodad"],
        );
        ok(h, &["ip", "-6", "route", "add", "default", "via", gw6]);
        // The hosts' kernels must put whole checksums and MTU-sized segments on the wire: a
        // packet socket forwards frames as they are, it cannot finish a partial checksum or
        // split a GSO super-frame.
        ok(
            h,
            &[
                "ethtool", "-K", ifname, "tx", "off", "tso", "off", "gso", "off",
            ],
        );
    }
    for ifname in [&ifr1, &ifr2] {
        ok(&r, &["ethtool", "-K", ifname, "gro", "off"]);
    }
    Rack {
        h1,
        h2,
        _r: r,
        prefix: prefix.to_string(),
    }
}

fn config(rack: &Rack, backend: &str) -> Config {
    let p = &rack.prefix;
    // h2's link-local address, the gateway of a route below.
    let shown = ok(
        &rack.h2,
        &[
            "ip",
            "-6",
            "-o",
            "addr",
            "show",
            "dev",
            &format!("{p}h2"),
            "scope",
            "link",
        ],
    );
    let h2_ll = shown
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no link-local address on h2: {shown}"))
        .to_string();
    let core = brick_io::poll::cores().last().copied().unwrap_or(0);
    let text = format!(
        r#"
node = 1
[dataplane]
cores = [{core}]
idle = "adaptive"
[control]
socket = "/tmp/brick-test-{p}.sock"
[[port]]
name = "lan"
backend = "{backend}:{p}r1@{p}r"
addresses = ["10.1.0.1/24", "fd01::1/64"]
ra = true
[[port]]
name = "wan"
backend = "{backend}:{p}r2@{p}r"
addresses = ["10.2.0.1/24", "fd02::1/64"]
[[route]]
prefix = "198.51.100.0/24"
via = "10.2.0.99"
[[route]]
prefix = "fd42::/64"
via = "{h2_ll}"
port = "wan"
"#
    );
    Config::parse("linux_hosts.toml", &text).unwrap()
}

/// The value of counter `name` in `show counters`.
fn counter(node: &Node, name: &str) -> u64 {
    let out = node.command("show counters");
    out.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no counter {name} in\n{out}"))
}

/// Sends an echo request from h1 to h2 with a broken IPv4 header checksum, through a packet
/// socket of h1's interface, to the router's MAC.
fn send_bad_checksum(rack: &Rack, router_mac: [u8; 6], h1_mac: [u8; 6]) {
    let spec: PortSpec = format!("af_packet:{0}h1@{0}h1", rack.prefix)
        .parse()
        .unwrap();
    let port = spec.open().unwrap();
    let (_, mut tx) = port.split();
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let mut f = vec![0u8; 14 + 20 + 8];
    f[0..6].copy_from_slice(&router_mac);
    f[6..12].copy_from_slice(&h1_mac);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&28u16.to_be_bytes());
    f[22] = 64;
    f[23] = 1;
    f[24..26].copy_from_slice(&[0xde, 0xad]);
    f[26..30].copy_from_slice(&[10, 1, 0, 2]);
    f[30..34].copy_from_slice(&[10, 2, 0, 2]);
    f[34] = 8;
    let mut burst = Burst::new(1);
    burst.push(pool.alloc_from(&f).unwrap()).unwrap();
    assert_eq!(tx[0].tx_burst(&mut burst), 1);
    tx[0].flush();
}

fn mac_of(ns: &Netns, ifname: &str) -> [u8; 6] {
    let text = ok(ns, &["cat", &format!("/sys/class/net/{ifname}/address")]);
    let mut mac = [0u8; 6];
    for (b, h) in mac.iter_mut().zip(text.trim().split(':')) {
        *b = u8::from_str_radix(h, 16).unwrap();
    }
    mac
}

/// A UDP traceroute from `ns` to `dst`, one probe per hop, at most 5 hops; its output.
fn traceroute(ns: &Netns, v6: bool, dst: &str) -> String {
    let family = if v6 { "-6" } else { "-4" };
    ok(
        ns,
        &[
            "traceroute",
            family,
            "-n",
            "-q",
            "1",
            "-w",
            "2",
            "-m",
            "5",
            dst,
        ],
    )
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scenario(prefix: &str, backend: &str) {
    if !is_root() {
        eprintln!("skipped {prefix}: needs root (network namespaces, veth, {backend} sockets)");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rack = rack(prefix);
    let node = Node::start(&config(&rack, backend)).unwrap();
    let (h1, h2) = (&rack.h1, &rack.h2);

    // A route via h2's link-local address: the node resolves it on wan with Neighbor
    // Discovery and forwards to h2, which holds fd42::2.
    ok(h2, &["ip", "-6", "addr", "add", "fd42::2/64", "dev", "lo"]);
    ok(
        h1,
        &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fd42::2"],
    );
    let routes = node.command("show routes");
    assert!(
        routes.contains("fd42::/64") && routes.contains("%wan dev wan"),
        "{routes}"
    );

    // Ping: the router's near and far addresses, then through it, both ways.
    ok(h1, &["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.1.0.1"]);
    ok(h1, &["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.2.0.1"]);
    ok(h1, &["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.2.0.2"]);
    ok(h2, &["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.1.0.2"]);

    // traceroute (UDP probes): the router is hop 1, by its address on h1's side.
    let tr = traceroute(h1, false, "10.2.0.2");
    let hops: Vec<&str> = tr.lines().skip(1).collect();
    assert!(hops.len() == 2, "two hops:\n{tr}");
    assert!(hops[0].contains("10.1.0.1"), "hop 1 is the router:\n{tr}");
    assert!(hops[1].contains("10.2.0.2"), "hop 2 is h2:\n{tr}");
    let tr = traceroute(h1, false, "10.2.0.1");
    assert!(
        tr.lines().nth(1).is_some_and(|l| l.contains("10.2.0.1")),
        "a traceroute to the router ends at it (port unreachable):\n{tr}"
    );

    // TTL 1: time exceeded from the router.
    let (_, out) = run(h1, &["ping", "-c", "1", "-t", "1", "-W", "2", "10.2.0.2"]);
    assert!(
        out.contains("From 10.1.0.1") && out.contains("Time to live exceeded"),
        "TTL 1:\n{out}"
    );

    // No route: net unreachable.
    let (good, out) = run(h1, &["ping", "-c", "1", "-W", "2", "203.0.113.1"]);
    assert!(
        !good && out.contains("From 10.1.0.1") && out.contains("Destination Net Unreachable"),
        "no route:\n{out}"
    );

    // A route whose gateway never answers ARP: host unreachable once the requests run out.
    let (good, out) = run(h1, &["ping", "-c", "1", "-W", "6", "198.51.100.1"]);
    assert!(
        !good && out.contains("From 10.1.0.1") && out.contains("Destination Host Unreachable"),
        "unresolvable next hop:\n{out}"
    );

    // 1500-byte packets towards the 1280-byte link: without DF the router fragments them (h2
    // reassembles and answers); with DF it answers "fragmentation needed" with the MTU. In this
    // order: the second teaches h1's kernel the path MTU.
    ok(
        h1,
        &[
            "ping", "-c", "2", "-i", "0.2", "-W", "2", "-M", "dont", "-s", "1472", "10.2.0.2",
        ],
    );
    assert!(
        counter(&node, "fragments") >= 4,
        "{}",
        node.command("show counters")
    );
    let (good, out) = run(
        h1,
        &[
            "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", "10.2.0.2",
        ],
    );
    assert!(
        !good && out.contains("From 10.1.0.1") && out.contains("mtu = 1280"),
        "DF and too big:\n{out}"
    );

    // IPv6: ping the router and through it both ways, traceroute, hop limit 1, no route, and a
    // packet too big for the far link (IPv6 routers never fragment).
    ok(
        h1,
        &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fd01::1"],
    );
    ok(
        h1,
        &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd02::2"],
    );
    ok(
        h2,
        &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd01::2"],
    );
    let tr = traceroute(h1, true, "fd02::2");
    let hops: Vec<&str> = tr.lines().skip(1).collect();
    assert!(
        hops.len() == 2 && hops[0].contains("fd01::1") && hops[1].contains("fd02::2"),
        "IPv6 traceroute through the router:\n{tr}"
    );
    let (_, out) = run(
        h1,
        &["ping", "-6", "-c", "1", "-t", "1", "-W", "2", "fd02::2"],
    );
    assert!(
        out.contains("From fd01::1") && out.contains("Hop limit"),
        "hop limit 1:\n{out}"
    );
    let (good, out) = run(h1, &["ping", "-6", "-c", "1", "-W", "2", "fd09::1"]);
    assert!(
        !good && out.contains("From fd01::1") && out.contains("No route"),
        "no IPv6 route:\n{out}"
    );
    let (good, out) = run(
        h1,
        &["ping", "-6", "-c", "1", "-W", "2", "-s", "1452", "fd02::2"],
    );
    assert!(
        !good && out.contains("From fd01::1") && out.contains("mtu=1280"),
        "IPv6 packet too big:\n{out}"
    );

    // The router's link-local address on the lan port, fe80:: and the modified EUI-64 of the
    // port's MAC, which is how hosts know routers (from router advertisements): ping it, then
    // route through it. The router namespace's kernel has IPv6 off on its veths: only the node
    // can answer.
    let (ifr1, ifh1) = (format!("{}r1", rack.prefix), format!("{}h1", rack.prefix));
    let mac = ok(
        &rack._r,
        &["cat", &format!("/sys/class/net/{ifr1}/address")],
    );
    let m: Vec<u8> = (mac.trim().split(':'))
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    let ll = format!(
        "fe80::{:x}:{:x}:{:x}:{:x}",
        u16::from_be_bytes([m[0] ^ 2, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]])
    );
    let scoped = format!("{ll}%{ifh1}");
    ok(
        h1,
        &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", &scoped],
    );
    let via = |gw: &str| {
        [
            "ip", "-6", "route", "replace", "default", "via", gw, "dev", &ifh1,
        ]
        .map(String::from)
    };
    let argv = via(&ll);
    ok(h1, &argv.iter().map(String::as_str).collect::<Vec<_>>());
    ok(
        h1,
        &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fd02::2"],
    );
    let argv = via("fd01::1");
    ok(h1, &argv.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        node.command("show ports").contains(&ll),
        "{}",
        node.command("show ports")
    );

    // Router advertisements on lan: h1's kernel (accept_ra, autoconf: the defaults of a host)
    // takes the router's link-local address as a default router and makes itself an address
    // in fd01::/64. The first advertisement went out when the node started, the next ones
    // come 16 s apart.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let (mut routes, mut addrs) = (String::new(), String::new());
    while std::time::Instant::now() < deadline {
        routes = ok(h1, &["ip", "-6", "route", "show", "default", "proto", "ra"]);
        addrs = ok(h1, &["ip", "-6", "addr", "show", "dev", &ifh1, "dynamic"]);
        if routes.contains(&ll) && addrs.contains("inet6 fd01::") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(routes.contains(&format!("via {ll}")), "{routes}");
    assert!(addrs.contains("inet6 fd01::"), "a SLAAC address:\n{addrs}");
    assert!(counter(&node, "router_advertisements") >= 1);

    // A bad header checksum: dropped and counted.
    let before = counter(&node, "drop_bad_checksum");
    send_bad_checksum(
        &rack,
        mac_of(&rack._r, &format!("{prefix}r1")),
        mac_of(h1, &format!("{prefix}h1")),
    );
    let mut after = before;
    for _ in 0..20 {
        after = counter(&node, "drop_bad_checksum");
        if after > before {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(after, before + 1, "{}", node.command("show counters"));

    // A TCP transfer.
    let _server = Server(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                h2.name(),
                "iperf3",
                "-s",
                "-1",
                "-B",
                "10.2.0.2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start iperf3 -s (apt-get install iperf3)"),
    );
    let mut out = String::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(200));
        let (good, text) = run(
            h1,
            &[
                "iperf3",
                "-c",
                "10.2.0.2",
                "-t",
                "2",
                "--connect-timeout",
                "2000",
            ],
        );
        out = text;
        if good || !out.contains("Connection refused") {
            break;
        }
    }
    assert!(
        out.contains("receiver"),
        "iperf3 TCP through the router:\n{out}"
    );
    eprintln!("{backend}: iperf3 through the router:\n{out}");

    // What the operator sees.
    let routes = node.command("show routes");
    for want in [
        "10.1.0.0/24",
        "connected",
        "198.51.100.0/24",
        "via 10.2.0.99 dev wan",
    ] {
        assert!(routes.contains(want), "{want} in:\n{routes}");
    }
    let neighbors = node.command("show neighbors");
    assert!(
        neighbors
            .lines()
            .any(|l| l.contains("10.2.0.2 ") && !l.contains("incomplete")),
        "{neighbors}"
    );
    assert!(
        neighbors
            .lines()
            .any(|l| l.starts_with("fe80::") && l.contains("%wan ") && l.contains(" wan ")),
        "h2's link-local address, the gateway to fd42::/64, on wan:\n{neighbors}"
    );
    let ports = node.command("show ports");
    assert!(
        ports.contains("lan") && ports.contains("mtu 1280"),
        "{ports}"
    );
    assert!(
        node.command("show nonsense")
            .starts_with("error: unknown command")
    );
    eprintln!("{}", node.command("show counters"));
    node.stop();
}

#[test]
fn linux_hosts_through_brick_on_af_packet() {
    scenario("blhp", "af_packet");
}

#[test]
fn linux_hosts_through_brick_on_af_xdp() {
    scenario("blhx", "af_xdp");
}
