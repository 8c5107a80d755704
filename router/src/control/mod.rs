//! The control plane of one node: everything the data path hands over ([`Punted`]) and the
//! timers of ARP.
//!
//! - ARP: answers requests for the port's addresses, learns from them and from replies, resolves
//!   next hops for packets that wait in a bounded queue, re-confirms stale entries, announces the
//!   router's addresses with gratuitous ARP, and publishes the usable MACs to the data path.
//! - ICMP: echo replies for the router's addresses; time exceeded, net/host/port unreachable and
//!   fragmentation needed, each limited per source (RFC 1812 4.3.2.8) so a scan cannot make the
//!   router a flood source.
//! - The slow forwarding path: packets the data path could not finish (no MAC yet, larger than
//!   the output port's MTU) are resolved, fragmented and rewritten here.
//!
//! No I/O: every call takes the time and returns `(port, frame)` pairs to send.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use brick_routing::{FibReader, Gateway, Key, Lpm, NO_ROUTE, Poptrie6};

use crate::classify::Local;
use crate::config::{IfAddr, IfAddr6};
use crate::fragment::fragment;
use crate::neighbor::{self, Action, Lookup, Macs, Neighbors};
use crate::punt::{Punted, RateLimit};
use crate::reply::{self, IcmpError};
use crate::verdict::Punt;
use crate::wire::arp::{ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, HEADER_LEN};
use crate::wire::icmpv6;
use crate::wire::ipv4::{Ipv4Packet, Protocol};
use crate::wire::ipv6::Ipv6Packet;

mod v6;

/// The path `fib` gives `key` for a flow of `hash`, if there is a route.
fn route<K: Key, T: Lpm<K>>(fib: &FibReader<K, T>, key: K, hash: u32) -> Option<Gateway<K>> {
    let fib = fib.load();
    let nh = fib.lookup(key);
    fib.path(nh, hash).filter(|_| nh != NO_ROUTE).copied()
}

/// Whether `frame` carries IPv6.
fn is_v6(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x86, 0xdd])
}

/// Frames to send, each with its output port.
pub type Out = Vec<(u16, Vec<u8>)>;

/// One port as the control plane sees it.
#[derive(Clone, Debug)]
pub struct ControlPort {
    /// The data path's view (MAC, all the router's addresses, MTU).
    pub local: Local,
    /// The IPv4 addresses configured on this port.
    pub own: Vec<IfAddr>,
    /// The IPv6 addresses configured on this port.
    pub own6: Vec<IfAddr6>,
}

impl ControlPort {
    /// The address to speak from towards `peer`: ours on the peer's subnet, else the port's first.
    fn source_for(&self, peer: Ipv4Addr) -> Option<Ipv4Addr> {
        self.own
            .iter()
            .find(|a| a.subnet().contains(u32::from(peer)))
            .or(self.own.first())
            .map(|a| a.addr)
    }
}

/// Limits of the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// ICMP errors per second to one source.
    pub icmp_rate: u32,
    /// Sources tracked for the ICMP limit; when full, the table restarts (every source gets a
    /// full bucket again), so memory stays bounded under a spoofed-source flood.
    pub icmp_sources: usize,
    /// The ARP cache.
    pub neighbors: neighbor::Config,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            icmp_rate: 100,
            icmp_sources: 4096,
            neighbors: neighbor::Config::default(),
        }
    }
}

/// What the control plane did, for `brick show counters` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlCounters {
    /// ARP replies sent for our addresses.
    pub arp_replies: u64,
    /// ARP requests sent (resolution, re-confirmation, gratuitous).
    pub arp_requests: u64,
    /// IPv6 neighbour advertisements sent (answers for our addresses, and unsolicited ones).
    pub nd_advertisements: u64,
    /// IPv6 neighbour solicitations sent (resolution, re-confirmation).
    pub nd_solicitations: u64,
    /// IPv6 router advertisements sent (periodic, and answers to router solicitations).
    pub router_advertisements: u64,
    /// ICMP echo replies sent.
    pub echo_replies: u64,
    /// ICMP errors sent.
    pub icmp_errors: u64,
    /// ICMP errors not sent because the source's limit was reached.
    pub icmp_limited: u64,
    /// Packets forwarded by the slow path (after ARP resolution or fragmentation).
    pub slow_forwarded: u64,
    /// Fragments sent.
    pub fragments: u64,
    /// Packets dropped because their next hop cannot be resolved (table or queue full, failed).
    pub unresolved_dropped: u64,
    /// Punted frames nothing answers (protocols not running, malformed frames).
    pub unhandled: u64,
}

