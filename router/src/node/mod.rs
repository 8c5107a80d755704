//! A running node: ports opened from the configuration, one forwarding worker per core, the
//! control-plane thread, and the control socket that `brick show` talks to.
//!
//! ```text
//!  worker w (core c): rx queue w of every port --Pipeline--> tx queue w of every port
//!        |   ^ to_wire frames (ARP, ICMP, slow path), doorbell wakes an idle worker
//!        v   |
//!  control thread: ControlPlane (ARP, ICMP, slow path), ARP timers, what `show` reads
//!  socket thread:  `show routes | neighbors | ports | counters`
//! ```
//!
//! Each queue belongs to one worker; the control plane sends through the workers' tx queues
//! over the punt path's `to_wire` ring, so no queue is ever shared.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use brick_io::poll::{self, Doorbell, Idle, IdleStep};
use brick_io::{Burst, IdlePolicy, Pool, PoolConfig, Port, PortStats, Priority, Rx, Tx, clock};
use brick_routing::rib::{Rib, Route, Source};
use brick_routing::{Fib, FibReader, Gateway, Key, Lpm, Poptrie4, Poptrie6, Prefix};

use crate::classify::Local;
use crate::config::{Config, IfAddr6, RouteTarget};
use crate::control::{ControlCounters, ControlPlane, ControlPort, Limits, Out};
use crate::neighbor::Macs;
use crate::pipeline::{Counters, Pipeline};
use crate::punt::{PuntPath, RateLimit};
use crate::verdict::{DropReason, Punt};
use crate::wire::ethernet::EthernetAddress;

mod metrics;
mod show;

pub use show::{COMMANDS, request};

