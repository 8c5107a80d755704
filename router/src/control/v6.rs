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
/// Hop limit of the router's other packets, and the one its advertisements give hosts.
const HOP_LIMIT: u8 = 64;

/// Router advertisement timing (RFC 4861 6.2.1 and 10): unsolicited advertisements every 200 to
/// 600 s, the first three 16 s apart, multicast answers to solicitations no closer than 3 s; a
/// default router for three times the longest interval.
const RA_MIN_INTERVAL_MS: u64 = 200_000;
const RA_MAX_INTERVAL_MS: u64 = 600_000;
const RA_INITIAL_INTERVAL_MS: u64 = 16_000;
const RA_INITIAL_COUNT: u8 = 3;
const RA_MIN_DELAY_MS: u64 = 3_000;
const RA_LIFETIME_S: u16 = 1_800;

/// The router advertisement timer of one port.
#[derive(Debug)]
pub(super) struct Advertiser {
    next_ms: u64,
    initial_left: u8,
    last_multicast_ms: Option<u64>,
    /// Draws the intervals: advertisements of routers on one link must not fall into step.
    rng: u64,
}

impl Advertiser {
    fn new(seed: u64) -> Self {
        Advertiser {
            next_ms: 0,
            initial_left: RA_INITIAL_COUNT,
            last_multicast_ms: None,
            rng: seed | 1,
        }
    }

    /// A multicast advertisement went out at `now`: when the next one is due.
    fn sent(&mut self, now: u64) {
        self.last_multicast_ms = Some(now);
        self.next_ms = now
            + if self.initial_left > 0 {
                self.initial_left -= 1;
                RA_INITIAL_INTERVAL_MS
            } else {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                RA_MIN_INTERVAL_MS + self.rng % (RA_MAX_INTERVAL_MS - RA_MIN_INTERVAL_MS + 1)
            };
    }
}

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

/// The all-nodes group (ff02::1) and its MAC.
fn all_nodes() -> (Ipv6Addr, EthernetAddress) {
    let a = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    (a, EthernetAddress(ipv6::multicast_mac(a)))
}

/// The neighbour table's key of `a` heard on `port`: a link-local address carries its port
/// (`ipv6::scoped`), any other stands for itself.
fn neighbor_key(a: Ipv6Addr, port: u16) -> Ipv6Addr {
    if ipv6::is_link_local(a) {
        ipv6::scoped(a, port)
    } else {
        a
    }
}

/// The IPv6 packet of `frame`, checked.
fn ip6(frame: &[u8]) -> Option<Ipv6Packet<&[u8]>> {
    Ipv6Packet::new_checked(frame.get(HEADER_LEN..)?).ok()
}

impl<T: Lpm<u32>> ControlPlane<T> {
    /// Sends router advertisements on `ports` (RFC 4861 6.2): the first at the next tick, then
    /// periodically, and in answer to router solicitations.
    pub fn with_router_adverts(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.adverts = (0..self.ports.len()).map(|_| None).collect();
        for p in ports {
            let Some(cp) = self.ports.get(usize::from(p)) else {
                continue;
            };
            let seed = cp
                .local
                .mac
                .0
                .iter()
                .fold(u64::from(p), |h, &b| h << 8 ^ u64::from(b));
            self.adverts[usize::from(p)] = Some(Advertiser::new(seed));
        }
        self
    }

    /// The router advertisement of `port` to `to` at `to_mac`, from the port's link-local
    /// address (hosts take no other, RFC 4861 6.1.2), offering this router as a default router
    /// for `lifetime_s`.
    fn router_advert(
        &mut self,
        port: u16,
        to: Ipv6Addr,
        to_mac: EthernetAddress,
        lifetime_s: u16,
        out: &mut Out,
    ) {
        let cp = &self.ports[usize::from(port)];
        let Some(src) = cp
            .own6
            .iter()
            .map(|a| a.addr)
            .find(|&a| ipv6::is_link_local(a))
        else {
            return;
        };
        let ra = icmpv6::RouterAdvert {
            hop_limit: HOP_LIMIT,
            lifetime_s,
            mac: cp.local.mac,
            mtu: u32::from(cp.local.mtu),
            prefixes: (cp.own6.iter())
                .filter(|a| !ipv6::is_link_local(a.addr))
                .map(|a| (Ipv6Addr::from(a.subnet().addr()), a.len))
                .collect(),
        };
        let (rest, body) = ra.emit();
        let ip = icmpv6::packet(src, to, ND_HOP_LIMIT, icmpv6::ROUTER_ADVERT, 0, rest, &body);
        out.push((port, frame(to_mac, cp.local.mac, &ip)));
        self.counters.router_advertisements += 1;
    }