impl ControlCounters {
    /// Every counter with its name.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("arp_replies", self.arp_replies),
            ("arp_requests", self.arp_requests),
            ("nd_advertisements", self.nd_advertisements),
            ("nd_solicitations", self.nd_solicitations),
            ("router_advertisements", self.router_advertisements),
            ("echo_replies", self.echo_replies),
            ("icmp_errors", self.icmp_errors),
            ("icmp_limited", self.icmp_limited),
            ("slow_forwarded", self.slow_forwarded),
            ("fragments", self.fragments),
            ("unresolved_dropped", self.unresolved_dropped),
            ("unhandled", self.unhandled),
        ]
    }
}

/// A packet waiting for its next hop's MAC (TTL not yet decremented).
#[derive(Debug)]
pub struct Waiting {
    /// The port it leaves by.
    out_port: u16,
    /// The port it came in on, where an ICMP error about it goes.
    in_port: u16,
    /// The frame as received.
    frame: Vec<u8>,
}

/// The control plane of one node.
#[derive(Debug)]
pub struct ControlPlane<T> {
    ports: Vec<ControlPort>,
    fib: FibReader<u32, T>,
    macs: Macs,
    neighbors: Neighbors<Waiting>,
    fib6: Option<FibReader<u128, Poptrie6>>,
    /// Router advertisement timers of the ports that send them (by port id).
    adverts: Vec<Option<v6::Advertiser>>,
    icmp: HashMap<IpAddr, RateLimit>,
    limits: Limits,
    /// What happened so far.
    pub counters: ControlCounters,
}

impl<T: Lpm<u32>> ControlPlane<T> {
    /// A control plane for `ports` (index = port id) that routes by `fib` and publishes the
    /// MACs it learns to `macs`.
    pub fn new(
        ports: Vec<ControlPort>,
        fib: FibReader<u32, T>,
        macs: Macs,
        limits: Limits,
    ) -> Self {
        ControlPlane {
            ports,
            fib,
            macs,
            neighbors: Neighbors::new(limits.neighbors),
            fib6: None,
            adverts: Vec::new(),
            icmp: HashMap::new(),
            limits,
            counters: ControlCounters::default(),
        }
    }

    /// Routes IPv6 by `fib6` (without it, IPv6 to route is not answered).
    pub fn with_v6(mut self, fib6: FibReader<u128, Poptrie6>) -> Self {
        self.fib6 = Some(fib6);
        self
    }

    /// Fixes the MACs of configured neighbours (see [`Neighbors::set_permanent`]) and publishes
    /// them to the data path.
    pub fn with_static_neighbors(
        mut self,
        statics: impl IntoIterator<Item = (IpAddr, EthernetAddress)>,
    ) -> Self {
        for (ip, mac) in statics {
            // Nothing waits yet: the node has not forwarded anything.
            let _ = self.neighbors.set_permanent(ip, mac);
        }
        self.macs.publish(self.neighbors.macs());
        self
    }

    /// Every neighbour with its MAC (if known), state and the port it is on (if a route says),
    /// sorted by address: `brick show neighbors`.
    pub fn neighbor_list(
        &self,
    ) -> Vec<(IpAddr, Option<EthernetAddress>, &'static str, Option<u16>)> {
        let port = |ip: IpAddr| match ip {
            IpAddr::V6(a) => self.locate6(a).map(|(p, _)| p),
            IpAddr::V4(a) => self.route4(a, 0).map(|g| g.port),
        };
        (self.neighbors.list().into_iter())
            .map(|(ip, mac, state)| (ip, mac, state, port(ip)))
            .collect()
    }

