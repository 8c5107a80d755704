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

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use brick_io::poll::{self, Doorbell, Idle, IdleStep};
use brick_io::{Burst, Pool, PoolConfig, Port, PortStats, Rx, Tx, clock};
use brick_routing::rib::{Rib, Route, Source};
use brick_routing::{Fib, FibReader, Gateway, Lpm, Poptrie4};

use crate::classify::Local;
use crate::config::{Config, RouteTarget};
use crate::control::{ControlCounters, ControlPlane, ControlPort, Limits, Out};
use crate::neighbor::Macs;
use crate::pipeline::{Counters, Pipeline};
use crate::punt::{PuntPath, RateLimit};
use crate::verdict::{DropReason, Punt};
use crate::wire::ethernet::EthernetAddress;

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
    neighbors: Vec<(Ipv4Addr, Option<EthernetAddress>, &'static str)>,
    to_wire_full: u64,
}

/// Everything the control socket reads.
#[derive(Debug)]
struct Shared {
    node: u16,
    ports: Vec<PortView>,
    routes: Mutex<Rib<u32>>,
    workers: Vec<Arc<Published>>,
    control: Mutex<ControlView>,
}

/// A running node. Dropping it stops every thread and removes the control socket.
#[derive(Debug)]
pub struct Node {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    socket: PathBuf,
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
        for (pc, port) in cfg.ports.iter().zip(&ports) {
            if port.rx_queues() != workers || port.tx_queues() != workers {
                return Err(NodeError::Setup(format!(
                    "port {}: {} rx and {} tx queues for {workers} workers",
                    pc.name,
                    port.rx_queues(),
                    port.tx_queues()
                )));
            }
            let mac = pc.mac.or(port.mac().map(EthernetAddress)).ok_or_else(|| {
                NodeError::Setup(format!(
                    "port {}: the backend has no MAC address; set `mac = \"02:..\"`",
                    pc.name
                ))
            })?;
            let mtu = pc
                .mtu
                .or(port.mtu().map(|m| m.min(usize::from(u16::MAX)) as u16))
                .unwrap_or(1500);
            control_ports.push(ControlPort {
                local: Local {
                    mac,
                    addrs: all_addrs.clone(),
                    broadcasts: broadcasts.clone(),
                    mtu,
                },
                own: pc.addresses.clone(),
            });
            views.push(PortView {
                name: pc.name.clone(),
                backend: pc.backend.to_string(),
                mode: port.mode().to_string(),
                mac,
                mtu,
                addresses: pc.addresses.iter().map(|a| a.to_string()).collect(),
                stats: port.stats(),
            });
        }

        let rib = build_rib(cfg)?;
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

        let stop = Arc::new(AtomicBool::new(false));
        let mut links = Vec::new();
        let mut published = Vec::new();
        let mut threads = Vec::new();
        let locals: Vec<Local> = control_ports.iter().map(|p| p.local.clone()).collect();
        for (w, (rx, tx)) in rx.into_iter().zip(tx).enumerate() {
            let link = Link {
                path: Arc::new(PuntPath::new(1024)),
                bell: Arc::new(Doorbell::new()?),
            };
            let counters = Arc::new(Published::default());
            let worker = Worker {
                rx,
                tx,
                pipeline: (reader.clone(), locals.clone(), macs.clone()),
                path: Arc::clone(&link.path),
                bell: Arc::clone(&link.bell),
                punt_rate: cfg.punt_rate,
                idle: cfg.idle,
                counters: Arc::clone(&counters),
                stop: Arc::clone(&stop),
            };
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            threads.push(poll::spawn(
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
            workers: published,
            control: Mutex::new(ControlView::default()),
        });
        let limits = Limits {
            icmp_rate: cfg.icmp_rate,
            ..Limits::default()
        };
        let control = ControlPlane::new(control_ports, reader, macs, limits);
        let (s, sh) = (Arc::clone(&stop), Arc::clone(&shared));
        threads.push(poll::spawn("brick-control", None, move || {
            control_loop(control, links, &sh, &s)
        })?);
        let listener = bind(&cfg.socket)?;
        let (s, sh) = (Arc::clone(&stop), Arc::clone(&shared));
        threads.push(poll::spawn("brick-socket", None, move || {
            serve(listener, &sh, &s)
        })?);
        tracing::info!(
            node = cfg.node,
            ports = cfg.ports.len(),
            workers,
            socket = %cfg.socket.display(),
            "node started"
        );
        Ok(Node {
            stop,
            threads,
            shared,
            socket: cfg.socket.clone(),
        })
    }

