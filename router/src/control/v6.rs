//! The IPv6 half of the control plane: Neighbor Discovery (RFC 4861) for the router's addresses
//! and its next hops, ICMPv6 echo and errors (RFC 4443), and the slow forwarding path (no
//! fragmentation in IPv6: too big is always "packet too big").

use std::net::{IpAddr, Ipv6Addr};

use brick_routing::Lpm;

use super::{ControlPlane, ControlPort, Out, Waiting};
use crate::neighbor::Action;
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
    /// Unsolicited advertisements of every configured IPv6 address to all nodes (RFC 4861
    /// 7.2.6), the counterpart of gratuitous ARP. Not of link-local addresses: made from the
    /// port's MAC, they change with it, so no cache can hold a stale mapping of one.
    pub(super) fn announce6(&mut self, out: &mut Out) {
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        for (i, p) in self.ports.iter().enumerate() {
            for a in p.own6.iter().filter(|a| !ipv6::is_link_local(a.addr)) {
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
                self.counters.nd_advertisements += 1;
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
                        self.learn(port, IpAddr::V6(src), ll, true, now_ms)
                    }
                    _ => None,
                };
                (learned, Some(frame(to_mac, mac, &ip)))
            }
            // RFC 4861 7.2.5: an advertisement without the target's link-layer address does
            // not complete a resolution.
            // S set on an advertisement to a multicast group is invalid (7.1.2).
            Nd::Advert { flags, .. } if flags & icmpv6::NA_SOLICITED != 0 && dst.is_multicast() => {
                (None, None)
            }
            Nd::Advert {
                target,
                target_ll: Some(ll),
                flags,
            } if self.on_link(port, IpAddr::V6(target)) => {
                let before = self.neighbors.get(target);
                let learned = self.neighbors.advert(
                    target,
                    ll,
                    flags & icmpv6::NA_SOLICITED != 0,
                    flags & icmpv6::NA_OVERRIDE != 0,
                    now_ms,
                );
                if self.neighbors.get(target) != before {
                    self.macs.publish(self.neighbors.macs());
                }
                (learned, None)
            }
            Nd::Advert { .. } => (None, None),
        };
        if let Some(Action::Send(mac, waiting)) = learned {
            self.send_waiting(mac, waiting, out);
        }
        if let Some(r) = reply {
            self.counters.nd_advertisements += 1;
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
                let mac = self.ports[usize::from(port)].local.mac;
                self.counters.echo_replies += 1;
                out.push((port, frame(eth.src_addr(), mac, &reply)));
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
        let Some(gw) = self.route6(dst, brick_io::flow::hash(&f)) else {
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
        let w = Waiting {
            out_port: gw.port,
            in_port,
            frame: f,
        };
        self.resolve(next.into(), w, now_ms, out);
    }

    /// A neighbour solicitation for `ip`: to its solicited-node group, or unicast to `to` when
    /// an entry is re-confirmed.
    pub(super) fn request6(&mut self, ip: Ipv6Addr, to: Option<EthernetAddress>, out: &mut Out) {
        let Some(port) = self.route6(ip, 0).map(|g| g.port) else {
            return;
        };
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
        self.counters.nd_solicitations += 1;
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
            p.source6_for(src).or(p.local.addrs6.first().copied())
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

#[cfg(test)]
mod tests {
    use brick_routing::{Fib, Gateway, Poptrie4, Poptrie6, Prefix};

    use super::*;
    use crate::classify::Local;
    use crate::control::Limits;
    use crate::neighbor::Macs;
    use crate::punt::Punted;
    use crate::verdict::Punt;

    const R0: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0]);
    const R1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 1]);
    const H1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 2, 1]);
    const NB: EthernetAddress = EthernetAddress([2, 0, 0, 0, 2, 9]);

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// Port 0: fd01::1/64; port 1: fd02::1/64, MTU 1280.
    fn control() -> ControlPlane<Poptrie4> {
        let (_, fib) = Fib::new(Poptrie4::default(), vec![vec![]]).publish();
        let p = |s: &str| s.parse::<Prefix<u128>>().unwrap();
        let routes = [(p("fd01::/64"), 1), (p("fd02::/64"), 2)];
        let groups = vec![
            vec![],
            vec![Gateway { port: 0, addr: 0 }],
            vec![Gateway { port: 1, addr: 0 }],
        ];
        let (_, fib6) = Fib::new(Poptrie6::from_routes(&routes).unwrap(), groups).publish();
        let addrs6 = vec![a("fd01::1"), a("fd02::1")];
        let port = |mac, mtu, own: &str| ControlPort {
            local: Local {
                addrs6: addrs6.clone(),
                mtu,
                ..Local::new(mac, Vec::new())
            },
            own: Vec::new(),
            own6: vec![own.parse().unwrap()],
        };
        let ports = vec![port(R0, 1500, "fd01::1/64"), port(R1, 1280, "fd02::1/64")];
        ControlPlane::new(ports, fib, Macs::default(), Limits::default()).with_v6(fib6)
    }

    fn punt(port: u16, kind: Punt, frame: Vec<u8>) -> Punted {
        Punted { port, kind, frame }
    }

    /// An ICMPv6 message in a frame from `src` (H1) to `dst`.
    fn icmp(src: &str, dst: &str, hop: u8, t: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
        frame(
            R0,
            H1,
            &icmpv6::packet(a(src), a(dst), hop, t, 0, rest, body),
        )
    }

    /// A UDP packet of `len` bytes of IPv6 from h1 to `dst`.
    fn udp(dst: &str, len: usize) -> Vec<u8> {
        let mut ip = vec![0u8; len];
        ipv6::Ipv6Repr {
            src_addr: a("fd01::2"),
            dst_addr: a(dst),
            next_header: ipv6::NEXT_UDP,
            payload_len: len - ipv6::HEADER_LEN,
            hop_limit: 64,
        }
        .emit(&mut ip);
        frame(R0, H1, &ip)
    }

    fn ip_of(f: &[u8]) -> Ipv6Packet<&[u8]> {
        Ipv6Packet::new_checked(&f[HEADER_LEN..]).unwrap()
    }

    #[test]
    fn answers_a_solicitation_for_its_address_and_learns_the_sender() {
        let mut cp = control();
        let ns = icmp(
            "fd01::2",
            "ff02::1:ff00:1",
            255,
            icmpv6::NEIGHBOR_SOLICIT,
            [0; 4],
            &icmpv6::nd_body(a("fd01::1"), true, H1),
        );
        let out = cp.handle(&punt(0, Punt::Nd, ns), 0);
        assert_eq!(out.len(), 1);
        let f = &out[0].1;
        assert_eq!(&f[0..6], &H1.0, "to the solicitor's MAC");
        let ip = ip_of(f);
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.hop_limit()),
            (a("fd01::1"), a("fd01::2"), 255)
        );
        assert!(icmpv6::verify(ip.src_addr(), ip.dst_addr(), ip.payload()));
        assert_eq!(
            icmpv6::parse_nd(ip.payload()),
            Some(Nd::Advert {
                target: a("fd01::1"),
                target_ll: Some(R0),
                flags: icmpv6::NA_ROUTER | icmpv6::NA_SOLICITED | icmpv6::NA_OVERRIDE,
            })
        );
        assert_eq!(cp.neighbors().get(a("fd01::2")), Some(H1));
        assert_eq!(
            (cp.counters.nd_advertisements, cp.counters.arp_replies),
            (1, 0),
            "counted as ND, not ARP"
        );

        let mut forged = icmp(
            "fd01::2",
            "ff02::1:ff00:1",
            64,
            icmpv6::NEIGHBOR_SOLICIT,
            [0; 4],
            &icmpv6::nd_body(a("fd01::1"), true, H1),
        );
        assert!(
            cp.handle(&punt(0, Punt::Nd, forged.clone()), 0).is_empty(),
            "hop limit not 255"
        );
        forged[HEADER_LEN + 7] = 255;
        forged[HEADER_LEN + 40 + 20] ^= 1;
        assert!(
            cp.handle(&punt(0, Punt::Nd, forged), 0).is_empty(),
            "checksum no longer valid"
        );
    }

    #[test]
    fn resolves_an_ipv6_next_hop_and_sends_what_waited() {
        let mut cp = control();
        let out = cp.handle(&punt(0, Punt::Unresolved, udp("fd02::9", 100)), 0);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (cp.counters.nd_solicitations, cp.counters.arp_requests),
            (1, 0)
        );
        let (port, ns) = &out[0];
        assert_eq!(*port, 1);
        assert_eq!(
            &ns[0..6],
            &[0x33, 0x33, 0xff, 0, 0, 9],
            "solicited-node group's MAC"
        );
        let ip = ip_of(ns);
        assert_eq!(
            (ip.src_addr(), ip.dst_addr()),
            (a("fd02::1"), a("ff02::1:ff00:9"))
        );
        assert!(
            matches!(icmpv6::parse_nd(ip.payload()), Some(Nd::Solicit { target, source_ll: Some(R1) }) if target == a("fd02::9"))
        );

        let na = frame(
            R1,
            NB,
            &icmpv6::packet(
                a("fd02::9"),
                a("fd02::1"),
                255,
                icmpv6::NEIGHBOR_ADVERT,
                0,
                [icmpv6::NA_SOLICITED, 0, 0, 0],
                &icmpv6::nd_body(a("fd02::9"), false, NB),
            ),
        );
        let out = cp.handle(&punt(1, Punt::Nd, na), 1);
        assert_eq!(out.len(), 1);
        let (port, f) = &out[0];
        assert_eq!((*port, &f[0..6], &f[6..12]), (1, &NB.0[..], &R1.0[..]));
        assert_eq!(ip_of(f).hop_limit(), 63);
    }

    #[test]
    fn too_big_and_echo() {
        let mut cp = control();
        let out = cp.handle(&punt(0, Punt::TooBig, udp("fd02::9", 1500)), 0);
        let f = &out[0].1;
        let ip = ip_of(f);
        let msg = ip.payload();
        assert_eq!(
            (msg[0], &msg[4..8]),
            (icmpv6::PACKET_TOO_BIG, &1280u32.to_be_bytes()[..])
        );
        assert!(
            ip.total_len() <= icmpv6::MIN_MTU,
            "the error fits the minimum MTU"
        );
        assert!(icmpv6::verify(ip.src_addr(), ip.dst_addr(), msg));
        assert_eq!((ip.src_addr(), ip.dst_addr()), (a("fd01::1"), a("fd01::2")));

        let ping = icmp(
            "fd01::2",
            "fd02::1",
            64,
            icmpv6::ECHO_REQUEST,
            [0, 7, 0, 1],
            b"abcd",
        );
        let out = cp.handle(&punt(0, Punt::Local, ping), 0);
        let ip = ip_of(&out[0].1);
        assert_eq!(ip.src_addr(), a("fd02::1"), "from the address pinged");
        assert_eq!(&ip.payload()[..1], &[icmpv6::ECHO_REPLY]);
        assert_eq!(&ip.payload()[4..], &[0, 7, 0, 1, b'a', b'b', b'c', b'd']);
        assert!(icmpv6::verify(ip.src_addr(), ip.dst_addr(), ip.payload()));
    }
}