    /// The ARP cache, for `brick show neighbors`.
    pub fn neighbors(&self) -> &Neighbors<Waiting> {
        &self.neighbors
    }

    /// Handles one punted frame at `now_ms`; returns the frames to send.
    pub fn handle(&mut self, p: &Punted, now_ms: u64) -> Out {
        let mut out = Out::new();
        if usize::from(p.port) >= self.ports.len() {
            self.counters.unhandled += 1;
            return out;
        }
        let v6 = is_v6(&p.frame);
        match p.kind {
            Punt::Arp => self.arp(p.port, &p.frame, now_ms, &mut out),
            Punt::Nd => self.nd(p.port, &p.frame, now_ms, &mut out),
            Punt::Local if v6 => self.local6(p.port, &p.frame, now_ms, &mut out),
            Punt::Local => self.local(p.port, &p.frame, now_ms, &mut out),
            Punt::TtlExceeded if v6 => {
                let e = (icmpv6::TIME_EXCEEDED, 0, [0; 4]);
                self.icmp6_error(p.port, &p.frame, e, now_ms, &mut out)
            }
            Punt::TtlExceeded => {
                self.icmp_error(p.port, &p.frame, IcmpError::TimeExceeded, now_ms, &mut out)
            }
            Punt::NoRoute | Punt::Unresolved | Punt::TooBig if v6 => {
                self.forward6(p.port, p.frame.clone(), now_ms, &mut out)
            }
            Punt::NoRoute | Punt::Unresolved | Punt::TooBig => {
                self.forward(p.port, p.frame.clone(), now_ms, &mut out)
            }
            Punt::Ospf | Punt::Rip | Punt::Broadcast => self.counters.unhandled += 1,
        }
        out
    }

    /// Advances the ARP timers: retransmitted and re-confirming requests, host unreachable for
    /// packets whose next hop never answered.
    pub fn tick(&mut self, now_ms: u64) -> Out {
        let mut out = Out::new();
        let actions = self.neighbors.tick(now_ms);
        // Requests change nothing the data path reads, but answers and removals do.
        let removed = self.neighbors.take_removed();
        let changed = removed || !actions.is_empty();
        for a in actions {
            match a {
                Action::Request(ip, to) => self.request(ip, to, &mut out),
                Action::Send(mac, waiting) => self.send_waiting(mac, waiting, &mut out),
                Action::Unreachable(_, waiting) => {
                    for Waiting { in_port, frame, .. } in waiting {
                        self.counters.unresolved_dropped += 1;
                        if is_v6(&frame) {
                            let e = (
                                icmpv6::DST_UNREACHABLE,
                                icmpv6::unreachable::ADDRESS,
                                [0; 4],
                            );
                            self.icmp6_error(in_port, &frame, e, now_ms, &mut out);
                        } else {
                            let e = IcmpError::HostUnreachable;
                            self.icmp_error(in_port, &frame, e, now_ms, &mut out);
                        }
                    }
                }
            }
        }
        if changed {
            self.macs.publish(self.neighbors.macs());
        }
        self.advertise6(now_ms, &mut out);
        out
    }

    /// Gratuitous ARP for every address of every port: neighbours update stale caches (a
    /// restarted router may come back with another MAC).
    pub fn announce(&mut self) -> Out {
        let mut out = Out::new();
        for (i, p) in self.ports.iter().enumerate() {
            for a in &p.own {
                out.push((
                    i as u16,
                    reply::arp_request(p.local.mac, a.addr, a.addr, None),
                ));
                self.counters.arp_requests += 1;
            }
        }
        self.announce6(&mut out);
        out
    }

