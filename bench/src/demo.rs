//! The embedded demo: one router node (a [`Node`], as `brick run` starts it: worker, control
//! plane, control socket, metrics) between two in-process cables, a generated table of Internet
//! shape as its static routes, and traffic through it from the generator to a sink that counts
//! and times every frame. No root, no NIC, nothing to configure.
//!
//! ```text
//!   generator --mem--> [port 0  router  port 1] --mem--> sink
//!   198.18.0.0/16        ~1M static routes       16 next hops 198.19.0.1-16 (static neighbours)
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use brick_io::backend::PortSpec;
use brick_io::backend::mem::{self, CableConfig};
use brick_io::poll::{self, IdlePolicy};
use brick_router::Node;
use brick_router::classify::Local;
use brick_router::config::{Config, IfAddr, PortConfig, RouteTarget, StaticNeighbor, StaticRoute};
use brick_router::neighbor::MacTable;
use brick_router::verdict::{DropReason, Punt};
use brick_router::wire::ethernet::EthernetAddress;
use brick_routing::{Fib, FibReader, Gateway, Lpm, NextHop, Poptrie4, Prefix};
use serde::Serialize;

use crate::Error;
use crate::traffic::profile::{IpRange, Mac, PortRange, Protocol, Size, StreamSpec};
use crate::traffic::{self, GenReport, Profile, Rate, RunOpts};

/// Prefixes per length /8../32 in a full IPv4 table (RouteViews, 2024-04-06: 998,042 prefixes).
const LENGTH_MIX: [(u8, u32); 25] = [
    (8, 16),
    (9, 14),
    (10, 37),
    (11, 95),
    (12, 300),
    (13, 585),
    (14, 1211),
    (15, 2146),
    (16, 13_429),
    (17, 8478),
    (18, 14_212),
    (19, 25_481),
    (20, 45_486),
    (21, 53_982),
    (22, 114_853),
    (23, 107_628),
    (24, 605_112),
    (25, 1112),
    (26, 1066),
    (27, 1513),
    (28, 166),
    (29, 272),
    (30, 114),
    (31, 113),
    (32, 621),
];
const NEXT_HOPS: u16 = 16;
/// The MAC of the router's port 0.
pub const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0];
/// The MAC of the router's port 1, towards the next hops.
const ROUTER_MAC_1: [u8; 6] = [0x02, 0, 0, 0, 0x01, 1];
/// The router's addresses on port 0 (facing 198.18.0.0/16) and port 1 (198.19.0.0/24).
const ROUTER_ADDRS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 18, 0, 254),
    Ipv4Addr::new(198, 19, 0, 254),
];

/// Next hop `k`: 198.19.k/256.k%256 on port 1, a neighbour with MAC 02:00:00:00:k/256+2:k%256.
fn next_hop(k: NextHop) -> (Ipv4Addr, EthernetAddress) {
    let [hi, lo] = k.to_be_bytes();
    (
        Ipv4Addr::new(198, 19, hi, lo),
        EthernetAddress([0x02, 0, 0, 0, hi + 2, lo]),
    )
}

/// `n` random prefixes with the length mix of a full Internet table, in unicast space
/// (1.0.0.0-223.255.255.255), next hops 1..=16, plus a default route: the same for a seed.
pub fn internet_table(n: usize, seed: u64) -> Vec<(Prefix<u32>, NextHop)> {
    let total: u32 = LENGTH_MIX.iter().map(|&(_, c)| c).sum();
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut seen = std::collections::HashSet::new();
    let mut routes = vec![(Prefix::new(0, 0).expect("the default route"), 1)];
    for &(len, count) in &LENGTH_MIX {
        let want = (u64::from(count) * n as u64 / u64::from(total)) as usize;
        let mask = u32::MAX << (32 - u32::from(len));
        let mut made = 0;
        while made < want {
            let r = next();
            let addr = (r as u32) & mask;
            if !(1..=223).contains(&(addr >> 24)) || !seen.insert((addr, len)) {
                continue;
            }
            let nh = 1 + ((r >> 40) % u64::from(NEXT_HOPS)) as NextHop;
            routes.push((Prefix::new(addr, len).expect("host bits masked"), nh));
            made += 1;
        }
    }
    routes
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Demo {
    /// Prefixes in the generated table.
    pub prefixes: usize,
    /// Seconds of traffic.
    pub seconds: f64,
    /// Frame size with FCS.
    pub size: usize,
    /// Offered rate (unpaced: as fast as the generator goes).
    pub rate: Option<Rate>,
    /// Print progress once a second.
    pub progress: bool,
}

/// What the demo measured.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Prefixes in the FIB.
    pub prefixes: usize,
    /// Milliseconds from the configuration to a running node (RIB, FIB, threads).
    pub start_ms: f64,
    /// Bytes of the FIB's lookup structure.
    pub table_bytes: usize,
    /// Frames the router forwarded, per second, in millions.
    pub forwarded_mpps: f64,
    /// The generator's and the sink's view: loss, reordering, latency.
    pub traffic: GenReport,
    /// Router drops by reason (label, count), non-zero only.
    pub drops: Vec<(String, u64)>,
    /// Frames without a route or a resolved neighbour, or refused by a full tx ring.
    pub no_route: u64,
    /// See `no_route`.
    pub unresolved: u64,
    /// See `no_route`.
    pub tx_dropped: u64,
}

