//! The node's configuration file (TOML), checked before anything starts.
//!
//! ```toml
//! node = 1                                # this node's id in a cluster
//!
//! [dataplane]
//! cores = [0, 1]                          # one worker per core; each port gets one queue each
//! idle = "adaptive"                       # busy | adaptive | interrupt
//! nice = -5                               # workers' nice value, -20..=19 (default 0)
//! # realtime = 10                         # or SCHED_FIFO at 1..=99 (see docs/configuration.md)
//!
//! [control]
//! socket = "/run/brick/brick.sock"        # where `brick show` connects
//! punt_rate = 10000                       # frames/s per worker and punt kind to the control plane
//! icmp_rate = 100                         # ICMP errors/s to one source
//!
//! [metrics]
//! listen = "127.0.0.1:9179"               # Prometheus scrapes http://ADDR/metrics
//!
//! [[port]]
//! name = "lan"
//! backend = "af_packet:veth1"             # af_packet:IF[,opts][@NETNS] or af_xdp:IF[,opts][@NETNS]
//! addresses = ["10.1.0.1/24", "fd01::1/64"]
//! mtu = 1500                              # default: the interface's
//! mac = "02:00:00:00:01:01"               # default: the interface's
//! ra = true                               # send IPv6 router advertisements (default false)
//!
//! [[port]]
//! name = "wan"
//! backend = "af_xdp:veth2"
//! addresses = ["10.2.0.1/24"]
//!
//! [[route]]
//! prefix = "0.0.0.0/0"
//! via = "10.2.0.2"                        # or `port = "wan"` for an on-link route
//!
//! [[route]]
//! prefix = "::/0"
//! via = "fe80::1"                         # an IPv6 link-local gateway names its port too
//! port = "wan"
//!
//! [[neighbor]]                            # a static ARP / ND entry, never aged or overridden
//! address = "10.2.0.2"                    # on a port's subnet, or IPv6 link-local with `port`
//! mac = "02:00:00:00:02:02"
//! ```
//!
//! Every error names the file, the line and the reason; unknown keys are errors, so a typo never
//! silently falls back to a default.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use brick_io::backend::PortSpec;
use brick_io::{IdlePolicy, Priority};
use brick_routing::{Ipv4Prefix, Ipv6Prefix, Key, Prefix};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use toml::Spanned;

use crate::wire::ethernet::EthernetAddress;

/// A configuration error: where and why, and the errors after it in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line, 0 when the error is about the whole file.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
    /// The other errors found, in line order. A file that is not valid TOML stops at its
    /// first error; otherwise every section and every port, route and neighbour is checked
    /// (routes and neighbours only once the ports are valid, since they name them; a port with
    /// an error is left out of the overlap checks of the ports after it).
    pub more: Vec<ConfigError>,
}

impl ConfigError {
    /// The first of `errors` by line, carrying the others.
    fn all(mut errors: Vec<ConfigError>) -> ConfigError {
        errors.sort_by_key(|e| e.line);
        let mut first = errors.remove(0);
        first.more = errors;
        first
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)?;
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.reason)?;
        }
        self.more.iter().try_for_each(|e| write!(f, "\n{e}"))
    }
}

impl std::error::Error for ConfigError {}

/// An interface address with its subnet length, e.g. `10.1.0.1/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfAddr {
    /// The router's address.
    pub addr: Ipv4Addr,
    /// The subnet's prefix length.
    pub len: u8,
}

impl IfAddr {
    /// The connected subnet.
    pub fn subnet(self) -> Ipv4Prefix {
        let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
        Ipv4Prefix::new(u32::from(self.addr) & mask, self.len).expect("masked")
    }

    /// The subnet's directed broadcast address, if the subnet has one (not /31 or /32).
    pub fn broadcast(self) -> Option<Ipv4Addr> {
        (self.len < 31).then(|| Ipv4Addr::from(u32::from(self.addr) | (u32::MAX >> self.len)))
    }
}

