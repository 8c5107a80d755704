//! The IPv6 half of the control plane: Neighbor Discovery (RFC 4861) for the router's addresses
//! and its next hops, ICMPv6 echo and errors (RFC 4443), and the slow forwarding path (no
//! fragmentation in IPv6: too big is always "packet too big").

use std::net::{IpAddr, Ipv6Addr};

use brick_routing::{Lpm, NO_ROUTE};

use super::{ControlPlane, ControlPort, Out};
use crate::neighbor::{Action, Lookup};
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr, HEADER_LEN};
use crate::wire::icmpv6::{self, Nd};
use crate::wire::ipv6::{self, Ipv6Packet};

/// Hop limit of ND messages (RFC 4861 7.1: receivers drop anything else).
const ND_HOP_LIMIT: u8 = 255;
/// Hop limit of the router's other packets.
const HOP_LIMIT: u8 = 64;

/// An ICMPv6 error: type, code and the 4 type-specific bytes (the MTU of packet too big).
pub(super) type Icmp6Error = (u8, u8, [u8; 4]);

impl ControlPort {
    /// Our IPv6 address towards `peer`: on its subnet, else the port's first.
    fn source6_for(&self, peer: Ipv6Addr) -> Option<Ipv6Addr> {
        self.own6
            .iter()
            .find(|a| a.subnet().contains(u128::from(peer)))
            .or(self.own6.first())
            .map(|a| a.addr)
    }
}

/// Ethernet + `ip` (an IPv6 packet) from `src` to `dst`.
fn frame(dst: EthernetAddress, src: EthernetAddress, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; HEADER_LEN];
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    f.extend_from_slice(ip);
    f
}

/// The IPv6 packet of `frame`, checked.
fn ip6(frame: &[u8]) -> Option<Ipv6Packet<&[u8]>> {
    Ipv6Packet::new_checked(frame.get(HEADER_LEN..)?).ok()
}

impl<T: Lpm<u32>> ControlPlane<T> {
    /// Unsolicited advertisements of every IPv6 address to all nodes (RFC 4861 7.2.6), the
    /// counterpart of gratuitous ARP.
    pub(super) fn announce6(&mut self, out: &mut Out) {
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        for (i, p) in self.ports.iter().enumerate() {
            for a in &p.own6 {
                let body = icmpv6::nd_body(a.addr, false, p.local.mac);
                let flags = [icmpv6::NA_ROUTER | icmpv6::NA_OVERRIDE, 0, 0, 0];
                let ip = icmpv6::packet(
                    a.addr,
                    all_nodes,
                    ND_HOP_LIMIT,
                    icmpv6::NEIGHBOR_ADVERT,
                    0,
                    flags,
                    &body,
                );
                let dst = EthernetAddress(ipv6::multicast_mac(all_nodes));
                out.push((i as u16, frame(dst, p.local.mac, &ip)));
                self.counters.arp_requests += 1;
            }
        }
    }