    fn arp(&mut self, port: u16, frame: &[u8], now_ms: u64, out: &mut Out) {
        let Some(arp) = EthernetFrame::new_checked(frame)
            .ok()
            .filter(|e| e.ethertype() == EtherType::Arp)
            .and_then(|e| ArpRepr::parse(&ArpPacket::new_checked(e.payload()).ok()?).ok())
        else {
            self.counters.unhandled += 1;
            return;
        };
        let cp = &self.ports[usize::from(port)];
        let for_us = cp.own.iter().any(|a| a.addr == arp.target_protocol_addr);
        let own = Local::new(cp.local.mac, cp.own.iter().map(|a| a.addr).collect());
        let src = IpAddr::V4(arp.source_protocol_addr);
        let learned = self.learn(port, src, arp.source_hardware_addr, for_us, now_ms);
        if let Some(Action::Send(mac, waiting)) = learned {
            self.send_waiting(mac, waiting, out);
        }
        // Replies and requests for other hosts only teach the cache.
        if let Some(r) = reply::arp_reply(frame, &own) {
            self.counters.arp_replies += 1;
            out.push((port, r));
        }
    }

    /// Learns `ip` at `mac` from a packet received on `port`, if `ip` is on that port's link
    /// (a neighbour is never learned from another port: a host on one side must not redirect
    /// the traffic of the other); publishes the MACs when an entry changed.
    fn learn(
        &mut self,
        port: u16,
        ip: IpAddr,
        mac: EthernetAddress,
        for_us: bool,
        now_ms: u64,
    ) -> Option<Action<Waiting>> {
        if !self.on_link(port, ip) {
            self.counters.unhandled += 1;
            return None;
        }
        let before = self.neighbors.get(ip);
        let learned = self.neighbors.learn(ip, mac, for_us, now_ms);
        if self.neighbors.get(ip) != before {
            self.macs.publish(self.neighbors.macs());
        }
        learned
    }

    /// Whether `ip` is directly reachable out of `port` (a connected or on-link route).
    fn on_link(&self, port: u16, ip: IpAddr) -> bool {
        if let IpAddr::V6(a) = ip
            && let Some((on, _)) = crate::wire::ipv6::unscope(a)
        {
            return on == port;
        }
        let gw = match ip {
            IpAddr::V4(a) => self.route4(a, 0).map(|g| (g.port, g.addr == 0)),
            IpAddr::V6(a) => self.route6(a, 0).map(|g| (g.port, g.addr == 0)),
        };
        gw == Some((port, true))
    }

    /// The path to IPv4 `dst` for a flow of `hash`, if there is a route.
    fn route4(&self, dst: Ipv4Addr, hash: u32) -> Option<Gateway<u32>> {
        route(&self.fib, dst.into(), hash)
    }

    /// The path to IPv6 `dst` for a flow of `hash`, if IPv6 is routed and there is a route.
    fn route6(&self, dst: Ipv6Addr, hash: u32) -> Option<Gateway<u128>> {
        route(self.fib6.as_ref()?, dst.into(), hash)
    }

    /// Sends `w` to `next` if its MAC is known; else queues it behind the resolution, asking
    /// for the MAC when the entry is new.
    fn resolve(&mut self, next: IpAddr, w: Waiting, now_ms: u64, out: &mut Out) {
        match self.neighbors.lookup(next, None, now_ms) {
            Lookup::Mac(mac) => self.send_waiting(mac, vec![w], out),
            Lookup::Pending { request } => {
                // The entry exists now: queue the packet behind it.
                if self.neighbors.lookup(next, Some(w), now_ms) == Lookup::Drop {
                    self.counters.unresolved_dropped += 1;
                }
                if request {
                    self.request(next, None, out);
                }
            }
            Lookup::Drop => self.counters.unresolved_dropped += 1,
        }
    }

    fn local(&mut self, port: u16, frame: &[u8], now_ms: u64, out: &mut Out) {
        if let Some(r) = reply::echo_reply(frame, &self.ports[usize::from(port)].local) {
            self.counters.echo_replies += 1;
            out.push((port, r));
            return;
        }
        let udp = Ipv4Packet::new_checked(frame.get(HEADER_LEN..).unwrap_or_default())
            .is_ok_and(|ip| ip.protocol() == Protocol::Udp);
        if udp {
            // No UDP service listens on the router yet (RIP arrives as its own punt kind).
            self.icmp_error(port, frame, IcmpError::PortUnreachable, now_ms, out);
        } else {
            self.counters.unhandled += 1;
        }
    }

