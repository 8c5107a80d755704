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
use std::net::Ipv4Addr;

use brick_routing::{FibReader, Lpm, NO_ROUTE};

use crate::classify::Local;
use crate::config::IfAddr;
use crate::fragment::fragment;
use crate::neighbor::{self, Action, Lookup, Macs, Neighbors};
use crate::punt::{Punted, RateLimit};
use crate::reply::{self, IcmpError};
use crate::verdict::Punt;
use crate::wire::arp::{ArpPacket, ArpRepr};
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, HEADER_LEN};
use crate::wire::ipv4::{Ipv4Packet, Protocol};

/// Frames to send, each with its output port.
pub type Out = Vec<(u16, Vec<u8>)>;

/// One port as the control plane sees it.
#[derive(Clone, Debug)]
pub struct ControlPort {
    /// The data path's view (MAC, all the router's addresses, MTU).
    pub local: Local,
    /// The addresses configured on this port.
    pub own: Vec<IfAddr>,
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

/// A packet waiting for its next hop's MAC: the output port and the frame (TTL not yet
/// decremented).
type Waiting = (u16, Vec<u8>);

/// The control plane of one node.
#[derive(Debug)]
pub struct ControlPlane<T> {
    ports: Vec<ControlPort>,
    fib: FibReader<u32, T>,
    macs: Macs,
    neighbors: Neighbors<Waiting>,
    icmp: HashMap<Ipv4Addr, RateLimit>,
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
            icmp: HashMap::new(),
            limits,
            counters: ControlCounters::default(),
        }
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
        match p.kind {
            Punt::Arp => self.arp(p.port, &p.frame, now_ms, &mut out),
            Punt::Local => self.local(p.port, &p.frame, now_ms, &mut out),
            Punt::TtlExceeded => {
                self.icmp_error(p.port, &p.frame, IcmpError::TimeExceeded, now_ms, &mut out)
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
        let changed = !actions.is_empty();
        for a in actions {
            match a {
                Action::Request(ip, to) => self.request(ip, to, &mut out),
                Action::Send(mac, waiting) => self.send_waiting(mac, waiting, &mut out),
                Action::Unreachable(_, waiting) => {
                    for (_, frame) in waiting {
                        self.counters.unresolved_dropped += 1;
                        if let Some(in_port) = self.ingress_port(&frame) {
                            self.icmp_error(
                                in_port,
                                &frame,
                                IcmpError::HostUnreachable,
                                now_ms,
                                &mut out,
                            );
                        }
                    }
                }
            }
        }
        if changed {
            self.macs.publish(self.neighbors.macs());
        }
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
        let before = self.neighbors.get(arp.source_protocol_addr);
        let learned = self.neighbors.learn(
            arp.source_protocol_addr,
            arp.source_hardware_addr,
            for_us,
            now_ms,
        );
        if self.neighbors.get(arp.source_protocol_addr) != before {
            self.macs.publish(self.neighbors.macs());
        }
        if let Some(Action::Send(mac, waiting)) = learned {
            self.send_waiting(mac, waiting, out);
        }
        // Replies and requests for other hosts only teach the cache.
        if let Some(r) = reply::arp_reply(frame, &own) {
            self.counters.arp_replies += 1;
            out.push((port, r));
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
        let fib = self.fib.load();
        let nh = fib.lookup(u32::from(dst));
        let Some(gw) = fib
            .path(nh, brick_io::flow::hash(&frame))
            .filter(|_| nh != NO_ROUTE)
            .copied()
        else {
            self.icmp_error(in_port, &frame, IcmpError::NetUnreachable, now_ms, out);
            return;
        };
        drop(fib);
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
        for piece in pieces {
            match self.neighbors.lookup(next, None, now_ms) {
                Lookup::Mac(mac) => self.send_waiting(mac, vec![(gw.port, piece)], out),
                Lookup::Pending { request } => {
                    // The entry exists now: queue the piece behind it.
                    if self.neighbors.lookup(next, Some((gw.port, piece)), now_ms) == Lookup::Drop {
                        self.counters.unresolved_dropped += 1;
                    }
                    if request {
                        self.request(next, None, out);
                    }
                }
                Lookup::Drop => self.counters.unresolved_dropped += 1,
            }
        }
    }

    /// Rewrites waiting packets for `mac` (TTL - 1, MACs) and sends them.
    fn send_waiting(&mut self, mac: EthernetAddress, waiting: Vec<Waiting>, out: &mut Out) {
        for (port, mut frame) in waiting {
            let Some(p) = self.ports.get(usize::from(port)) else {
                continue;
            };
            let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
            eth.set_dst_addr(mac);
            eth.set_src_addr(p.local.mac);
            Ipv4Packet::new_unchecked(&mut frame[HEADER_LEN..]).decrement_ttl();
            self.counters.slow_forwarded += 1;
            out.push((port, frame));
        }
    }

    /// An ARP request for `ip` out of the port whose subnet holds it.
    fn request(&mut self, ip: Ipv4Addr, to: Option<EthernetAddress>, out: &mut Out) {
        let fib = self.fib.load();
        let nh = fib.lookup(u32::from(ip));
        let Some(port) = fib.path(nh, 0).filter(|_| nh != NO_ROUTE).map(|g| g.port) else {
            return;
        };
        drop(fib);
        let Some(p) = self.ports.get(usize::from(port)) else {
            return;
        };
        let Some(sender) = p.source_for(ip) else {
            return;
        };
        self.counters.arp_requests += 1;
        out.push((port, reply::arp_request(p.local.mac, sender, ip, to)));
    }

    /// The port a waiting packet came in on, found by routing back to its source (the packet no
    /// longer carries it).
    fn ingress_port(&self, frame: &[u8]) -> Option<u16> {
        let ip = Ipv4Packet::new_checked(frame.get(HEADER_LEN..)?).ok()?;
        let fib = self.fib.load();
        let nh = fib.lookup(u32::from(ip.src_addr()));
        fib.path(nh, 0).filter(|_| nh != NO_ROUTE).map(|g| g.port)
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
        if self.icmp.len() >= self.limits.icmp_sources && !self.icmp.contains_key(&src) {
            self.icmp.clear();
        }
        let rate = self.limits.icmp_rate;
        let bucket = self
            .icmp
            .entry(src)
            .or_insert_with(|| RateLimit::new(rate, rate.clamp(1, 10)));
        if !bucket.allow(now_ms.saturating_mul(1_000_000)) {
            self.counters.icmp_limited += 1;
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