    /// Multicast router advertisements that are due.
    pub(super) fn advertise6(&mut self, now_ms: u64, out: &mut Out) {
        let (all_nodes, to_mac) = all_nodes();
        for port in 0..self.adverts.len() {
            if self.adverts[port]
                .as_ref()
                .is_some_and(|a| now_ms >= a.next_ms)
            {
                self.router_advert(port as u16, all_nodes, to_mac, RA_LIFETIME_S, out);
                if let Some(a) = self.adverts[port].as_mut() {
                    a.sent(now_ms);
                }
            }
        }
    }

    /// The last router advertisements of a router that stops (RFC 4861 6.2.5): lifetime 0, so
    /// hosts drop it as a default router now instead of in 30 minutes.
    pub fn goodbye(&mut self) -> Out {
        let mut out = Out::new();
        let (all_nodes, to_mac) = all_nodes();
        for port in 0..self.adverts.len() {
            if self.adverts[port].is_some() {
                self.router_advert(port as u16, all_nodes, to_mac, 0, &mut out);
            }
        }
        out
    }

    /// Unsolicited advertisements of every configured IPv6 address to all nodes (RFC 4861
    /// 7.2.6), the counterpart of gratuitous ARP. Not of link-local addresses: made from the
    /// port's MAC, they change with it, so no cache can hold a stale mapping of one.
    pub(super) fn announce6(&mut self, out: &mut Out) {
        let (all_nodes, all_nodes_mac) = all_nodes();
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
                out.push((i as u16, frame(all_nodes_mac, p.local.mac, &ip)));
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
        let key = |a| neighbor_key(a, port);
        let cp = &self.ports[usize::from(port)];
        let mac = cp.local.mac;
        let (learned, reply) = match nd {
            Nd::Solicit { target, source_ll } => {
                if !cp.own6.iter().any(|a| a.addr == target) {
                    return;
                }
                // From :: (duplicate address detection) the answer goes to all nodes.
                let (to, to_mac, solicited) = if src.is_unspecified() {
                    let (all, all_mac) = all_nodes();
                    (all, all_mac, 0)
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
                        self.learn(port, IpAddr::V6(key(src)), ll, true, now_ms)
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
            } if self.on_link(port, IpAddr::V6(key(target))) => {
                let target = key(target);
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
            // RFC 4861 6.1.1: from ::, a solicitation carries no link-layer address.
            Nd::RouterSolicit { source_ll: Some(_) } if src.is_unspecified() => {
                self.counters.unhandled += 1;
                return;
            }
            Nd::RouterSolicit { source_ll } => {
                self.router_solicit(port, src, source_ll.or(Some(eth_src)), now_ms, out);
                return;
            }
        };
        if let Some(Action::Send(mac, waiting)) = learned {
            self.send_waiting(mac, waiting, out);
        }
        if let Some(r) = reply {
            self.counters.nd_advertisements += 1;
            out.push((port, r));
        }
    }

    /// The port of neighbour `key` and its address on the wire: a link-local key names its
    /// port, any other is on the port its route leads to.
    pub(super) fn locate6(&self, key: Ipv6Addr) -> Option<(u16, Ipv6Addr)> {
        ipv6::unscope(key).or_else(|| Some((self.route6(key, 0)?.port, key)))
    }

    /// A router solicitation from `src` (RFC 4861 6.2.6): on an advertising port, a unicast
    /// advertisement to a host that has an address, else a multicast one, at most one per 3 s.
    fn router_solicit(
        &mut self,
        port: u16,
        src: Ipv6Addr,
        source_ll: Option<EthernetAddress>,
        now_ms: u64,
        out: &mut Out,
    ) {
        let Some(adv) = self
            .adverts
            .get_mut(usize::from(port))
            .and_then(Option::as_mut)
        else {
            // Not an advertising interface: the solicitation is silently discarded.
            return;
        };
        match source_ll {
            Some(ll) if !src.is_unspecified() => {
                let key = IpAddr::V6(neighbor_key(src, port));
                if let Some(Action::Send(mac, waiting)) = self.learn(port, key, ll, true, now_ms) {
                    self.send_waiting(mac, waiting, out);
                }
                self.router_advert(port, src, ll, RA_LIFETIME_S, out);
            }
            _ => {
                let earliest = adv.last_multicast_ms.map_or(0, |t| t + RA_MIN_DELAY_MS);
                adv.next_ms = adv.next_ms.min(earliest.max(now_ms));
                self.advertise6(now_ms, out);
            }
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
    pub(super) fn request6(&mut self, key: Ipv6Addr, to: Option<EthernetAddress>, out: &mut Out) {
        let Some((port, ip)) = self.locate6(key) else {
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
    use crate::config::IfAddr6;
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

    /// Port 0: fd01::1/64; port 1: fd02::1/64, MTU 1280, and its link-local address;
    /// fd09::/64 via the link-local gateway fe80::9 on port 1.
    fn control() -> ControlPlane<Poptrie4> {
        let (_, fib) = Fib::new(Poptrie4::default(), vec![vec![]]).publish();
        let p = |s: &str| s.parse::<Prefix<u128>>().unwrap();
        let routes = [
            (p("fd01::/64"), 1),
            (p("fd02::/64"), 2),
            (p("fd09::/64"), 3),
        ];
        let groups = vec![
            vec![],
            vec![Gateway { port: 0, addr: 0 }],
            vec![Gateway { port: 1, addr: 0 }],
            vec![Gateway {
                port: 1,
                addr: u128::from(ipv6::scoped(a("fe80::9"), 1)),
            }],
        ];
        let (_, fib6) = Fib::new(Poptrie6::from_routes(&routes).unwrap(), groups).publish();
        let addrs6 = vec![a("fd01::1"), a("fd02::1")];
        let port = |mac, mtu, own: &[IfAddr6]| ControlPort {
            local: Local {
                addrs6: addrs6.clone(),
                mtu,
                ..Local::new(mac, Vec::new())
            },
            own: Vec::new(),
            own6: own.to_vec(),
        };
        let ll1 = IfAddr6 {
            addr: ipv6::link_local(R1.0),
            len: 64,
        };
        let ports = vec![
            port(R0, 1500, &["fd01::1/64".parse().unwrap()]),
            port(R1, 1280, &["fd02::1/64".parse().unwrap(), ll1]),
        ];
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

    /// Input: port 0 advertises, port 1 does not. Output: the first tick multicasts an
    /// advertisement from the link-local address with fd01::/64 and MTU 1500; the next ones are
    /// due 16 s apart, then 200 to 600 s; a solicitation from a host with an address gets a
    /// unicast answer and the host is learnt; one from :: brings the next multicast one forward
    /// to 3 s after the last; port 1 stays silent.
    #[test]
    fn router_advertisements_on_schedule_and_on_solicitation() {
        let mut cp = control().with_router_adverts([0]);
        let ll = ipv6::link_local(R0.0);
        cp.ports[0].own6.push(IfAddr6 { addr: ll, len: 64 });
        let out = cp.tick(1_000);
        assert_eq!(out.len(), 1);
        let (port, f) = &out[0];
        assert_eq!((*port, &f[0..6]), (0, &[0x33, 0x33, 0, 0, 0, 1][..]));
        let ip = ip_of(f);
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.hop_limit()),
            (ll, a("ff02::1"), 255)
        );
        assert!(icmpv6::verify(ip.src_addr(), ip.dst_addr(), ip.payload()));
        let want = icmpv6::RouterAdvert {
            hop_limit: 64,
            lifetime_s: 1800,
            mac: R0,
            mtu: 1500,
            prefixes: vec![(a("fd01::"), 64)],
        }
        .emit();
        let msg = ip.payload();
        assert_eq!((msg[0], msg[1]), (icmpv6::ROUTER_ADVERT, 0));
        assert_eq!((&msg[4..8], &msg[8..]), (&want.0[..], &want.1[..]));

        assert!(cp.tick(16_999).is_empty());
        assert_eq!(cp.tick(17_000).len(), 1);

        let mut opt = [1, 1, 0, 0, 0, 0, 0, 0];
        opt[2..].copy_from_slice(&H1.0);
        let rs = icmp(
            "fe80::2",
            "ff02::2",
            255,
            icmpv6::ROUTER_SOLICIT,
            [0; 4],
            &opt,
        );
        let out = cp.handle(&punt(0, Punt::Nd, rs.clone()), 18_000);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].1[0..6], &H1.0);
        assert_eq!(ip_of(&out[0].1).dst_addr(), a("fe80::2"), "unicast");
        assert_eq!(cp.neighbors().get(ipv6::scoped(a("fe80::2"), 0)), Some(H1));
        let global = icmp(
            "fd01::2",
            "ff02::2",
            255,
            icmpv6::ROUTER_SOLICIT,
            [0; 4],
            &opt,
        );
        assert_eq!(cp.handle(&punt(0, Punt::Nd, global), 18_000).len(), 1);
        assert_eq!(cp.neighbors().get(a("fd01::2")), Some(H1), "learnt");
        assert_eq!(cp.counters.unhandled, 0);

        let from_nowhere = icmp("::", "ff02::2", 255, icmpv6::ROUTER_SOLICIT, [0; 4], &[]);
        let out = cp.handle(&punt(0, Punt::Nd, from_nowhere), 19_000);
        assert!(
            out.is_empty(),
            "3 s after the last multicast one at the earliest"
        );
        assert_eq!(cp.tick(20_000).len(), 1);
        assert!(cp.tick(35_999).is_empty());
        assert_eq!(
            cp.tick(36_000).len(),
            1,
            "the last of the first three intervals"
        );
        assert!(cp.tick(36_000 + 199_999).is_empty(), "then at least 200 s");
        // (The host learnt above is due for re-confirmation by then too.)
        let ras = |out: Out| {
            (out.iter())
                .filter(|(_, f)| ip_of(f).payload()[0] == icmpv6::ROUTER_ADVERT)
                .count()
        };
        assert_eq!(ras(cp.tick(36_000 + 600_000)), 1, "and at most 600 s");

        assert!(cp.handle(&punt(1, Punt::Nd, rs), 700_000).is_empty());
        let forged = icmp("::", "ff02::2", 255, icmpv6::ROUTER_SOLICIT, [0; 4], &opt);
        assert!(
            cp.handle(&punt(0, Punt::Nd, forged), 700_000).is_empty(),
            "from :: with a MAC"
        );
        assert_eq!(cp.counters.router_advertisements, 7);
        assert_eq!(cp.counters.unhandled, 1, "the forged one");

        let bye = cp.goodbye();
        assert_eq!(bye.len(), 1, "only where it advertised");
        let msg = ip_of(&bye[0].1).payload().to_vec();
        assert_eq!(
            (msg[0], &msg[4..8]),
            (icmpv6::ROUTER_ADVERT, &[64, 0, 0, 0][..]),
            "lifetime 0"
        );
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

    /// Input: a route to fd09::/64 via the link-local fe80::9 on port 1, and a packet to
    /// fd09::5. Output: a solicitation for fe80::9 (as on the wire) out of port 1 from its
    /// link-local address; the advertisement that answers it is learnt for port 1 alone and
    /// releases the packet to that MAC; `fe80::9` on port 0 stays unknown.
    #[test]
    fn resolves_a_link_local_gateway_on_its_port() {
        let mut cp = control();
        let gw = ipv6::scoped(a("fe80::9"), 1);
        let ll1 = ipv6::link_local(R1.0);
        let out = cp.handle(&punt(0, Punt::Unresolved, udp("fd09::5", 100)), 0);
        assert_eq!(out.len(), 1);
        let (port, ns) = &out[0];
        let ip = ip_of(ns);
        assert_eq!(
            (*port, ip.src_addr(), ip.dst_addr()),
            (1, ll1, a("ff02::1:ff00:9"))
        );
        assert!(
            matches!(icmpv6::parse_nd(ip.payload()), Some(Nd::Solicit { target, .. }) if target == a("fe80::9"))
        );

        let na = frame(
            R1,
            NB,
            &icmpv6::packet(
                a("fe80::9"),
                ll1,
                255,
                icmpv6::NEIGHBOR_ADVERT,
                0,
                [icmpv6::NA_SOLICITED, 0, 0, 0],
                &icmpv6::nd_body(a("fe80::9"), false, NB),
            ),
        );
        let out = cp.handle(&punt(1, Punt::Nd, na), 1);
        assert_eq!(out.len(), 1);
        let (port, f) = &out[0];
        assert_eq!((*port, &f[0..6]), (1, &NB.0[..]));
        assert_eq!(ip_of(f).dst_addr(), a("fd09::5"));
        assert_eq!(cp.neighbors().get(gw), Some(NB));
        assert_eq!(cp.neighbors().get(ipv6::scoped(a("fe80::9"), 0)), None);
        assert_eq!(cp.counters.unhandled, 0);
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