/// A FIB built from `routes` and what a pipeline needs around it: port 0 (198.18.0.254) faces
/// the sources, port 1 (198.19.0.254) the next hops; next hop `k` is 198.19.k/256.k%256 on port
/// 1, a neighbour with MAC 02:00:00:00:k/256+2:k%256.
pub struct RouterSetup {
    /// Reads the published FIB.
    pub reader: FibReader<u32, Poptrie4>,
    /// The two ports' MACs and addresses.
    pub ports: Vec<Local>,
    /// Every next hop's MAC.
    pub neighbors: MacTable,
    /// Milliseconds to build the lookup table.
    pub build_ms: f64,
    /// Bytes of the lookup structure.
    pub table_bytes: usize,
}

impl std::fmt::Debug for RouterSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterSetup")
            .field("build_ms", &self.build_ms)
            .field("table_bytes", &self.table_bytes)
            .finish()
    }
}

/// Builds the FIB and the neighbours for `routes` (see [`RouterSetup`]).
pub fn router_setup(routes: &[(Prefix<u32>, NextHop)]) -> Result<RouterSetup, Error> {
    let start = Instant::now();
    let lpm = Poptrie4::from_routes(routes)?;
    let build_ms = start.elapsed().as_secs_f64() * 1e3;
    let table_bytes = lpm.lookup_bytes();
    let max = routes.iter().map(|&(_, nh)| nh).max().unwrap_or(0);
    let mut groups = vec![Vec::new()];
    let mut neighbors = MacTable::default();
    for k in 1..=max {
        let (gw, mac) = next_hop(k);
        groups.push(vec![Gateway {
            port: 1,
            addr: u32::from(gw),
        }]);
        neighbors.insert(gw.into(), mac);
    }
    let (_writer, reader) = Fib::new(lpm, groups).publish();
    let ports = vec![
        Local::new(EthernetAddress(ROUTER_MAC), vec![ROUTER_ADDRS[0]]),
        Local::new(EthernetAddress(ROUTER_MAC_1), vec![ROUTER_ADDRS[1]]),
    ];
    Ok(RouterSetup {
        reader,
        ports,
        neighbors,
        build_ms,
        table_bytes,
    })
}

/// Random UDP flows from 198.18.0.0/16 to random addresses in `from..=to`, to the router's MAC.
fn internet_stream(name: &str, from: [u8; 4], to: [u8; 4], size: usize) -> StreamSpec {
    let (from, to) = (
        u32::from(Ipv4Addr::from(from)),
        u32::from(Ipv4Addr::from(to)),
    );
    StreamSpec {
        name: name.into(),
        src_mac: Mac([0x02, 0, 0, 0, 0, 0x01]),
        dst_mac: Mac(ROUTER_MAC),
        src_ip: IpRange::V4(
            u32::from(Ipv4Addr::new(198, 18, 0, 0)),
            u32::from(Ipv4Addr::new(198, 18, 255, 255)),
        ),
        dst_ip: IpRange::V4(from, to),
        protocol: Protocol::Udp,
        src_port: PortRange(1024, 65535),
        dst_port: PortRange(9, 9),
        size: Size::Fixed(size),
        random: true,
        // Streams share the rate by the addresses they cover, so destinations are uniform.
        weight: ((to - from) >> 16) + 1,
        ttl: 64,
    }
}

/// The node's configuration: port 0 (`gen`, 198.18.0.254/16) faces the sources, port 1 (`sink`,
/// 198.19.0.254/24) the next hops; `routes` become static routes via their [`next_hop`], each
/// one a static neighbour, so nothing waits for ARP.
fn node_config(routes: &[(Prefix<u32>, NextHop)], core: usize) -> Config {
    let port = |name: &str, addr: Ipv4Addr, len: u8, mac: [u8; 6]| PortConfig {
        name: name.into(),
        backend: PortSpec::Mem { cable: name.into() },
        addresses: vec![IfAddr { addr, len }],
        addresses6: Vec::new(),
        mtu: None,
        mac: Some(EthernetAddress(mac)),
        ra: false,
    };
    let max = routes.iter().map(|&(_, nh)| nh).max().unwrap_or(0);
    Config {
        node: 0,
        cores: vec![core],
        idle: IdlePolicy::default(),
        priority: brick_io::Priority::Inherit,
        socket: std::env::temp_dir().join(format!("brick-demo-{}.sock", std::process::id())),
        punt_rate: 10_000,
        icmp_rate: 100,
        metrics: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        ports: vec![
            port("gen", ROUTER_ADDRS[0], 16, ROUTER_MAC),
            port("sink", ROUTER_ADDRS[1], 24, ROUTER_MAC_1),
        ],
        routes: routes
            .iter()
            .map(|&(prefix, nh)| StaticRoute {
                prefix,
                target: RouteTarget::Via(next_hop(nh).0),
            })
            .collect(),
        routes6: Vec::new(),
        neighbors: (1..=max)
            .map(|k| {
                let (addr, mac) = next_hop(k);
                StaticNeighbor {
                    addr: addr.into(),
                    port: None,
                    mac,
                }
            })
            .collect(),
    }
}