/// Why a node did not start.
#[derive(Debug)]
pub enum NodeError {
    /// A port or a worker could not be set up.
    Io(brick_io::Error),
    /// The tables could not be built.
    Routing(brick_routing::Error),
    /// Anything else, said in words.
    Setup(String),
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeError::Io(e) => write!(f, "{e}"),
            NodeError::Routing(e) => write!(f, "routing table: {e}"),
            NodeError::Setup(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<brick_io::Error> for NodeError {
    fn from(e: brick_io::Error) -> Self {
        NodeError::Io(e)
    }
}

impl From<brick_routing::Error> for NodeError {
    fn from(e: brick_routing::Error) -> Self {
        NodeError::Routing(e)
    }
}

/// A worker's counters as the other threads read them: the worker stores its plain counters
/// here after each busy round (relaxed stores, one writer), readers load them whenever.
#[derive(Debug, Default)]
struct Published {
    cells: [AtomicU64; 3 + DropReason::ALL.len() + Punt::ALL.len() + 1],
    /// The core the worker is pinned to.
    core: usize,
    /// Frames the worker took from its rx queues.
    rx: AtomicU64,
    /// Nanoseconds spent in poll rounds that found work: with the wall clock, how loaded the
    /// core is, which a poll-mode worker's 100 % CPU in `top` does not tell.
    busy_ns: AtomicU64,
}

impl Published {
    fn store(&self, c: &Counters) {
        let values = [c.forwarded, c.tx_dropped, c.punt_limited, c.punt_ring_full]
            .into_iter()
            .chain(c.drops)
            .chain(c.punts);
        for (cell, v) in self.cells.iter().zip(values) {
            cell.store(v, Ordering::Relaxed);
        }
    }

    fn store_poll(&self, rx: u64, busy_ns: u64) {
        self.rx.store(rx, Ordering::Relaxed);
        self.busy_ns.store(busy_ns, Ordering::Relaxed);
    }

    fn load(&self) -> Counters {
        let v: Vec<u64> = self
            .cells
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let mut c = Counters {
            forwarded: v[0],
            tx_dropped: v[1],
            punt_limited: v[2],
            punt_ring_full: v[3],
            ..Counters::default()
        };
        c.drops.copy_from_slice(&v[4..4 + DropReason::ALL.len()]);
        c.punts.copy_from_slice(&v[4 + DropReason::ALL.len()..]);
        c
    }
}

/// The link between one worker and the control plane.
#[derive(Debug)]
struct Link {
    path: Arc<PuntPath>,
    bell: Arc<Doorbell>,
}

/// A port as `show ports` describes it.
#[derive(Debug)]
struct PortView {
    name: String,
    backend: String,
    mode: String,
    mac: EthernetAddress,
    mtu: u16,
    addresses: Vec<String>,
    stats: PortStats,
}

/// What the control thread last published for `show`.
#[derive(Debug, Default)]
struct ControlView {
    counters: ControlCounters,
    neighbors: Vec<(IpAddr, Option<EthernetAddress>, &'static str, Option<u16>)>,
    to_wire_full: u64,
}

/// Everything the control socket reads.
#[derive(Debug)]
struct Shared {
    node: u16,
    ports: Vec<PortView>,
    routes: Mutex<Rib<u32>>,
    routes6: Mutex<Rib<u128>>,
    /// The published IPv4 FIB, as the workers read it.
    fib: FibReader<u32, Poptrie4>,
    workers: Vec<Arc<Published>>,
    control: Mutex<ControlView>,
}

/// A running node. Dropping it stops every thread and removes the control socket.
#[derive(Debug)]
pub struct Node {
    stop: Arc<AtomicBool>,
    /// Stops the control thread, which says goodbye to the links before the workers stop.
    closing: Arc<AtomicBool>,
    control: Option<JoinHandle<()>>,
    threads: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    socket: PathBuf,
    metrics: Option<std::net::SocketAddr>,
}

/// Threads started so far; dropped on an error before the node is whole, they are stopped and
/// joined.
struct Threads {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Drop for Threads {
    fn drop(&mut self) {
        if self.handles.is_empty() {
            return;
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.handles.drain(..) {
            let _ = t.join();
        }
    }
}

/// How often the control thread runs the ARP timers and refreshes what `show` reads.
const TICK: Duration = Duration::from_millis(100);

impl Node {
    /// Opens the configured ports and starts the node.
    pub fn start(cfg: &Config) -> Result<Node, NodeError> {
        let ports = cfg
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| Ok(p.backend.open()?.with_id(i as u16)))
            .collect::<Result<Vec<_>, NodeError>>()?;
        Node::start_with(cfg, ports)
    }

    /// Starts the node on ports already opened (in `cfg.ports` order, `cfg.cores.len()` queues
    /// each): the way tests and the demo run it on mem cables.
    pub fn start_with(cfg: &Config, ports: Vec<Port>) -> Result<Node, NodeError> {
        let workers = cfg.cores.len();
        let macs = (cfg.ports.iter().zip(&ports))
            .map(|(pc, port)| {
                pc.mac.or(port.mac().map(EthernetAddress)).ok_or_else(|| {
                    NodeError::Setup(format!(
                        "port {}: the backend has no MAC address; set `mac = \"02:..\"`",
                        pc.name
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Each port's addresses, then its link-local one (last: a peer on another subnet gets
        // a configured address as the source of what the router sends it).
        let own6: Vec<Vec<IfAddr6>> = (cfg.ports.iter().zip(&macs))
            .map(|(pc, mac)| {
                let ll = IfAddr6 {
                    addr: crate::wire::ipv6::link_local(mac.0),
                    len: 64,
                };
                pc.addresses6.iter().copied().chain([ll]).collect()
            })
            .collect();
        let all_addrs6: Vec<Ipv6Addr> = own6.iter().flatten().map(|a| a.addr).collect();
        let all_addrs: Vec<Ipv4Addr> = cfg
            .ports
            .iter()
            .flat_map(|p| p.addresses.iter().map(|a| a.addr))
            .collect();
        let broadcasts: Vec<Ipv4Addr> = cfg
            .ports
            .iter()
            .flat_map(|p| p.addresses.iter().filter_map(|a| a.broadcast()))
            .collect();
        let mut control_ports = Vec::new();
        let mut views = Vec::new();
        for (((pc, port), &mac), own6) in cfg.ports.iter().zip(&ports).zip(&macs).zip(own6) {
            if port.rx_queues() != workers || port.tx_queues() != workers {
                return Err(NodeError::Setup(format!(
                    "port {}: {} rx and {} tx queues for {workers} workers",
                    pc.name,
                    port.rx_queues(),
                    port.tx_queues()
                )));
            }
            let mtu = pc
                .mtu
                .or(port.mtu().map(|m| m.min(usize::from(u16::MAX)) as u16))
                .unwrap_or(1500);
            control_ports.push(ControlPort {
                local: Local {
                    mac,
                    addrs: all_addrs.clone(),
                    addrs6: all_addrs6.clone(),
                    broadcasts: broadcasts.clone(),
                    mtu,
                },
                own: pc.addresses.clone(),
                own6: own6.clone(),
            });
            views.push(PortView {
                name: pc.name.clone(),
                backend: pc.backend.to_string(),
                mode: port.mode().to_string(),
                mac,
                mtu,
                addresses: pc
                    .addresses
                    .iter()
                    .map(|a| a.to_string())
                    .chain(own6.iter().map(|a| a.to_string()))
                    .collect(),
                stats: port.stats(),
            });
        }

        let mut connected = Vec::new();
        let mut connected6 = Vec::new();
        for (i, p) in cfg.ports.iter().enumerate() {
            connected.extend(p.addresses.iter().map(|a| (a.subnet(), i as u16)));
            connected6.extend(p.addresses6.iter().map(|a| (a.subnet(), i as u16)));
        }
        let rib = build_rib(&connected, cfg.routes.iter().map(|r| (r.prefix, r.target)))?;
        // A link-local gateway is known by its address with the port inside (see
        // `wire::ipv6::scoped`): the FIB, the neighbour table and the data path's MACs all key
        // it that way.
        let rib6 = build_rib(
            &connected6,
            cfg.routes6.iter().map(|r| match r.target {
                RouteTarget::ViaOn(a, port) => (
                    r.prefix,
                    RouteTarget::ViaOn(crate::wire::ipv6::scoped(a, port), port),
                ),
                t => (r.prefix, t),
            }),
        )?;
        let (routes6, groups6) = rib6.snapshot();
        let (_writer6, reader6) = Fib::new(Poptrie6::from_routes(&routes6)?, groups6).publish();
        let (routes, groups) = rib.snapshot();
        let (_writer, reader) = Fib::new(Poptrie4::from_routes(&routes)?, groups).publish();
        let macs = Macs::default();

        // Queue w of every port goes to worker w.
        let mut rx: Vec<Vec<Rx>> = (0..workers).map(|_| Vec::new()).collect();
        let mut tx: Vec<Vec<Tx>> = (0..workers).map(|_| Vec::new()).collect();
        for port in ports {
            let (prx, ptx) = port.split();
            for (w, q) in prx.into_iter().enumerate() {
                rx[w].push(q);
            }
            for (w, q) in ptx.into_iter().enumerate() {
                tx[w].push(q);
            }
        }

        // Everything that can be refused is bound before a thread starts.
        let metrics_listener = match cfg.metrics {
            Some(addr) => Some(
                std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|e| NodeError::Setup(format!("metrics listen {addr}: {e}")))?,
            ),
            None => None,
        };
        let listener = show::bind(&cfg.socket)?;

        let stop = Arc::new(AtomicBool::new(false));
        let mut links = Vec::new();
        let mut published = Vec::new();
        // Stops and joins what started if a later step fails.
        let mut threads = Threads {
            stop: Arc::clone(&stop),
            handles: Vec::new(),
        };
        let locals: Vec<Local> = control_ports.iter().map(|p| p.local.clone()).collect();
        for (w, (rx, tx)) in rx.into_iter().zip(tx).enumerate() {
            let link = Link {
                path: Arc::new(PuntPath::new(1024)),
                bell: Arc::new(Doorbell::new()?),
            };
            let counters = Arc::new(Published {
                core: cfg.cores[w],
                ..Published::default()
            });
            let worker = Worker {
                rx,
                tx,
                pipeline: (
                    reader.clone(),
                    reader6.clone(),
                    locals.clone(),
                    macs.clone(),
                ),
                path: Arc::clone(&link.path),
                bell: Arc::clone(&link.bell),
                punt_rate: cfg.punt_rate,
                idle: cfg.idle,
                priority: cfg.priority,
                counters: Arc::clone(&counters),
                stop: Arc::clone(&stop),
            };
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            threads.handles.push(poll::spawn(
                format!("brick-w{w}"),
                Some(cfg.cores[w]),
                move || worker.run(ready_tx),
            )?);
            ready_rx
                .recv()
                .map_err(|_| NodeError::Setup(format!("worker {w} died while starting")))?
                .map_err(NodeError::Io)?;
            links.push(link);
            published.push(counters);
        }

        let shared = Arc::new(Shared {
            node: cfg.node,
            ports: views,
            routes: Mutex::new(rib),
            routes6: Mutex::new(rib6),
            fib: reader.clone(),
            workers: published,
            control: Mutex::new(ControlView::default()),
        });
        let limits = Limits {
            icmp_rate: cfg.icmp_rate,
            ..Limits::default()
        };
        let control = ControlPlane::new(control_ports, reader, macs, limits)
            .with_v6(reader6)
            .with_static_neighbors(cfg.neighbors.iter().map(|n| match (n.addr, n.port) {
                // Known by the scoped address, as the gateways of routes through it are.
                (IpAddr::V6(a), Some(port)) => {
                    (IpAddr::V6(crate::wire::ipv6::scoped(a, port)), n.mac)
                }
                _ => (n.addr, n.mac),
            }))
            .with_router_adverts(
                (0..cfg.ports.len() as u16).filter(|&i| cfg.ports[usize::from(i)].ra),
            );
        let closing = Arc::new(AtomicBool::new(false));
        let (s, c, sh) = (Arc::clone(&stop), Arc::clone(&closing), Arc::clone(&shared));
        threads
            .handles
            .push(poll::spawn("brick-control", None, move || {
                control_loop(control, links, &sh, &s, &c)
            })?);
        let control = threads.handles.pop();
        let metrics = match metrics_listener {
            Some(l) => {
                let local = l.local_addr().ok();
                let (s, sh) = (Arc::clone(&stop), Arc::clone(&shared));
                threads
                    .handles
                    .push(poll::spawn("brick-metrics", None, move || {
                        metrics::serve(l, &sh, &s)
                    })?);
                local
            }
            None => None,
        };
        let (s, sh) = (Arc::clone(&stop), Arc::clone(&shared));
        threads
            .handles
            .push(poll::spawn("brick-socket", None, move || {
                show::serve(listener, &sh, &s)
            })?);
        if matches!(cfg.priority, Priority::Realtime(_))
            && !matches!(cfg.idle, IdlePolicy::Interrupt(_))
        {
            tracing::warn!(
                idle = %cfg.idle,
                "realtime workers that do not sleep at once when idle keep the kernel's receive \
                 work off their cores: fine on cores of their own, a stall where a port's NAPI \
                 or ksoftirqd shares them (idle = \"interrupt\" there)"
            );
        }
        tracing::info!(
            node = cfg.node,
            ports = cfg.ports.len(),
            workers,
            priority = %cfg.priority,
            socket = %cfg.socket.display(),
            metrics = ?metrics,
            "node started"
        );
        Ok(Node {
            stop,
            closing,
            control,
            threads: std::mem::take(&mut threads.handles),
            shared,
            socket: cfg.socket.clone(),
            metrics,
        })
    }

    /// The answer to a control command, as the socket gives it.
    pub fn command(&self, line: &str) -> String {
        show::answer(&self.shared, line)
    }

    /// The forwarding counters of all workers, summed (what `show counters` prints).
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// Bytes of the IPv4 FIB's lookup structure (what the forwarding cores keep in cache).
    pub fn fib_bytes(&self) -> usize {
        self.shared.fib.load().lookup_bytes()
    }

    /// Where the Prometheus endpoint listens (the bound address when the configuration asked
    /// for port 0).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics
    }

    /// The Prometheus exposition, as a scrape gets it.
    pub fn metrics(&self) -> String {
        metrics::render(&self.shared)
    }

    /// Stops every thread and removes the control socket.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // The control thread first: its last frames (router advertisements with lifetime 0)
        // are still sent by the workers, which drain them before they stop.
        self.closing.store(true, Ordering::Relaxed);
        if let Some(c) = self.control.take() {
            let _ = c.join();
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    /// Every worker's forwarding counters, summed.
    fn counters(&self) -> Counters {
        let mut total = Counters::default();
        for w in &self.workers {
            total.add(&w.load());
        }
        total
    }
}

/// A RIB of `connected` subnets (with their ports) and static routes to `targets`; a gateway's
/// port is the port whose subnet holds it.
fn build_rib<K: Key + Default, A: Copy + std::fmt::Display + Into<K>>(
    connected: &[(Prefix<K>, u16)],
    statics: impl Iterator<Item = (Prefix<K>, RouteTarget<A>)>,
) -> Result<Rib<K>, NodeError> {
    let mut rib = Rib::default();
    for &(subnet, port) in connected {
        let gw = Gateway {
            port,
            addr: K::default(),
        };
        rib.add(subnet, Route::new(Source::Connected, 0, vec![gw]))?;
    }
    // In prefix order, the RIB's tree is filled along one hot path instead of a cache miss per
    // level for every route: a full table loads several times faster.
    let mut statics: Vec<_> = statics.collect();
    statics.sort_unstable_by_key(|&(prefix, _)| prefix);
    for (prefix, target) in statics {
        let gw = match target {
            RouteTarget::ViaOn(via, port) => Gateway {
                port,
                addr: via.into(),
            },
            RouteTarget::Port(port) => Gateway {
                port,
                addr: K::default(),
            },
            RouteTarget::Via(via) => {
                let addr: K = via.into();
                let port = connected
                    .iter()
                    .find(|(subnet, _)| subnet.contains(addr))
                    .map(|&(_, port)| port)
                    .ok_or_else(|| {
                        NodeError::Setup(format!("route {prefix}: via {via} is on no port"))
                    })?;
                Gateway { port, addr }
            }
        };
        rib.add(prefix, Route::new(Source::Static, 0, vec![gw]))?;
    }
    Ok(rib)
}

/// One forwarding worker, built on its own thread (its pool and packets belong to it).
struct Worker {
    rx: Vec<Rx>,
    tx: Vec<Tx>,
    pipeline: (
        FibReader<u32, Poptrie4>,
        FibReader<u128, Poptrie6>,
        Vec<Local>,
        Macs,
    ),
    path: Arc<PuntPath>,
    bell: Arc<Doorbell>,
    punt_rate: u32,
    idle: brick_io::IdlePolicy,
    priority: Priority,
    counters: Arc<Published>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self, ready: std::sync::mpsc::Sender<Result<(), brick_io::Error>>) {
        let pool = match poll::set_priority(self.priority)
            .and_then(|()| Pool::new(PoolConfig::default()))
        {
            Ok(p) => p,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let (fib, fib6, locals, macs) = self.pipeline;
        // Bursts of punts up to a tenth of a second's worth, at least one full rx burst.
        let limit = RateLimit::new(self.punt_rate, (self.punt_rate / 10).max(64));
        let mut pipeline = Pipeline::new(fib, locals, macs)
            .with_v6(fib6)
            .with_punt(Arc::clone(&self.path), limit);
        let mut burst = Burst::new(brick_io::DEFAULT_BURST);
        let mut one = Burst::new(1);
        let mut idle = Idle::new(self.idle);
        let mut armed = false;
        let wake = [self.bell.fd()];
        let (mut rx, mut busy_ns) = (0, 0);
        while !self.stop.load(Ordering::Relaxed) {
            let round = clock::now_ns();
            let mut work = 0;
            for q in self.rx.iter_mut() {
                let n = q.rx_burst(&pool, &mut burst);
                if n != 0 {
                    work += n;
                    pipeline.process(q.port(), &mut burst, &mut self.tx);
                }
            }
            rx += work as u64;
            work += send_control_frames(&self.path, &mut self.tx, &pool, &mut one);
            if work != 0 {
                busy_ns += clock::now_ns().saturating_sub(round);
                self.counters.store(&pipeline.counters);
                self.counters.store_poll(rx, busy_ns);
                idle.busy();
                armed = false;
            } else if armed {
                idle.block(&self.rx, &wake);
                armed = false;
            } else {
                armed = idle.empty(&mut self.rx) == IdleStep::Armed;
                if armed {
                    self.bell.arm();
                    for tx in self.tx.iter_mut() {
                        tx.flush();
                    }
                }
            }
        }
        // What the control plane said last (its goodbye) still goes out.
        send_control_frames(&self.path, &mut self.tx, &pool, &mut one);
        for tx in self.tx.iter_mut() {
            tx.flush();
        }
        self.counters.store(&pipeline.counters);
    }
}

/// Sends the frames the control plane queued for the wire; returns how many.
fn send_control_frames(path: &PuntPath, tx: &mut [Tx], pool: &Pool, one: &mut Burst) -> usize {
    let mut n = 0;
    while let Some((port, frame)) = path.to_wire.pop() {
        n += 1;
        if let (Some(tx), Some(p)) = (tx.get_mut(usize::from(port)), pool.alloc_from(&frame)) {
            let _ = one.push(p);
            tx.tx_burst(one);
        }
    }
    n
}

fn control_loop(
    mut cp: ControlPlane<Poptrie4>,
    links: Vec<Link>,
    shared: &Shared,
    stop: &AtomicBool,
    closing: &AtomicBool,
) {
    let now_ms = || clock::now_ns() / 1_000_000;
    let to_wire_full = AtomicU64::new(0);
    let send = |out: Out, link: &Link| {
        let n = out.len();
        for f in out {
            if link.path.to_wire.push(f).is_err() {
                to_wire_full.fetch_add(1, Ordering::Relaxed);
            }
        }
        if n != 0 {
            link.bell.ring();
        }
    };
    send(cp.announce(), &links[0]);
    let (mut next_tick, mut next_list, mut arp_seen) = (0, 0, false);
    while !stop.load(Ordering::Relaxed) && !closing.load(Ordering::Relaxed) {
        let mut did = 0;
        for link in &links {
            // At most a few hundred per worker and round, so a flood on one port neither
            // starves the others nor the timers below.
            for p in std::iter::from_fn(|| link.path.to_control.pop()).take(256) {
                did += 1;
                arp_seen |= matches!(p.kind, Punt::Arp | Punt::Unresolved);
                let out = cp.handle(&p, now_ms());
                send(out, link);
            }
        }
        let now = now_ms();
        let tick = now >= next_tick;
        if tick {
            next_tick = now + TICK.as_millis() as u64;
            send(cp.tick(now), &links[0]);
        }
        // The neighbour list is refreshed on every tick, and soon after ARP traffic, but at
        // most every 10 ms: a full table is thousands of entries.
        let list = tick || (arp_seen && now >= next_list);
        if (list || did != 0)
            && let Ok(mut v) = shared.control.lock()
        {
            v.counters = cp.counters;
            v.to_wire_full = to_wire_full.load(Ordering::Relaxed);
            if list {
                v.neighbors = cp.neighbor_list();
                (next_list, arp_seen) = (now + 10, false);
            }
        }
        if did == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    send(cp.goodbye(), &links[0]);
}