    /// The slow forwarding path: route, fragment if needed, resolve, rewrite.
    fn forward(&mut self, in_port: u16, frame: Vec<u8>, now_ms: u64, out: &mut Out) {
        let Some(ip) = frame
            .get(HEADER_LEN..)
            .and_then(|b| Ipv4Packet::new_checked(b).ok())
        else {
            self.counters.unhandled += 1;
            return;
        };
        let (dst, total, df) = (ip.dst_addr(), ip.total_len(), ip.dont_frag());
        let Some(gw) = self.route4(dst, brick_io::flow::hash(&frame)) else {
            self.icmp_error(in_port, &frame, IcmpError::NetUnreachable, now_ms, out);
            return;
        };
        let Some(mtu) = self.ports.get(usize::from(gw.port)).map(|p| p.local.mtu) else {
            self.counters.unhandled += 1;
            return;
        };
        let next = if gw.addr == 0 {
            dst
        } else {
            Ipv4Addr::from(gw.addr)
        };
        let pieces = if total <= mtu {
            vec![frame]
        } else if df {
            self.icmp_error(in_port, &frame, IcmpError::FragNeeded(mtu), now_ms, out);
            return;
        } else {
            match fragment(&frame, mtu) {
                Some(f) => {
                    self.counters.fragments += f.len() as u64;
                    f
                }
                None => {
                    self.counters.unhandled += 1;
                    return;
                }
            }
        };
        for frame in pieces {
            let w = Waiting {
                out_port: gw.port,
                in_port,
                frame,
            };
            self.resolve(next.into(), w, now_ms, out);
        }
    }

    /// Rewrites waiting packets for `mac` (TTL - 1, MACs) and sends them.
    fn send_waiting(&mut self, mac: EthernetAddress, waiting: Vec<Waiting>, out: &mut Out) {
        for Waiting {
            out_port: port,
            mut frame,
            ..
        } in waiting
        {
            let Some(p) = self.ports.get(usize::from(port)) else {
                continue;
            };
            let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
            eth.set_dst_addr(mac);
            eth.set_src_addr(p.local.mac);
            if is_v6(&frame) {
                Ipv6Packet::new_unchecked(&mut frame[HEADER_LEN..]).decrement_hop_limit();
            } else {
                Ipv4Packet::new_unchecked(&mut frame[HEADER_LEN..]).decrement_ttl();
            }
            self.counters.slow_forwarded += 1;
            out.push((port, frame));
        }
    }

    /// An ARP request or a neighbour solicitation for `ip`.
    fn request(&mut self, ip: IpAddr, to: Option<EthernetAddress>, out: &mut Out) {
        match ip {
            IpAddr::V4(ip) => self.request4(ip, to, out),
            IpAddr::V6(ip) => self.request6(ip, to, out),
        }
    }

    /// An ARP request for `ip` out of the port whose subnet holds it.
    fn request4(&mut self, ip: Ipv4Addr, to: Option<EthernetAddress>, out: &mut Out) {
        let Some(port) = self.route4(ip, 0).map(|g| g.port) else {
            return;
        };
        let Some(p) = self.ports.get(usize::from(port)) else {
            return;
        };
        let Some(sender) = p.source_for(ip) else {
            return;
        };
        self.counters.arp_requests += 1;
        out.push((port, reply::arp_request(p.local.mac, sender, ip, to)));
    }

    /// Takes a token from `src`'s ICMP error bucket; counts the refusal.
    fn allow_icmp(&mut self, src: IpAddr, now_ms: u64) -> bool {
        if self.icmp.len() >= self.limits.icmp_sources && !self.icmp.contains_key(&src) {
            self.icmp.clear();
        }
        let rate = self.limits.icmp_rate;
        let bucket = self
            .icmp
            .entry(src)
            .or_insert_with(|| RateLimit::new(rate, rate.clamp(1, 10)));
        let ok = bucket.allow(now_ms.saturating_mul(1_000_000));
        if !ok {
            self.counters.icmp_limited += 1;
        }
        ok
    }