    /// The answer to a control command, as the socket gives it.
    pub fn command(&self, line: &str) -> String {
        answer(&self.shared, line)
    }

    /// Stops every thread and removes the control socket.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
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

/// Connected routes for every port address, then the static routes.
fn build_rib(cfg: &Config) -> Result<Rib<u32>, NodeError> {
    let mut rib = Rib::default();
    for (i, p) in cfg.ports.iter().enumerate() {
        for a in &p.addresses {
            let gw = Gateway {
                port: i as u16,
                addr: 0,
            };
            rib.add(a.subnet(), Route::new(Source::Connected, 0, vec![gw]))?;
        }
    }
    for r in &cfg.routes {
        let gw = match r.target {
            RouteTarget::Port(port) => Gateway { port, addr: 0 },
            RouteTarget::Via(via) => {
                let port = cfg
                    .ports
                    .iter()
                    .position(|p| {
                        p.addresses
                            .iter()
                            .any(|a| a.subnet().contains(u32::from(via)))
                    })
                    .ok_or_else(|| {
                        NodeError::Setup(format!("route {}: via {via} is on no port", r.prefix))
                    })?;
                Gateway {
                    port: port as u16,
                    addr: u32::from(via),
                }
            }
        };
        rib.add(r.prefix, Route::new(Source::Static, 0, vec![gw]))?;
    }
    Ok(rib)
}

/// One forwarding worker, built on its own thread (its pool and packets belong to it).
struct Worker {
    rx: Vec<Rx>,
    tx: Vec<Tx>,
    pipeline: (FibReader<u32, Poptrie4>, Vec<Local>, Macs),
    path: Arc<PuntPath>,
    bell: Arc<Doorbell>,
    punt_rate: u32,
    idle: brick_io::IdlePolicy,
    counters: Arc<Published>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self, ready: std::sync::mpsc::Sender<Result<(), brick_io::Error>>) {
        let pool = match Pool::new(PoolConfig::default()) {
            Ok(p) => p,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let (fib, locals, macs) = self.pipeline;
        // Bursts of punts up to a tenth of a second's worth, at least one full rx burst.
        let limit = RateLimit::new(self.punt_rate, (self.punt_rate / 10).max(64));
        let mut pipeline =
            Pipeline::new(fib, locals, macs).with_punt(Arc::clone(&self.path), limit);
        let mut burst = Burst::new(brick_io::DEFAULT_BURST);
        let mut one = Burst::new(1);
        let mut idle = Idle::new(self.idle);
        let mut armed = false;
        let wake = [self.bell.fd()];
        while !self.stop.load(Ordering::Relaxed) {
            let mut work = 0;
            for q in self.rx.iter_mut() {
                let n = q.rx_burst(&pool, &mut burst);
                if n != 0 {
                    work += n;
                    pipeline.process(q.port(), &mut burst, &mut self.tx);
                }
            }
            while let Some((port, frame)) = self.path.to_wire.pop() {
                work += 1;
                if let (Some(tx), Some(p)) =
                    (self.tx.get_mut(usize::from(port)), pool.alloc_from(&frame))
                {
                    let _ = one.push(p);
                    tx.tx_burst(&mut one);
                }
            }
            if work != 0 {
                self.counters.store(&pipeline.counters);
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
        self.counters.store(&pipeline.counters);
    }
}

fn control_loop(
    mut cp: ControlPlane<Poptrie4>,
    links: Vec<Link>,
    shared: &Shared,
    stop: &AtomicBool,
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
    while !stop.load(Ordering::Relaxed) {
        let mut did = 0;
        for link in &links {
            while let Some(p) = link.path.to_control.pop() {
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
                v.neighbors = cp.neighbors().list();
                (next_list, arp_seen) = (now + 10, false);
            }
        }
        if did == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Binds the control socket; a socket file left by a dead node is replaced, a live one refused.
fn bind(path: &Path) -> Result<UnixListener, NodeError> {
    let err = |what: &str, e: std::io::Error| {
        NodeError::Setup(format!("control socket {}: {what}: {e}", path.display()))
    };
    if UnixStream::connect(path).is_ok() {
        return Err(NodeError::Setup(format!(
            "control socket {}: another node is running there (stop it, or set [control] socket)",
            path.display()
        )));
    }
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err("create its directory", e))?;
    }
    let l = UnixListener::bind(path).map_err(|e| err("bind", e))?;
    l.set_nonblocking(true)
        .map_err(|e| err("set non-blocking", e))?;
    Ok(l)
}

fn serve(listener: UnixListener, shared: &Shared, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut line = String::new();
                let mut reader = BufReader::new(&conn);
                let reply = match reader.read_line(&mut line) {
                    Ok(_) => answer(shared, line.trim()),
                    Err(e) => format!("error: reading the command: {e}\n"),
                };
                let _ = (&conn).write_all(reply.as_bytes());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The commands the control socket understands.
pub const COMMANDS: &str = "show routes | show neighbors | show ports | show counters";

fn answer(shared: &Shared, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut o = String::new();
    match words.as_slice() {
        ["show", "routes"] => {
            let _ = writeln!(
                o,
                "{:<20} {:<10} {:>4} {:>6}  next hops",
                "prefix", "source", "ad", "metric"
            );
            if let Ok(rib) = shared.routes.lock() {
                for (prefix, r) in rib.routes() {
                    let hops: Vec<String> = r
                        .paths
                        .iter()
                        .map(|g| {
                            let port = shared
                                .ports
                                .get(usize::from(g.port))
                                .map_or("?", |p| &p.name);
                            if g.addr == 0 {
                                format!("dev {port}")
                            } else {
                                format!("via {} dev {port}", Ipv4Addr::from(g.addr))
                            }
                        })
                        .collect();
                    let _ = writeln!(
                        o,
                        "{:<20} {:<10} {:>4} {:>6}  {}",
                        prefix.to_string(),
                        r.source.as_str(),
                        r.distance,
                        r.metric,
                        hops.join(", ")
                    );
                }
            }
        }
        ["show", "neighbors"] => {
            let _ = writeln!(o, "{:<16} {:<18} state", "address", "mac");
            if let Ok(v) = shared.control.lock() {
                for (ip, mac, state) in &v.neighbors {
                    let mac = mac.map_or("-".to_string(), |m| m.to_string());
                    let _ = writeln!(o, "{:<16} {:<18} {state}", ip.to_string(), mac);
                }
            }
        }
        ["show", "ports"] => {
            for (i, p) in shared.ports.iter().enumerate() {
                let s = p.stats.total();
                let _ = writeln!(
                    o,
                    "{i}: {} {} {}\n   mac {} mtu {} addresses {}\n   rx {} packets {} bytes, tx {} packets {} bytes, dropped {}",
                    p.name,
                    p.backend,
                    p.mode,
                    p.mac,
                    p.mtu,
                    p.addresses.join(" "),
                    s.rx_packets,
                    s.rx_bytes,
                    s.tx_packets,
                    s.tx_bytes,
                    s.total_drops()
                );
                for (why, n) in s.nonzero_drops() {
                    let _ = writeln!(o, "   dropped {n} {}", why.as_str());
                }
            }
        }
        ["show", "counters"] => {
            let mut total = Counters::default();
            for w in &shared.workers {
                total.add(&w.load());
            }
            let _ = writeln!(
                o,
                "node {} data path ({} workers):",
                shared.node,
                shared.workers.len()
            );
            for (name, v) in total.named() {
                let _ = writeln!(o, "  {name:<28} {v}");
            }
            let _ = writeln!(o, "control plane:");
            if let Ok(v) = shared.control.lock() {
                for (name, n) in v.counters.named() {
                    let _ = writeln!(o, "  {name:<28} {n}");
                }
                let _ = writeln!(o, "  {:<28} {}", "to_wire_full", v.to_wire_full);
            }
        }
        [] => o.push_str(&format!("error: empty command; commands: {COMMANDS}\n")),
        _ => o.push_str(&format!(
            "error: unknown command {line:?}; commands: {COMMANDS}\n"
        )),
    }
    o
}

/// Sends one command to the node behind `socket` and returns its answer (`brick show`).
pub fn request(socket: &Path, command: &str) -> Result<String, String> {
    let mut conn = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach a node on {}: {e} (is `brick run` up? see [control] socket)",
            socket.display()
        )
    })?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    writeln!(conn, "{command}").map_err(|e| e.to_string())?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut conn, &mut out).map_err(|e| e.to_string())?;
    match out.strip_prefix("error: ") {
        Some(e) => Err(e.trim_end().to_string()),
        None => Ok(out),
    }
}