impl FromStr for IfAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("address {s:?} needs a /length, e.g. 10.1.0.1/24"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|l| (1..=32).contains(l))
            .ok_or_else(|| format!("prefix length {l:?} must be 1..=32"))?;
        let o = addr.octets();
        if o[0] == 0 || o[0] == 127 || addr.is_multicast() || o[0] >= 240 {
            return Err(format!("{s}: not a unicast address an interface can have"));
        }
        let host_mask = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let host = u32::from(addr) & host_mask;
        if len < 31 && (host == 0 || host == host_mask) {
            return Err(format!(
                "{s}: the network or broadcast address of its subnet is not an interface address"
            ));
        }
        Ok(IfAddr { addr, len })
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An IPv6 interface address with its prefix length, e.g. `fd01::1/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfAddr6 {
    /// The router's address.
    pub addr: Ipv6Addr,
    /// The subnet's prefix length.
    pub len: u8,
}

impl IfAddr6 {
    /// The connected subnet.
    pub fn subnet(self) -> Ipv6Prefix {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.len))
            .unwrap_or(0);
        Ipv6Prefix::new(u128::from(self.addr) & mask, self.len).expect("masked")
    }
}

impl FromStr for IfAddr6 {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("address {s:?} needs a /length, e.g. fd01::1/64"))?;
        let addr: Ipv6Addr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IPv6 address"))?;
        let len: u8 = l
            .parse()
            .ok()
            .filter(|l| (1..=128).contains(l))
            .ok_or_else(|| format!("prefix length {l:?} must be 1..=128"))?;
        if addr.is_multicast() || addr.is_unspecified() || addr.is_loopback() {
            return Err(format!("{s}: not a unicast address"));
        }
        if crate::wire::ipv6::is_link_local(addr) {
            return Err(format!(
                "{s}: link-local addresses are not configured (routes need global or unique-local ones)"
            ));
        }
        Ok(IfAddr6 { addr, len })
    }
}

impl fmt::Display for IfAddr6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The backend a port is opened with (the mem backend exists only inside one process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend(pub PortSpec);

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "mem" || s.starts_with("mem:") {
            return Err(
                "mem ports join threads of one process; a node started from a file uses \
                 af_packet:IF or af_xdp:IF (`brick demo` runs a node on mem ports)"
                    .into(),
            );
        }
        if s.split(['@', ',']).any(|o| o.starts_with("queues=")) {
            return Err(format!(
                "port {s:?}: queues= is not for a node's ports: a node opens one rx and one tx \
                 queue on every port per worker ([dataplane] cores)"
            ));
        }
        match s.parse::<PortSpec>().map_err(io_reason)? {
            PortSpec::Pcap { .. } => {
                Err("pcap files are not router ports; use them with `brick gen`".into())
            }
            spec => Ok(Backend(spec)),
        }
    }
}

/// One port as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Its name in `show` output and metrics.
    pub name: String,
    /// How to open it.
    pub backend: PortSpec,
    /// The router's IPv4 addresses on it.
    pub addresses: Vec<IfAddr>,
    /// The router's IPv6 addresses on it.
    pub addresses6: Vec<IfAddr6>,
    /// The MTU to enforce on output; `None`: the interface's.
    pub mtu: Option<u16>,
    /// The MAC to use; `None`: the interface's.
    pub mac: Option<EthernetAddress>,
    /// Send IPv6 router advertisements on it (its /64s for address autoconfiguration).
    pub ra: bool,
}

/// Where a static route goes; `A` is the family's address type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteTarget<A = Ipv4Addr> {
    /// Through a gateway on a connected subnet.
    Via(A),
    /// Through an IPv6 link-local gateway on a port (index into [`Config::ports`]).
    ViaOn(A, u16),
    /// On-link out of a port (index into [`Config::ports`]).
    Port(u16),
}

/// A static IPv4 route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticRoute {
    /// Destination.
    pub prefix: Ipv4Prefix,
    /// Next hop.
    pub target: RouteTarget,
}

/// A static IPv6 route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticRoute6 {
    /// Destination.
    pub prefix: Ipv6Prefix,
    /// Next hop.
    pub target: RouteTarget<Ipv6Addr>,
}

/// A checked configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The node id.
    pub node: u16,
    /// One worker per core, pinned.
    pub cores: Vec<usize>,
    /// What workers do when idle.
    pub idle: IdlePolicy,
    /// How the workers are scheduled (`nice` or `realtime`).
    pub priority: Priority,
    /// The control socket.
    pub socket: PathBuf,
    /// Frames per second one worker hands to the control plane, per kind of punt.
    pub punt_rate: u32,
    /// ICMP errors per second to one source.
    pub icmp_rate: u32,
    /// Where the Prometheus endpoint listens, if anywhere.
    pub metrics: Option<SocketAddr>,
    /// The ports, in id order.
    pub ports: Vec<PortConfig>,
    /// Static IPv4 routes.
    pub routes: Vec<StaticRoute>,
    /// Static IPv6 routes.
    pub routes6: Vec<StaticRoute6>,
    /// Static ARP and ND entries.
    pub neighbors: Vec<StaticNeighbor>,
}

/// A neighbour whose MAC the operator fixed, as `ip neigh add ... nud permanent` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticNeighbor {
    /// Its address, on a port's subnet, or IPv6 link-local.
    pub addr: IpAddr,
    /// The port of a link-local neighbour (index into [`Config::ports`]).
    pub port: Option<u16>,
    /// Its MAC.
    pub mac: EthernetAddress,
}

/// The default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/brick/brick.sock";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    node: u16,
    #[serde(default)]
    dataplane: RawDataplane,
    #[serde(default)]
    control: RawControl,
    metrics: Option<RawMetrics>,
    #[serde(default, rename = "port")]
    ports: Vec<Spanned<RawPort>>,
    #[serde(default, rename = "route")]
    routes: Vec<Spanned<RawRoute>>,
    #[serde(default, rename = "neighbor")]
    neighbors: Vec<Spanned<RawNeighbor>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    #[serde(default = "default_cores")]
    cores: Spanned<Vec<usize>>,
    #[serde(default, deserialize_with = "idle_policy")]
    idle: IdlePolicy,
    #[serde(default)]
    nice: Option<Spanned<i64>>,
    #[serde(default)]
    realtime: Option<Spanned<i64>>,
}

impl Default for RawDataplane {
    fn default() -> Self {
        RawDataplane {
            cores: default_cores(),
            idle: IdlePolicy::default(),
            nice: None,
            realtime: None,
        }
    }
}

fn default_cores() -> Spanned<Vec<usize>> {
    Spanned::new(0..0, vec![0])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    #[serde(default = "default_socket")]
    socket: PathBuf,
    #[serde(default = "default_punt_rate")]
    punt_rate: Spanned<u32>,
    #[serde(default = "default_icmp_rate")]
    icmp_rate: Spanned<u32>,
}

impl Default for RawControl {
    fn default() -> Self {
        RawControl {
            socket: default_socket(),
            punt_rate: default_punt_rate(),
            icmp_rate: default_icmp_rate(),
        }
    }
}

fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_SOCKET)
}
fn default_punt_rate() -> Spanned<u32> {
    Spanned::new(0..0, 10_000)
}
fn default_icmp_rate() -> Spanned<u32> {
    Spanned::new(0..0, 100)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    #[serde(deserialize_with = "listen_addr")]
    listen: SocketAddr,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    #[serde(deserialize_with = "from_str")]
    backend: Backend,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    mtu: Option<Spanned<u16>>,
    mac: Option<Spanned<String>>,
    #[serde(default)]
    ra: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Spanned<String>,
    via: Option<Spanned<String>>,
    port: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    address: Spanned<String>,
    mac: Spanned<String>,
    port: Option<Spanned<String>>,
}

/// Deserializes through `FromStr`, so a bad value gets its span (and so its line).
fn from_str<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    String::deserialize(d)?.parse().map_err(de::Error::custom)
}

/// The reason of an I/O crate's configuration error, without its "config:" (the file and line
/// already say where it is).
fn io_reason(e: brick_io::Error) -> String {
    match e {
        brick_io::Error::Config(m) => m,
        e => e.to_string(),
    }
}

/// The workers' scheduling from `nice` and `realtime`, which exclude each other (`nice = 0`,
/// "leave it", goes with either). Read as `i64` so that any integer gets this message.
fn priority(d: &RawDataplane) -> Result<Priority, (usize, String)> {
    let at = |v: &Spanned<i64>| v.span().start;
    match (&d.nice, &d.realtime) {
        (Some(n), _) if !(-20..=19).contains(n.get_ref()) => {
            Err((at(n), format!("nice: {} is outside -20..=19", n.get_ref())))
        }
        (_, Some(r)) if !(1..=99).contains(r.get_ref()) => Err((
            at(r),
            format!("realtime: {} is outside 1..=99", r.get_ref()),
        )),
        (Some(n), Some(r)) if *n.get_ref() != 0 => Err((
            at(r),
            "realtime: a realtime worker has no nice value; give `nice` or `realtime`, not both"
                .into(),
        )),
        (_, Some(r)) => Ok(Priority::Realtime(*r.get_ref() as u8)),
        (Some(n), None) if *n.get_ref() != 0 => Ok(Priority::Nice(*n.get_ref() as i32)),
        _ => Ok(Priority::Inherit),
    }
}

fn idle_policy<'de, D: Deserializer<'de>>(d: D) -> Result<IdlePolicy, D::Error> {
    String::deserialize(d)?
        .parse()
        .map_err(|e| de::Error::custom(io_reason(e)))
}

fn listen_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|_| {
        de::Error::custom(format!(
            "listen {s:?}: expected an IP address and a port, e.g. \"127.0.0.1:9179\" or \
             \"[::1]:9179\" (not a host name)"
        ))
    })
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            reason: format!("cannot read: {e}"),
            ..ConfigError::default()
        })?;
        Self::parse(&file, &text)
    }

    /// Parses and checks a configuration; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let at = |offset: usize, reason: String| ConfigError {
            file: file.to_string(),
            line: text[..offset.min(text.len())].matches('\n').count() + 1,
            reason,
            more: Vec::new(),
        };
        let raw: Raw = toml::from_str(text)
            .map_err(|e| at(e.span().map_or(0, |s| s.start), e.message().to_string()))?;

        // Each check below returns its error; `errors` keeps them all, so that one run names
        // every mistake of the file.
        let mut errors = Vec::new();
        let cores = raw.dataplane.cores.get_ref();
        let cores_at = raw.dataplane.cores.span().start;
        let available = brick_io::poll::cores();
        let checked_cores = if cores.is_empty() {
            Err(at(
                cores_at,
                "cores: at least one core runs a worker".into(),
            ))
        } else if let Some(c) = cores.iter().find(|c| !available.contains(c)) {
            Err(at(
                cores_at,
                format!("cores: core {c} does not exist here (available: {available:?})"),
            ))
        } else if cores.iter().collect::<HashSet<_>>().len() != cores.len() {
            Err(at(cores_at, "cores: a core is listed twice".into()))
        } else {
            Ok(())
        };
        keep(&mut errors, checked_cores);
        let priority = priority(&raw.dataplane).map_err(|(offset, reason)| at(offset, reason));
        let priority = keep(&mut errors, priority).unwrap_or_default();
        let workers = cores.len().max(1);
        for (what, rate) in [
            ("punt_rate", &raw.control.punt_rate),
            ("icmp_rate", &raw.control.icmp_rate),
        ] {
            if *rate.get_ref() == 0 {
                errors.push(at(
                    rate.span().start,
                    format!("{what} = 0 would silence the control plane; give a rate per second"),
                ));
            }
        }

        let before_ports = errors.len();
        if raw.ports.is_empty() {
            errors.push(at(text.len(), "no [[port]] defined".into()));
        }
        let mut ports = Vec::new();
        let mut names = HashSet::new();
        let mut own = HashSet::new();
        for sp in &raw.ports {
            let p = sp.get_ref();
            let port = (|| {
                let name = p.name.get_ref().clone();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                {
                    return Err(at(
                        p.name.span().start,
                        format!(
                            "port name {name:?}: letters, digits, `_`, `.` and `-` only (it is a \
                         metrics label)"
                        ),
                    ));
                }
                if !names.insert(name.clone()) {
                    return Err(at(
                        p.name.span().start,
                        format!("port name {name:?} is used twice"),
                    ));
                }
                let mut backend = p.backend.0.clone();
                match &mut backend {
                    PortSpec::AfPacket { cfg, .. } => cfg.queues = workers,
                    PortSpec::AfXdp { cfg, .. } => cfg.queues = workers,
                    // Refused by `Backend::from_str`.
                    PortSpec::Pcap { .. } | PortSpec::Mem { .. } => {}
                }
                let (mut addresses, mut addresses6) = (Vec::new(), Vec::new());
                for a in &p.addresses {
                    let text = a.get_ref();
                    let overlap = |what: String| {
                        at(
                            a.span().start,
                            format!("{text}: its subnet overlaps {what}; one subnet, one port"),
                        )
                    };
                    let addr = if text.contains(':') {
                        let ifa: IfAddr6 = text.parse().map_err(|e| at(a.span().start, e))?;
                        let taken = ports.iter().flat_map(|q: &PortConfig| &q.addresses6);
                        if let Some(o) = overlapping(ifa, IfAddr6::subnet, taken.chain(&addresses6))
                        {
                            return Err(overlap(o.to_string()));
                        }
                        addresses6.push(ifa);
                        IpAddr::V6(ifa.addr)
                    } else {
                        let ifa: IfAddr = text.parse().map_err(|e| at(a.span().start, e))?;
                        let taken = ports.iter().flat_map(|q: &PortConfig| &q.addresses);
                        if let Some(o) = overlapping(ifa, IfAddr::subnet, taken.chain(&addresses)) {
                            return Err(overlap(o.to_string()));
                        }
                        addresses.push(ifa);
                        IpAddr::V4(ifa.addr)
                    };
                    if !own.insert(addr) {
                        return Err(at(
                            a.span().start,
                            format!("address {addr} is configured twice"),
                        ));
                    }
                }
                let mtu = p.mtu.as_ref().map(|m| (*m.get_ref(), m.span().start));
                if let Some((m, mtu_at)) = mtu
                    && !(576..=9000).contains(&m)
                {
                    return Err(at(
                        mtu_at,
                        format!("port {name}: mtu {m} outside 576..=9000"),
                    ));
                }
                if let Some((m, mtu_at)) = mtu
                    && m < 1280
                    && !addresses6.is_empty()
                {
                    return Err(at(
                        mtu_at,
                        format!(
                            "port {name}: mtu {m} is below IPv6's minimum of 1280 (RFC 8200 5)"
                        ),
                    ));
                }
                let mac = match &p.mac {
                    None => None,
                    Some(m) => Some(parse_mac(m.get_ref()).map_err(|e| at(m.span().start, e))?),
                };
                Ok(PortConfig {
                    name,
                    backend,
                    addresses,
                    addresses6,
                    mtu: mtu.map(|(m, _)| m),
                    mac,
                    ra: p.ra,
                })
            })();
            ports.extend(keep(&mut errors, port));
        }
        // Routes and neighbours name ports and lie on their subnets: checked against ports
        // with errors, they would only repeat those.
        if errors.len() > before_ports {
            return Err(ConfigError::all(errors));
        }

        let subnets: Vec<_> = ports
            .iter()
            .flat_map(|p| &p.addresses)
            .map(|a| (a.subnet(), a.addr))
            .collect();
        let subnets6: Vec<_> = ports
            .iter()
            .flat_map(|p| &p.addresses6)
            .map(|a| (a.subnet(), a.addr))
            .collect();
        let port_of = |port: &Spanned<String>| {
            ports
                .iter()
                .position(|p| &p.name == port.get_ref())
                .map(|i| i as u16)
                .ok_or_else(|| {
                    at(
                        port.span().start,
                        format!("no port named {:?}", port.get_ref()),
                    )
                })
        };
        let (mut routes, mut routes6) = (Vec::new(), Vec::<StaticRoute6>::new());
        let (mut seen, mut seen6) = (HashSet::new(), HashSet::new());
        for sr in &raw.routes {
            let twice = |p: String| {
                at(
                    sr.span().start,
                    format!("route {p} is given twice (one static route per prefix)"),
                )
            };
            let checked = if sr.get_ref().prefix.get_ref().contains(':') {
                route(sr, &subnets6, "IPv6", &at, &port_of).and_then(|(prefix, target)| {
                    if !seen6.insert(prefix) {
                        return Err(twice(prefix.to_string()));
                    }
                    routes6.push(StaticRoute6 { prefix, target });
                    Ok(())
                })
            } else {
                route(sr, &subnets, "IPv4", &at, &port_of).and_then(|(prefix, target)| {
                    if !seen.insert(prefix) {
                        return Err(twice(prefix.to_string()));
                    }
                    routes.push(StaticRoute { prefix, target });
                    Ok(())
                })
            };
            keep(&mut errors, checked);
        }

        let mut neighbors: Vec<StaticNeighbor> = Vec::new();
        for sn in &raw.neighbors {
            let neighbor = (|| {
                let n = sn.get_ref();
                let (a, a_at) = (n.address.get_ref(), n.address.span().start);
                let addr: IpAddr = a.parse().map_err(|_| {
                    at(a_at, format!("neighbor address {a:?} is not an IP address"))
                })?;
                let link_local = matches!(addr, IpAddr::V6(v6) if v6.is_unicast_link_local());
                let port = match (&n.port, link_local) {
                    (Some(port), true) => Some(port_of(port)?),
                    (None, false) => None,
                    (None, true) => {
                        return Err(at(
                            a_at,
                            format!(
                                "neighbor {addr}: a link-local neighbour is on one link; say which \
                             with `port`"
                            ),
                        ));
                    }
                    (Some(port), false) => {
                        return Err(at(
                            port.span().start,
                            format!(
                                "neighbor {addr}: `port` is only for a link-local neighbour (the \
                             subnet says where this one is)"
                            ),
                        ));
                    }
                };
                let on_link = match addr {
                    IpAddr::V4(v4) => subnets
                        .iter()
                        .any(|&(subnet, ours)| subnet.contains(u32::from(v4)) && ours != v4),
                    IpAddr::V6(v6) => {
                        link_local
                            || subnets6.iter().any(|&(subnet, ours)| {
                                subnet.contains(u128::from(v6)) && ours != v6
                            })
                    }
                };
                if !on_link {
                    return Err(at(
                        a_at,
                        format!("neighbor {addr}: not a neighbour on any port's subnet"),
                    ));
                }
                let mac = parse_mac(n.mac.get_ref())
                    .map_err(|e| at(n.mac.span().start, format!("neighbor {addr}: {e}")))?;
                if neighbors.iter().any(|o| (o.addr, o.port) == (addr, port)) {
                    return Err(at(a_at, format!("neighbor {addr} is given twice")));
                }
                Ok(StaticNeighbor { addr, port, mac })
            })();
            neighbors.extend(keep(&mut errors, neighbor));
        }
        if !errors.is_empty() {
            return Err(ConfigError::all(errors));
        }

        Ok(Config {
            node: raw.node,
            cores: cores.clone(),
            idle: raw.dataplane.idle,
            priority,
            socket: raw.control.socket,
            punt_rate: *raw.control.punt_rate.get_ref(),
            icmp_rate: *raw.control.icmp_rate.get_ref(),
            metrics: raw.metrics.map(|m| m.listen),
            ports,
            routes,
            routes6,
            neighbors,
        })
    }
}

/// The first of `taken` whose subnet overlaps the subnet of `ifa` (one holds the other).
fn overlapping<'a, A: Copy, K: Key>(
    ifa: A,
    subnet: fn(A) -> Prefix<K>,
    mut taken: impl Iterator<Item = &'a A>,
) -> Option<&'a A> {
    let n = subnet(ifa);
    taken.find(|&&o| subnet(o).contains(n.addr()) || n.contains(subnet(o).addr()))
}

/// The value of `r`, or `None` with its error added to `errors`.
fn keep<T>(errors: &mut Vec<ConfigError>, r: Result<T, ConfigError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

/// One static route of one family: its prefix, and a gateway on one of `subnets` (each with
/// our address in it) or a port.
fn route<K: Key, A: Copy + Eq + FromStr + Into<K>>(
    sr: &Spanned<RawRoute>,
    subnets: &[(Prefix<K>, A)],
    family: &str,
    at: &dyn Fn(usize, String) -> ConfigError,
    port_of: &dyn Fn(&Spanned<String>) -> Result<u16, ConfigError>,
) -> Result<(Prefix<K>, RouteTarget<A>), ConfigError> {
    let r = sr.get_ref();
    let prefix: Prefix<K> = r
        .prefix
        .get_ref()
        .parse()
        .map_err(|e: brick_routing::Error| at(r.prefix.span().start, e.to_string()))?;
    let link_local = |via: &Spanned<String>| {
        via.get_ref()
            .parse::<Ipv6Addr>()
            .is_ok_and(|a| a.is_unicast_link_local())
    };
    let target = match (&r.via, &r.port) {
        (Some(via), Some(port)) if link_local(via) => {
            let gw: A = via.get_ref().parse().map_err(|_| {
                at(
                    via.span().start,
                    format!("via {:?}: not an {family} address", via.get_ref()),
                )
            })?;
            RouteTarget::ViaOn(gw, port_of(port)?)
        }
        (Some(via), None) if link_local(via) => {
            return Err(at(
                via.span().start,
                format!(
                    "via {}: a link-local gateway is on one link; say which with `port`",
                    via.get_ref()
                ),
            ));
        }
        (Some(via), None) => {
            let gw: A = via.get_ref().parse().map_err(|_| {
                at(
                    via.span().start,
                    format!("via {:?} is not an {family} address", via.get_ref()),
                )
            })?;
            if !subnets
                .iter()
                .any(|&(subnet, ours)| subnet.contains(gw.into()) && ours != gw)
            {
                return Err(at(
                    via.span().start,
                    format!(
                        "via {}: not a neighbour on any port's subnet",
                        via.get_ref()
                    ),
                ));
            }
            RouteTarget::Via(gw)
        }
        (None, Some(port)) => RouteTarget::Port(port_of(port)?),
        _ => {
            return Err(at(
                sr.span().start,
                "a route needs exactly one of `via` (a gateway) or `port`, or both for an IPv6 \
                 link-local gateway"
                    .into(),
            ));
        }
    };
    Ok((prefix, target))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<EthernetAddress, String> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = parts
            .next()
            .filter(|p| p.len() == 2)
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| format!("MAC {s:?}: expected six hex pairs like 02:00:00:00:00:01"))?;
    }
    if parts.next().is_some() {
        return Err(format!("MAC {s:?}: expected six hex pairs"));
    }
    let mac = EthernetAddress(mac);
    if !mac.is_unicast() {
        return Err(format!("MAC {s}: not a unicast address"));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
node = 3

[dataplane]
cores = [0]
idle = "busy"
nice = -5

[control]
socket = "/tmp/b.sock"

[metrics]
listen = "127.0.0.1:9179"

[[port]]
name = "lan"
backend = "af_packet:veth1@ns1"
addresses = ["10.1.0.1/24"]

[[port]]
name = "wan"
backend = "af_xdp:veth2,copy"
addresses = ["10.2.0.1/24", "192.0.2.1/30", "fd02::1/64"]
mtu = 1280
mac = "02:00:00:00:00:02"
ra = true

[[route]]
prefix = "0.0.0.0/0"
via = "10.2.0.2"

[[route]]
prefix = "198.51.100.0/24"
port = "lan"

[[route]]
prefix = "2001:db8::/32"
via = "fd02::2"

[[route]]
prefix = "::/0"
via = "fe80::1"
port = "wan"

[[neighbor]]
address = "10.2.0.2"
mac = "02:00:00:00:02:02"

[[neighbor]]
address = "fe80::2"
port = "wan"
mac = "02:00:00:00:02:03"
"#;

    fn err(text: &str) -> ConfigError {
        Config::parse("r.toml", text).unwrap_err()
    }

    #[test]
    fn workers_are_scheduled_as_asked() {
        let rt = GOOD.replace(
            "idle = \"busy\"\nnice = -5",
            "idle = \"interrupt\"\nrealtime = 10",
        );
        let c = Config::parse("r.toml", &rt).unwrap();
        assert_eq!(c.priority, Priority::Realtime(10));
        let c = Config::parse("r.toml", &GOOD.replace("nice = -5", "nice = 0")).unwrap();
        assert_eq!(c.priority, Priority::Inherit);
        let both = rt.replace("realtime = 10", "realtime = 10\nnice = 0");
        let c = Config::parse("r.toml", &both).unwrap();
        assert_eq!(
            c.priority,
            Priority::Realtime(10),
            "nice 0 leaves the value"
        );
    }

    #[test]
    fn a_good_file_is_read_whole() {
        let c = Config::parse("r.toml", GOOD).unwrap();
        assert_eq!(c.node, 3);
        assert_eq!((c.idle, c.priority), (IdlePolicy::Busy, Priority::Nice(-5)));
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.ports[1].mtu, Some(1280));
        assert_eq!((c.ports[0].ra, c.ports[1].ra), (false, true));
        assert_eq!(c.ports[1].addresses[1].to_string(), "192.0.2.1/30");
        assert_eq!(
            c.ports[1].addresses[0].broadcast(),
            Some(Ipv4Addr::new(10, 2, 0, 255))
        );
        assert!(matches!(
            &c.ports[0].backend,
            PortSpec::AfPacket { netns: Some(ns), cfg, .. } if ns == "ns1" && cfg.queues == 1
        ));
        assert_eq!(
            c.routes[0].target,
            RouteTarget::Via(Ipv4Addr::new(10, 2, 0, 2))
        );
        assert_eq!(c.routes[1].target, RouteTarget::Port(0));
        assert_eq!(c.metrics, Some("127.0.0.1:9179".parse().unwrap()));
        assert_eq!(c.ports[1].addresses6[0].to_string(), "fd02::1/64");
        assert_eq!(
            c.routes6[0].target,
            RouteTarget::Via("fd02::2".parse().unwrap())
        );
        assert_eq!(c.routes6[0].prefix.to_string(), "2001:db8::/32");
        assert_eq!(
            c.routes6[1].target,
            RouteTarget::ViaOn("fe80::1".parse().unwrap(), 1)
        );
        assert_eq!(
            c.neighbors,
            [
                StaticNeighbor {
                    addr: [10, 2, 0, 2].into(),
                    port: None,
                    mac: EthernetAddress([2, 0, 0, 0, 2, 2])
                },
                StaticNeighbor {
                    addr: "fe80::2".parse().unwrap(),
                    port: Some(1),
                    mac: EthernetAddress([2, 0, 0, 0, 2, 3])
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_the_reason() {
        let line_of = |needle: &str, text: &str| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.contains(needle))
                .last()
                .unwrap()
                .0
                + 1
        };
        let cases = [
            (
                "idle = \"busy\"",
                "idle = \"lazy\"",
                "expected busy, adaptive or interrupt",
            ),
            (
                "listen = \"127.0.0.1:9179\"",
                "listen = \"localhost:9179\"",
                "not a host name",
            ),
            ("socket =", "sockett =", "unknown field `sockett`"),
            ("\"10.1.0.1/24\"", "\"10.1.0.1\"", "needs a /length"),
            ("\"10.1.0.1/24\"", "\"10.1.0.0/24\"", "network or broadcast"),
            (
                "via = \"10.2.0.2\"",
                "via = \"10.9.0.2\"",
                "not a neighbour",
            ),
            ("port = \"lan\"", "port = \"dmz\"", "no port named \"dmz\""),
            ("\"0.0.0.0/0\"", "\"10.0.0.1/8\"", "host bits"),
            ("cores = [0]", "cores = [4096]", "core 4096 does not exist"),
            ("nice = -5", "nice = -21", "-21 is outside -20..=19"),
            ("nice = -5", "realtime = 0", "0 is outside 1..=99"),
            ("nice = -5", "realtime = 300", "300 is outside 1..=99"),
            (
                "nice = -5",
                "realtime = 5000000000",
                "5000000000 is outside 1..=99",
            ),
            (
                "idle = \"busy\"",
                "realtime = 5",
                "`nice` or `realtime`, not both",
            ),
            ("af_packet:veth1@ns1", "mem", "mem ports join threads"),
            (
                "af_packet:veth1@ns1",
                "af_packet:veth1,fast",
                "unknown option",
            ),
            ("\"02:00:00:00:00:02\"", "\"03:00:00:00:00:02\"", "unicast"),
            (
                "\"127.0.0.1:9179\"",
                "\"localhost\"",
                "expected an IP address and a port",
            ),
            ("name = \"wan\"", "name = \"lan\"", "used twice"),
            ("name = \"wan\"", "name = \"w\\\"an\"", "letters, digits"),
            ("\"10.1.0.1/24\"", "\"224.0.0.5/24\"", "not a unicast"),
            ("mtu = 1280", "mtu = 1000", "below IPv6's minimum"),
            (
                "\"192.0.2.1/30\"",
                "\"10.1.0.9/16\"",
                "overlaps 10.1.0.1/24",
            ),
            (
                "\"fd02::1/64\"",
                "\"fd02::1/64\", \"fd02::9/120\"",
                "overlaps fd02::1/64",
            ),
            ("\"fd02::1/64\"", "\"fe80::1/64\"", "link-local"),
            ("via = \"fd02::2\"", "via = \"fd09::2\"", "not a neighbour"),
            (
                "via = \"fd02::2\"",
                "via = \"10.2.0.2\"",
                "not an IPv6 address",
            ),
            (
                "address = \"10.2.0.2\"",
                "address = \"10.2.0.300\"",
                "not an IP address",
            ),
            (
                "address = \"10.2.0.2\"",
                "address = \"10.2.0.1\"",
                "not a neighbour",
            ),
            (
                "address = \"fe80::2\"\nport = \"wan\"",
                "address = \"fd09::2\"",
                "not a neighbour",
            ),
            (
                "\"02:00:00:00:02:02\"",
                "\"01:00:5e:00:00:01\"",
                "not a unicast address",
            ),
            ("\"02:00:00:00:02:03\"", "\"02:00:00:00:02\"", "MAC"),
            (
                "address = \"fe80::2\"\nport = \"wan\"",
                "address = \"10.2.0.2\"",
                "given twice",
            ),
        ];
        for (from, to, reason) in cases {
            let text = GOOD.replacen(from, to, 1);
            let e = err(&text);
            assert_eq!(e.file, "r.toml");
            assert_eq!(e.line, line_of(to, &text), "{to}: {e}");
            assert!(e.reason.contains(reason), "{to}: {e}");
            assert!(!e.reason.starts_with("config:"), "{to}: {e}");
        }
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let c = Config::parse("deploy/node.toml", include_str!("../../deploy/node.toml")).unwrap();
        assert_eq!((c.ports.len(), c.routes.len()), (2, 2));
    }

    #[test]
    fn edge_values() {
        let host: IfAddr = "10.1.0.1/32".parse().unwrap();
        assert_eq!((host.broadcast(), host.subnet().len()), (None, 32));
        let text = GOOD.replace(
            "[control]\n",
            "# punt_rate per worker\n[control]\npunt_rate = 0\n",
        );
        let e = err(&text);
        assert!(e.reason.contains("punt_rate = 0"), "{e}");
        let line = text.lines().position(|l| l == "punt_rate = 0").unwrap() + 1;
        assert_eq!(e.line, line, "the key's line, not the comment's");
        let twice = format!("{GOOD}\n[[route]]\nprefix = \"0.0.0.0/0\"\nport = \"wan\"\n");
        let e = err(&twice);
        assert!(e.reason.contains("route 0.0.0.0/0 is given twice"), "{e}");
        assert_eq!(e.line, twice.lines().count() - 2, "the second [[route]]");
    }

    #[test]
    fn link_local_neighbours_name_their_port() {
        let e = err(&GOOD.replace(
            "address = \"fe80::2\"\nport = \"wan\"\n",
            "address = \"fe80::2\"\n",
        ));
        assert!(e.reason.contains("say which with `port`"), "{e}");
        let e = err(&GOOD.replace(
            "address = \"10.2.0.2\"\n",
            "address = \"10.2.0.2\"\nport = \"wan\"\n",
        ));
        assert!(e.reason.contains("only for a link-local neighbour"), "{e}");
        let e = err(&GOOD.replace(
            "address = \"fe80::2\"\nport = \"wan\"\n",
            "address = \"fe80::2\"\nport = \"dmz\"\n",
        ));
        assert!(e.reason.contains("no port named"), "{e}");
    }

    #[test]
    fn link_local_gateways_name_their_port() {
        let e = err(&GOOD.replace("via = \"fe80::1\"\nport = \"wan\"", "via = \"fe80::1\""));
        assert!(e.reason.contains("say which with `port`"), "{e}");
        let e = err(&GOOD.replace("via = \"10.2.0.2\"", "via = \"10.2.0.2\"\nport = \"wan\""));
        assert!(e.reason.contains("exactly one of"), "{e}");
        let e = err(&GOOD.replace("port = \"wan\"\n", "port = \"dmz\"\n"));
        assert!(e.reason.contains("no port named"), "{e}");
    }

    #[test]
    fn every_error_is_reported_in_line_order() {
        // Two bad sections and a bad port: all three, first by line, the others after it.
        let text = GOOD
            .replace("nice = -5", "nice = -50")
            .replace("mtu = 1280", "mtu = 100")
            .replace("socket = \"/tmp/b.sock\"", "punt_rate = 0");
        let e = err(&text);
        let lines: Vec<_> = [&e].into_iter().chain(&e.more).map(|e| e.line).collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(lines.is_sorted(), "{e}");
        assert!(e.reason.contains("-50 is outside"), "{e}");
        assert!(
            e.to_string().lines().nth(2).unwrap().contains("mtu 100"),
            "{e}"
        );
        // With the ports valid, every bad route and neighbour is named.
        let text = GOOD
            .replace("via = \"10.2.0.2\"", "via = \"10.9.0.2\"")
            .replace("port = \"lan\"", "port = \"dmz\"")
            .replace("mac = \"02:00:00:00:02:02\"", "mac = \"02:00\"");
        let e = err(&text);
        assert_eq!(e.more.len(), 2, "{e}");
        assert!(e.reason.contains("not a neighbour"), "{e}");
        assert!(e.more[0].reason.contains("no port named \"dmz\""), "{e}");
        assert!(e.more[1].reason.contains("neighbor 10.2.0.2"), "{e}");
        // A bad section does not hide the routes' errors.
        let e = err(&GOOD
            .replace("nice = -5", "nice = -50")
            .replace("via = \"10.2.0.2\"", "via = \"10.9.0.2\""));
        assert_eq!(e.more.len(), 1, "{e}");
        assert!(e.more[0].reason.contains("not a neighbour"), "{e}");
        // A bad port stops there: routes naming it would only repeat it.
        let e = err(&GOOD.replace("name = \"lan\"", "name = \"l an\""));
        assert!(
            e.more.is_empty() && e.reason.contains("letters, digits"),
            "{e}"
        );
    }

    #[test]
    fn whole_file_errors() {
        let e = err(&GOOD.replace("[[neighbor]]\n", "[[neighbor]]\nrouter = true\n"));
        assert!(e.reason.contains("unknown field `router`"), "{e}");
        let e = err(&GOOD.replace("af_packet:veth1@ns1", "af_packet:veth1,queues=2@ns1"));
        assert!(
            e.reason.contains("queues= is not for a node's ports"),
            "{e}"
        );
        assert!(err("node = 1\n").reason.contains("no [[port]]"));
        assert!(
            err(&GOOD.replace("via = \"10.2.0.2\"", ""))
                .reason
                .contains("exactly one of")
        );
        assert!(
            Config::load(Path::new("/nonexistent/brick.toml"))
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/brick.toml: cannot read")
        );
    }
}