    /// A neighbour solicitation or advertisement.
    pub(super) fn nd(&mut self, port: u16, f: &[u8], now_ms: u64, out: &mut Out) {
        let Some(ip) = ip6(f) else {
            self.counters.unhandled += 1;
            return;
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let msg = ip.payload();
        let nd = (ip.hop_limit() == ND_HOP_LIMIT && icmpv6::verify(src, dst, msg))
            .then(|| icmpv6::parse_nd(msg))
            .flatten();
        let Some(nd) = nd else {
            self.counters.unhandled += 1;
            return;
        };
        let eth_src = EthernetFrame::new_unchecked(f).src_addr();
        let cp = &self.ports[usize::from(port)];
        let mac = cp.local.mac;
        let (learned, reply) = match nd {
            Nd::Solicit { target, source_ll } => {
                if !cp.own6.iter().any(|a| a.addr == target) {
                    return;
                }
                // From :: (duplicate address detection) the answer goes to all nodes.
                let (to, to_mac, solicited) = if src.is_unspecified() {
                    let all = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
                    (all, EthernetAddress(ipv6::multicast_mac(all)), 0)
                } else {
                    (src, source_ll.unwrap_or(eth_src), icmpv6::NA_SOLICITED)
                };
                let flags = [icmpv6::NA_ROUTER | solicited | icmpv6::NA_OVERRIDE, 0, 0, 0];
                let ip = icmpv6::packet(
                    target,
                    to,
                    ND_HOP_LIMIT,
                    icmpv6::NEIGHBOR_ADVERT,
                    0,
                    flags,
                    &icmpv6::nd_body(target, false, mac),
                );
                let learned = match source_ll {
                    Some(ll) if !src.is_unspecified() => {
                        self.neighbors.learn(src, ll, true, now_ms)
                    }
                    _ => None,
                };
                (learned, Some(frame(to_mac, mac, &ip)))
            }
            Nd::Advert {
                target, target_ll, ..
            } => (
                self.neighbors
                    .learn(target, target_ll.unwrap_or(eth_src), false, now_ms),
                None,
            ),
        };
        self.macs.publish(self.neighbors.macs());
        if let Some(Action::Send(mac, waiting)) = learned {
            self.send_waiting(mac, waiting, out);
        }
        if let Some(r) = reply {
            self.counters.arp_replies += 1;
            out.push((port, r));
        }
    }

    /// Packets to one of our IPv6 addresses: echo replies, port unreachable for UDP.
    pub(super) fn local6(&mut self, port: u16, f: &[u8], now_ms: u64, out: &mut Out) {
        let Some(ip) = ip6(f) else {
            self.counters.unhandled += 1;
            return;
        };
        let (src, dst, msg) = (ip.src_addr(), ip.dst_addr(), ip.payload());
        match ip.next_header() {
            ipv6::NEXT_ICMPV6
                if msg.first() == Some(&icmpv6::ECHO_REQUEST)
                    && msg.len() >= 8
                    && icmpv6::verify(src, dst, msg) =>
            {
                let rest = [msg[4], msg[5], msg[6], msg[7]];
                let reply =
                    icmpv6::packet(dst, src, HOP_LIMIT, icmpv6::ECHO_REPLY, 0, rest, &msg[8..]);
                let eth = EthernetFrame::new_unchecked(f);
                self.counters.echo_replies += 1;
                out.push((port, frame(eth.src_addr(), eth.dst_addr(), &reply)));
            }
            ipv6::NEXT_UDP => {
                let e = (icmpv6::DST_UNREACHABLE, icmpv6::unreachable::PORT, [0; 4]);
                self.icmp6_error(port, f, e, now_ms, out);
            }
            _ => self.counters.unhandled += 1,
        }
    }

    /// The slow forwarding path for IPv6: route, check the MTU, resolve, rewrite.
    pub(super) fn forward6(&mut self, in_port: u16, f: Vec<u8>, now_ms: u64, out: &mut Out) {
        let Some(ip) = ip6(&f) else {
            self.counters.unhandled += 1;
            return;
        };
        let (dst, total) = (ip.dst_addr(), ip.total_len());
        let gw = self.fib6.as_ref().and_then(|fib6| {
            let fib = fib6.load();
            let nh = fib.lookup(u128::from(dst));
            fib.path(nh, brick_io::flow::hash(&f))
                .filter(|_| nh != NO_ROUTE)
                .copied()
        });
        let Some(gw) = gw else {
            let e = (
                icmpv6::DST_UNREACHABLE,
                icmpv6::unreachable::NO_ROUTE,
                [0; 4],
            );
            self.icmp6_error(in_port, &f, e, now_ms, out);
            return;
        };
        let Some(mtu) = self.ports.get(usize::from(gw.port)).map(|p| p.local.mtu) else {
            self.counters.unhandled += 1;
            return;
        };
        if total > usize::from(mtu) {
            let e = (icmpv6::PACKET_TOO_BIG, 0, u32::from(mtu).to_be_bytes());
            self.icmp6_error(in_port, &f, e, now_ms, out);
            return;
        }
        let next = if gw.addr == 0 {
            dst
        } else {
            Ipv6Addr::from(gw.addr)
        };
        match self.neighbors.lookup(next, None, now_ms) {
            Lookup::Mac(mac) => self.send_waiting(mac, vec![(gw.port, f)], out),
            Lookup::Pending { request } => {
                if self.neighbors.lookup(next, Some((gw.port, f)), now_ms) == Lookup::Drop {
                    self.counters.unresolved_dropped += 1;
                }
                if request {
                    self.request6(next, None, out);
                }
            }
            Lookup::Drop => self.counters.unresolved_dropped += 1,
        }
    }

    /// A neighbour solicitation for `ip`: to its solicited-node group, or unicast to `to` when
    /// an entry is re-confirmed.
    pub(super) fn request6(&mut self, ip: Ipv6Addr, to: Option<EthernetAddress>, out: &mut Out) {
        let Some(fib) = self.fib6.as_ref().map(|f| f.load()) else {
            return;
        };
        let nh = fib.lookup(u128::from(ip));
        let Some(port) = fib.path(nh, 0).filter(|_| nh != NO_ROUTE).map(|g| g.port) else {
            return;
        };
        drop(fib);
        let Some(p) = self.ports.get(usize::from(port)) else {
            return;
        };
        let Some(src) = p.source6_for(ip) else {
            return;
        };
        let (dst, dst_mac) = match to {
            Some(mac) => (ip, mac),
            None => {
                let group = ipv6::solicited_node(ip);
                (group, EthernetAddress(ipv6::multicast_mac(group)))
            }
        };
        let body = icmpv6::nd_body(ip, true, p.local.mac);
        let ns = icmpv6::packet(
            src,
            dst,
            ND_HOP_LIMIT,
            icmpv6::NEIGHBOR_SOLICIT,
            0,
            [0; 4],
            &body,
        );
        self.counters.arp_requests += 1;
        out.push((port, frame(dst_mac, p.local.mac, &ns)));
    }

    /// An ICMPv6 error about `f` (received on `port`) within the per-source limit, never where
    /// RFC 4443 2.4 (e) forbids one; quoting as much of `f` as fits in the minimum MTU.
    pub(super) fn icmp6_error(
        &mut self,
        port: u16,
        f: &[u8],
        (msg_type, code, rest): Icmp6Error,
        now_ms: u64,
        out: &mut Out,
    ) {
        let Some(ip) = ip6(f) else {
            self.counters.unhandled += 1;
            return;
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let eth = EthernetFrame::new_unchecked(f);
        let too_big = msg_type == icmpv6::PACKET_TOO_BIG;
        let is_error = ip.next_header() == ipv6::NEXT_ICMPV6
            && ip.payload().first().is_some_and(|&t| t < 128 || t == 137);
        if is_error
            || src.is_unspecified()
            || src.is_multicast()
            || ((dst.is_multicast() || eth.dst_addr().is_multicast()) && !too_big)
        {
            self.counters.unhandled += 1;
            return;
        }
        if !self.allow_icmp(IpAddr::V6(src), now_ms) {
            return;
        }
        let p = &self.ports[usize::from(port)];
        let from = if code == icmpv6::unreachable::PORT && msg_type == icmpv6::DST_UNREACHABLE {
            Some(dst)
        } else {
            p.source6_for(src)
        };
        let Some(from) = from else {
            self.counters.unhandled += 1;
            return;
        };
        let packet = &f[HEADER_LEN..HEADER_LEN + ip.total_len()];
        let quote = &packet[..packet.len().min(icmpv6::MIN_MTU - ipv6::HEADER_LEN - 8)];
        let e = icmpv6::packet(from, src, HOP_LIMIT, msg_type, code, rest, quote);
        self.counters.icmp_errors += 1;
        out.push((port, frame(eth.src_addr(), p.local.mac, &e)));
    }
}