/// Where the running demo node can be watched from outside.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Its control socket, for `brick show ... --socket`.
    pub socket: std::path::PathBuf,
    /// Its Prometheus endpoint.
    pub metrics: Option<SocketAddr>,
}

/// Builds the table, starts the node, runs the traffic, and reports; `started` is told where
/// to watch the node once it runs.
pub fn run(d: &Demo, started: impl FnOnce(&Watch)) -> Result<DemoReport, Error> {
    let routes = internet_table(d.prefixes, 0x5eed_b51c);
    let cores = poll::cores();
    let cfg = node_config(
        &routes,
        cores.get(1).or(cores.first()).copied().unwrap_or(0),
    );
    let cable = CableConfig {
        slots: 4096,
        ..Default::default()
    };
    let (gen_end, r0) = mem::cable("gen", "r0", cable)?;
    let (r1, sink_end) = mem::cable("r1", "sink", cable)?;
    let start = Instant::now();
    let node = Node::start_with(&cfg, vec![r0, r1.with_id(1)])
        .map_err(|e| Error::Usage(format!("starting the demo node: {e}")))?;
    let start_ms = start.elapsed().as_secs_f64() * 1e3;
    started(&Watch {
        socket: cfg.socket.clone(),
        metrics: node.metrics_addr(),
    });

    let profile = Profile {
        rate: d.rate,
        duration: Some(d.seconds),
        count: None,
        // Unicast space without 127/8 and without the node's own subnets (198.18.0.0/15),
        // whose hosts nobody answers for.
        streams: vec![
            internet_stream("1-126", [1, 0, 0, 0], [126, 255, 255, 255], d.size),
            internet_stream("128-198.17", [128, 0, 0, 0], [198, 17, 255, 255], d.size),
            internet_stream("198.20-223", [198, 20, 0, 0], [223, 255, 255, 255], d.size),
        ],
    };
    let (_, gen_tx) = gen_end.split();
    let (sink_rx, _) = sink_end.split();
    let opts = RunOpts {
        progress: d.progress,
        cores: cores.first().map(|&c| vec![c, c]).unwrap_or_default(),
        backend: "mem (in-process cable)".into(),
        ..Default::default()
    };
    let (report, _, _) = traffic::run(&profile, gen_tx, sink_rx, &opts)?;
    let c = node.counters();
    let table_bytes = node.fib_bytes();
    node.stop();
    Ok(DemoReport {
        prefixes: routes.len(),
        start_ms,
        table_bytes,
        forwarded_mpps: c.forwarded as f64 / report.seconds / 1e6,
        drops: DropReason::ALL
            .iter()
            .filter(|&&r| c.drop(r) > 0)
            .map(|&r| (r.as_str().to_string(), c.drop(r)))
            .collect(),
        no_route: c.punt(Punt::NoRoute),
        unresolved: c.punt(Punt::Unresolved),
        tx_dropped: c.tx_dropped,
        traffic: report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_internet_mix_and_is_reproducible() {
        let t = internet_table(100_000, 1);
        assert_eq!(t, internet_table(100_000, 1));
        let slash24 = t.iter().filter(|(p, _)| p.len() == 24).count();
        assert!((59_000..62_000).contains(&slash24), "{slash24} /24s");
        assert!(t.iter().all(|(p, nh)| (1..=NEXT_HOPS).contains(nh)
            && (p.len() == 0 || (1..=223).contains(&(p.addr() >> 24)))));
    }

    /// Input: a short demo with a 20k-prefix table at a modest rate. Output: every frame is
    /// forwarded (the default route catches all), none lost, latency measured.
    #[test]
    fn demo_forwards_everything_it_is_offered() {
        let mut watch = None;
        let r = run(
            &Demo {
                prefixes: 20_000,
                seconds: 0.5,
                size: 64,
                rate: Some(Rate::Pps(20_000.0)),
                progress: false,
            },
            |w| watch = Some(w.clone()),
        )
        .unwrap();
        let t = &r.traffic;
        assert!(t.tx_packets > 9_000, "{}", t.table());
        for s in &t.streams {
            assert_eq!((s.rx, s.lost), (s.tx, 0), "{}", t.table());
            assert!(s.latency.p50_us > 0.0);
        }
        assert!(
            r.drops.is_empty() && r.no_route == 0 && r.unresolved == 0,
            "{r:?}"
        );
        let watch = watch.expect("told where to watch");
        assert!(watch.metrics.is_some());
        assert!(!watch.socket.exists(), "the node removed its socket");
    }
}