    /// An ICMP error about `frame` (received on `port`), within the per-source limit.
    fn icmp_error(&mut self, port: u16, frame: &[u8], kind: IcmpError, now_ms: u64, out: &mut Out) {
        let Some((src, dst)) = frame
            .get(HEADER_LEN..)
            .and_then(|b| Ipv4Packet::new_checked(b).ok())
            .map(|ip| (ip.src_addr(), ip.dst_addr()))
        else {
            self.counters.unhandled += 1;
            return;
        };
        if !self.allow_icmp(src.into(), now_ms) {
            return;
        }
        let p = &self.ports[usize::from(port)];
        // A router answers from the interface the error leaves by (RFC 1812 4.3.2.4), except
        // as the destination itself: then it answers as a host, from the address that was asked
        // (RFC 1122 3.2.2), which is what traceroute to the router's far address shows.
        let from = if kind == IcmpError::PortUnreachable {
            Some(dst)
        } else {
            p.source_for(src).or(p.local.addrs.first().copied())
        };
        let Some(from) = from else {
            self.counters.unhandled += 1;
            return;
        };
        match reply::icmp_error(frame, &p.local, from, kind) {
            Some(f) => {
                self.counters.icmp_errors += 1;
                out.push((port, f));
            }
            None => self.counters.unhandled += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use brick_routing::{Fib, Gateway, Poptrie4, Prefix};

    use super::*;
    use crate::wire::arp::Operation;
    use crate::wire::checksum;
    use crate::wire::icmpv4::{Icmpv4Packet, Message};

    const R0: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0]);
    const R1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 1]);
    const H1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 2, 1]);
    const NB: EthernetAddress = EthernetAddress([2, 0, 0, 0, 2, 9]);

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// Port 0: 10.1.0.1/24; port 1: 10.2.0.1/24, MTU 1280; 198.51.100.0/24 via 10.2.0.99.
    fn control() -> (ControlPlane<Poptrie4>, Macs) {
        let p = |s: &str| s.parse::<Prefix<u32>>().unwrap();
        let routes = [
            (p("10.1.0.0/24"), 1),
            (p("10.2.0.0/24"), 2),
            (p("198.51.100.0/24"), 3),
        ];
        let groups = vec![
            vec![],
            vec![Gateway { port: 0, addr: 0 }],
            vec![Gateway { port: 1, addr: 0 }],
            vec![Gateway {
                port: 1,
                addr: u32::from(ip("10.2.0.99")),
            }],
        ];
        let (_, reader) = Fib::new(Poptrie4::from_routes(&routes).unwrap(), groups).publish();
        let addrs = vec![ip("10.1.0.1"), ip("10.2.0.1")];
        let ports = vec![
            ControlPort {
                local: Local::new(R0, addrs.clone()),
                own: vec!["10.1.0.1/24".parse().unwrap()],
                own6: Vec::new(),
            },
            ControlPort {
                local: Local {
                    mtu: 1280,
                    ..Local::new(R1, addrs)
                },
                own: vec!["10.2.0.1/24".parse().unwrap()],
                own6: Vec::new(),
            },
        ];
        let macs = Macs::default();
        let cp = ControlPlane::new(ports, reader, macs.clone(), Limits::default());
        (cp, macs)
    }

    /// A UDP packet from `src` to `dst` as received on port 0, `len` bytes of IPv4.
    fn udp(src: &str, dst: &str, ttl: u8, len: u16, df: bool) -> Vec<u8> {
        let mut f = vec![0u8; HEADER_LEN + usize::from(len)];
        f[0..6].copy_from_slice(&R0.0);
        f[6..12].copy_from_slice(&H1.0);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&len.to_be_bytes());
        f[20] = if df { 0x40 } else { 0 };
        f[22] = ttl;
        f[23] = 17;
        f[26..30].copy_from_slice(&ip(src).octets());
        f[30..34].copy_from_slice(&ip(dst).octets());
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f
    }

    fn punted(port: u16, kind: Punt, frame: Vec<u8>) -> Punted {
        Punted { port, kind, frame }
    }

    fn arp_of(frame: &[u8]) -> ArpRepr {
        ArpRepr::parse(&ArpPacket::new_checked(&frame[HEADER_LEN..]).unwrap()).unwrap()
    }

    fn icmp_type(frame: &[u8]) -> Message {
        Icmpv4Packet::new_checked(&frame[34..]).unwrap().msg_type()
    }

    /// Input: a packet for a neighbour whose MAC is unknown, then that neighbour's ARP reply.
    /// Output: an ARP request from the output port's address; on the reply, the waiting packet
    /// leaves rewritten (MACs, TTL - 1, valid checksum) and the MAC is published to the data path.
    #[test]
    fn resolves_a_next_hop_and_sends_what_waited() {
        let (mut cp, macs) = control();
        let out = cp.handle(
            &punted(
                0,
                Punt::Unresolved,
                udp("10.1.0.2", "10.2.0.9", 64, 100, false),
            ),
            0,
        );
        assert_eq!(out.len(), 1);
        let (port, req) = &out[0];
        let arp = arp_of(req);
        assert_eq!(*port, 1);
        assert_eq!(&req[0..6], &[0xff; 6]);
        assert_eq!(
            (
                arp.operation,
                arp.source_hardware_addr,
                arp.source_protocol_addr,
                arp.target_protocol_addr
            ),
            (Operation::Request, R1, ip("10.2.0.1"), ip("10.2.0.9"))
        );
        assert!(macs.load().is_empty());

        let reply = reply::arp_reply(req, &Local::new(NB, vec![ip("10.2.0.9")])).unwrap();
        let out = cp.handle(&punted(1, Punt::Arp, reply), 5);
        assert_eq!(out.len(), 1, "the waiting packet, and no answer to a reply");
        let (port, f) = &out[0];
        assert_eq!(*port, 1);
        assert_eq!((&f[0..6], &f[6..12]), (&NB.0[..], &R1.0[..]));
        assert_eq!(f[22], 63);
        assert_eq!(checksum::checksum(&f[14..34]), 0);
        assert_eq!(macs.load().get(ip("10.2.0.9").into()), Some(&NB));
        assert_eq!(cp.counters.slow_forwarded, 1);
    }

    /// Input: a packet for a gateway that never answers, and the ARP timer running. Output: the
    /// requests are retried, then the sender gets host unreachable from the router.
    #[test]
    fn an_unanswered_next_hop_ends_in_host_unreachable() {
        let (mut cp, _) = control();
        let out = cp.handle(
            &punted(
                0,
                Punt::Unresolved,
                udp("10.1.0.2", "198.51.100.7", 64, 100, false),
            ),
            0,
        );
        assert_eq!(arp_of(&out[0].1).target_protocol_addr, ip("10.2.0.99"));
        let mut requests = 1;
        let mut errors = Vec::new();
        for t in (100..=5_000).step_by(100) {
            for (port, f) in cp.tick(t) {
                match u16::from_be_bytes([f[12], f[13]]) {
                    0x0806 => requests += 1,
                    _ => errors.push((port, f)),
                }
            }
        }
        assert_eq!(requests, 3, "max_probes requests in all");
        assert_eq!(errors.len(), 1);
        let (port, f) = &errors[0];
        assert_eq!(*port, 0, "back where the packet came from");
        assert_eq!(icmp_type(f), Message::DstUnreachable);
        assert_eq!(f[35], 1, "code 1: host unreachable");
        assert_eq!(
            &f[26..30],
            &[10, 1, 0, 1],
            "from the router's address on that side"
        );
        assert_eq!(cp.counters.unresolved_dropped, 1);
    }

    /// Input: 50 expiring packets from one source, then one from another. Output: the first
    /// source gets the limit's burst of time exceeded, the second still gets its own.
    #[test]
    fn icmp_errors_are_limited_per_source() {
        let (mut cp, _) = control();
        let mut sent = 0;
        for _ in 0..50 {
            let f = udp("10.1.0.2", "10.2.0.9", 1, 60, false);
            sent += cp.handle(&punted(0, Punt::TtlExceeded, f), 0).len();
        }
        assert_eq!(sent, 10, "the burst of a 100/s limit");
        assert_eq!(cp.counters.icmp_limited, 40);
        let other = cp.handle(
            &punted(
                0,
                Punt::TtlExceeded,
                udp("10.1.0.3", "10.2.0.9", 1, 60, false),
            ),
            0,
        );
        assert_eq!(other.len(), 1);
        assert_eq!(icmp_type(&other[0].1), Message::TimeExceeded);
        let later = cp.handle(
            &punted(
                0,
                Punt::TtlExceeded,
                udp("10.1.0.2", "10.2.0.9", 1, 60, false),
            ),
            1_000,
        );
        assert_eq!(later.len(), 1, "the bucket refills");
    }

    /// Input: 1500-byte packets towards the 1280-byte port, with and without DF. Output:
    /// fragmentation needed quoting the MTU; fragments that wait for ARP together.
    #[test]
    fn too_big_packets_are_fragmented_or_refused() {
        let (mut cp, _) = control();
        let out = cp.handle(
            &punted(0, Punt::TooBig, udp("10.1.0.2", "10.2.0.9", 64, 1500, true)),
            0,
        );
        assert_eq!(out.len(), 1);
        let f = &out[0].1;
        assert_eq!((icmp_type(f), f[35]), (Message::DstUnreachable, 4));
        assert_eq!(&f[40..42], &1280u16.to_be_bytes(), "next-hop MTU");

        let out = cp.handle(
            &punted(
                0,
                Punt::TooBig,
                udp("10.1.0.2", "10.2.0.9", 64, 1500, false),
            ),
            0,
        );
        assert_eq!(out.len(), 1, "one ARP request for both fragments");
        assert_eq!(cp.counters.fragments, 2);
        let reply = reply::arp_reply(&out[0].1, &Local::new(NB, vec![ip("10.2.0.9")])).unwrap();
        let sent = cp.handle(&punted(1, Punt::Arp, reply), 1);
        assert_eq!(sent.len(), 2);
        assert!(
            sent.iter()
                .all(|(p, f)| *p == 1 && f.len() <= HEADER_LEN + 1280)
        );
    }

    #[test]
    fn start_announces_every_address_and_answers_arp_for_its_own() {
        let (mut cp, _) = control();
        let out = cp.announce();
        let announced: Vec<(u16, Ipv4Addr)> = out
            .iter()
            .map(|(p, f)| (*p, arp_of(f).target_protocol_addr))
            .collect();
        assert_eq!(announced, vec![(0, ip("10.1.0.1")), (1, ip("10.2.0.1"))]);
        // A request for port 1's address arriving on port 0 is not answered there.
        let req = reply::arp_request(H1, ip("10.1.0.2"), ip("10.2.0.1"), None);
        assert!(cp.handle(&punted(0, Punt::Arp, req), 0).is_empty());
        let req = reply::arp_request(H1, ip("10.1.0.2"), ip("10.1.0.1"), None);
        let out = cp.handle(&punted(0, Punt::Arp, req), 0);
        assert_eq!(arp_of(&out[0].1).operation, Operation::Reply);
        assert_eq!(
            cp.neighbors().get(ip("10.1.0.2")),
            Some(H1),
            "learned from the request"
        );
        // A host on port 0 claiming an address of port 1's subnet teaches nothing.
        let spoof = reply::arp_request(H1, ip("10.2.0.9"), ip("10.1.0.1"), None);
        cp.handle(&punted(0, Punt::Arp, spoof), 0);
        assert_eq!(
            cp.neighbors().get(ip("10.2.0.9")),
            None,
            "not learned across ports"
        );
    }
}
