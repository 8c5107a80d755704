//! The first pass over a received frame, before the route lookup: the checks of RFC 1812
//! section 5.2.2 (IP header validation) and 5.3.7 (martian addresses), and the split between
//! what is forwarded, what goes to the control plane and what is dropped.
//!
//! It reads the frame and changes nothing; the TTL decrement and the MAC rewrite come after the
//! lookup, on the packets that are forwarded. IPv6 gets the same split: hop limit, martian
//! and link-local addresses (never forwarded), Neighbor Discovery to the control plane.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::verdict::{DropReason, Punt};
use crate::wire::checksum;
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, HEADER_LEN};
use crate::wire::icmpv6;
use crate::wire::ipv4::{Ipv4Packet, Protocol};
use crate::wire::ipv6::{self, Ipv6Packet};

/// What the first pass decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A valid IPv4 packet in transit: look `dst` up and forward it.
    Forward {
        /// Destination address, the lookup key.
        dst: Ipv4Addr,
    },
    /// A valid IPv6 packet in transit.
    Forward6 {
        /// Destination address, the lookup key.
        dst: Ipv6Addr,
    },
    /// For the control plane.
    Punt(Punt),
    /// Dropped and counted.
    Drop(DropReason),
}

/// One port as the data path sees it: what makes a packet "ours", and what fits out of it.
#[derive(Clone, Debug)]
pub struct Local {
    /// The port's MAC.
    pub mac: EthernetAddress,
    /// The router's own IPv4 addresses (on any port).
    pub addrs: Vec<Ipv4Addr>,
    /// The router's own IPv6 addresses (on any port).
    pub addrs6: Vec<Ipv6Addr>,
    /// Directed broadcast addresses of the router's connected subnets (on any port), never
    /// forwarded (RFC 2644).
    pub broadcasts: Vec<Ipv4Addr>,
    /// Largest IPv4 packet sent out of this port; larger ones go to the control plane, which
    /// fragments them or answers "fragmentation needed".
    pub mtu: u16,
}

impl Local {
    /// A port with MTU 1500 and no connected broadcasts.
    pub fn new(mac: EthernetAddress, addrs: Vec<Ipv4Addr>) -> Self {
        Local {
            mac,
            addrs,
            addrs6: Vec::new(),
            broadcasts: Vec::new(),
            mtu: 1500,
        }
    }
}

const OSPF_ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 5);
const OSPF_ALL_DR: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 6);
const RIP_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 9);
const UDP_RIP: u16 = 520;

/// RFC 1812 5.3.7 (with RFC 6890's special ranges): a source no packet may carry.
fn martian_source(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0 || o[0] == 127 || a.is_multicast() || o[0] >= 240
}

/// RFC 1812 5.3.7: a destination never forwarded (limited broadcast and multicast are handled
/// before this).
fn martian_destination(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0 || o[0] == 127 || (o[0] >= 240 && !a.is_broadcast())
}

/// Classifies one frame received on a port whose addresses are `local`.
#[inline]
pub fn classify(frame: &[u8], local: &Local) -> Class {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Class::Drop(DropReason::Truncated);
    };
    let dst_mac = eth.dst_addr();
    if dst_mac.is_unicast() && dst_mac != local.mac {
        return Class::Drop(DropReason::NotOurMac);
    }
    match eth.ethertype() {
        EtherType::Ipv4 => {}
        EtherType::Arp => return Class::Punt(Punt::Arp),
        EtherType::Ipv6 => return classify6(&frame[HEADER_LEN..], local, dst_mac.is_unicast()),
        _ => return Class::Drop(DropReason::UnknownEtherType),
    }
    let ip = &frame[HEADER_LEN..];
    if ip.len() < 20 {
        return Class::Drop(DropReason::Truncated);
    }
    let p = Ipv4Packet::new_unchecked(ip);
    if p.version() != 4 {
        return Class::Drop(DropReason::BadVersion);
    }
    if p.check_len().is_err() {
        return Class::Drop(DropReason::BadLength);
    }
    if checksum::checksum(&ip[..p.header_len()]) != 0 {
        return Class::Drop(DropReason::BadChecksum);
    }
    let (src, dst) = (p.src_addr(), p.dst_addr());
    if martian_source(src) || src.is_broadcast() {
        return Class::Drop(DropReason::MartianSource);
    }
    if dst.is_broadcast() {
        return Class::Punt(Punt::Broadcast);
    }
    if dst.is_multicast() {
        let proto = p.protocol();
        return match (dst, proto) {
            (OSPF_ALL_ROUTERS | OSPF_ALL_DR, Protocol::Ospf) => Class::Punt(Punt::Ospf),
            (RIP_ROUTERS, Protocol::Udp) if udp_dst_port(&p) == Some(UDP_RIP) => {
                Class::Punt(Punt::Rip)
            }
            _ => Class::Drop(DropReason::Multicast),
        };
    }
    if martian_destination(dst) {
        return Class::Drop(DropReason::MartianDestination);
    }
    if local.addrs.contains(&dst) {
        return Class::Punt(Punt::Local);
    }
    if local.broadcasts.contains(&dst) {
        return Class::Drop(DropReason::DirectedBroadcast);
    }
    if p.ttl() <= 1 {
        return Class::Punt(Punt::TtlExceeded);
    }
    if !dst_mac.is_unicast() {
        // RFC 1812 5.3.4: a unicast packet in a link-layer broadcast or multicast frame is not
        // forwarded (another router on the segment would forward it too).
        return Class::Drop(DropReason::Multicast);
    }
    Class::Forward { dst }
}

/// The first pass for IPv6 (RFC 8200, RFC 4291 2.5.6 for link-local scope).
#[inline]
fn classify6(ip: &[u8], local: &Local, l2_unicast: bool) -> Class {
    let Ok(p) = Ipv6Packet::new_checked(ip) else {
        return Class::Drop(if ip.len() < ipv6::HEADER_LEN {
            DropReason::Truncated
        } else {
            DropReason::BadLength
        });
    };
    if p.version() != 6 {
        return Class::Drop(DropReason::BadVersion);
    }
    let (src, dst) = (p.src_addr(), p.dst_addr());
    if src.is_multicast() || src.is_loopback() {
        return Class::Drop(DropReason::MartianSource);
    }
    let nd = p.next_header() == ipv6::NEXT_ICMPV6
        && matches!(
            p.payload().first(),
            Some(&icmpv6::NEIGHBOR_SOLICIT | &icmpv6::NEIGHBOR_ADVERT | &icmpv6::ROUTER_SOLICIT)
        );
    if dst.is_multicast() {
        // Solicitations arrive on solicited-node groups (ff02::1:ffXX:XXXX), advertisements
        // on ff02::1, router solicitations on ff02::2; other groups are not ours (no MLD, no
        // multicast routing).
        return if nd {
            Class::Punt(Punt::Nd)
        } else {
            Class::Drop(DropReason::Multicast)
        };
    }
    if dst.is_unspecified() || dst.is_loopback() {
        return Class::Drop(DropReason::MartianDestination);
    }
    if src.is_unspecified() {
        return Class::Drop(DropReason::MartianSource);
    }
    if local.addrs6.contains(&dst) {
        return Class::Punt(if nd { Punt::Nd } else { Punt::Local });
    }
    if ipv6::is_link_local(dst) || ipv6::is_link_local(src) {
        return Class::Drop(DropReason::LinkLocal);
    }
    if p.hop_limit() <= 1 {
        return Class::Punt(Punt::TtlExceeded);
    }
    if !l2_unicast {
        return Class::Drop(DropReason::Multicast);
    }
    Class::Forward6 { dst }
}

fn udp_dst_port(p: &Ipv4Packet<&[u8]>) -> Option<u16> {
    let l4 = p.payload();
    Some(u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 1, 0]);

    fn local() -> Local {
        Local {
            broadcasts: vec![Ipv4Addr::new(198, 19, 0, 255)],
            ..Local::new(
                OUR_MAC,
                vec![
                    Ipv4Addr::new(198, 18, 0, 254),
                    Ipv4Addr::new(198, 19, 0, 254),
                ],
            )
        }
    }

    /// An Ethernet + IPv4 + UDP frame to `dst` from `src` with `ttl`, valid checksum.
    fn frame(src: [u8; 4], dst: [u8; 4], ttl: u8, proto: u8, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8 + 4];
        f[0..6].copy_from_slice(&OUR_MAC.0);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&32u16.to_be_bytes());
        f[22] = ttl;
        f[23] = proto;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    fn udp(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        frame(src, dst, 64, 17, 9)
    }

    #[test]
    fn transit_packet_is_forwarded() {
        assert_eq!(
            classify(&udp([198, 18, 0, 1], [198, 19, 0, 1]), &local()),
            Class::Forward {
                dst: Ipv4Addr::new(198, 19, 0, 1)
            }
        );
        let mut broadcast = udp([198, 18, 0, 1], [198, 19, 0, 1]);
        broadcast[0..6].fill(0xff);
        assert_eq!(
            classify(&broadcast, &local()),
            Class::Drop(DropReason::Multicast),
            "RFC 1812 5.3.4: not forwarded from a link-layer broadcast"
        );
    }

    #[test]
    fn header_checks_of_rfc1812_5_2_2() {
        let good = udp([198, 18, 0, 1], [198, 19, 0, 1]);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            classify(&b, &local())
        };
        assert_eq!(
            with(&|b| b.truncate(13)),
            Class::Drop(DropReason::Truncated)
        );
        assert_eq!(
            with(&|b| b.truncate(30)),
            Class::Drop(DropReason::Truncated)
        );
        assert_eq!(with(&|b| b[14] = 0x65), Class::Drop(DropReason::BadVersion));
        assert_eq!(with(&|b| b[14] = 0x44), Class::Drop(DropReason::BadLength));
        assert_eq!(
            with(&|b| b[17] = 200),
            Class::Drop(DropReason::BadLength),
            "total length past the frame"
        );
        assert_eq!(with(&|b| b[25] ^= 1), Class::Drop(DropReason::BadChecksum));
        assert_eq!(
            with(&|b| b.extend_from_slice(&[0; 20])),
            Class::Forward {
                dst: Ipv4Addr::new(198, 19, 0, 1)
            },
            "Ethernet padding is fine"
        );
    }

    #[test]
    fn martians_of_rfc1812_5_3_7() {
        for src in [
            [0, 0, 0, 0],
            [127, 0, 0, 1],
            [224, 0, 0, 1],
            [240, 0, 0, 1],
            [255, 255, 255, 255],
        ] {
            assert_eq!(
                classify(&udp(src, [198, 19, 0, 1]), &local()),
                Class::Drop(DropReason::MartianSource),
                "{src:?}"
            );
        }
        for dst in [[0, 1, 2, 3], [127, 0, 0, 1], [240, 0, 0, 1]] {
            assert_eq!(
                classify(&udp([198, 18, 0, 1], dst), &local()),
                Class::Drop(DropReason::MartianDestination),
                "{dst:?}"
            );
        }
    }

    /// An Ethernet + IPv6 frame from `src` to `dst` carrying `payload` as `next`.
    fn frame6(src: &str, dst: &str, hop: u8, next: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(&OUR_MAC.0);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        let mut ip = vec![0u8; 40 + payload.len()];
        crate::wire::ipv6::Ipv6Repr {
            src_addr: src.parse().unwrap(),
            dst_addr: dst.parse().unwrap(),
            next_header: next,
            payload_len: payload.len(),
            hop_limit: hop,
        }
        .emit(&mut ip);
        ip[40..].copy_from_slice(payload);
        f.extend(ip);
        f
    }

    #[test]
    fn ipv6_first_pass() {
        let l = Local {
            addrs6: vec!["fd01::1".parse().unwrap()],
            ..local()
        };
        let c = |f: Vec<u8>| classify(&f, &l);
        let udp = [0u8; 8];
        let ns = [135u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            c(frame6("fd01::2", "fd02::2", 64, 17, &udp)),
            Class::Forward6 {
                dst: "fd02::2".parse().unwrap()
            }
        );
        assert_eq!(
            c(frame6("fd01::2", "fd02::2", 1, 17, &udp)),
            Class::Punt(Punt::TtlExceeded)
        );
        assert_eq!(
            c(frame6("fd01::2", "fd01::1", 64, 58, &[128, 0, 0, 0])),
            Class::Punt(Punt::Local)
        );
        assert_eq!(
            c(frame6("fd01::2", "ff02::1:ff00:1", 255, 58, &ns)),
            Class::Punt(Punt::Nd)
        );
        assert_eq!(
            c(frame6("fd01::2", "fd01::1", 255, 58, &[136, 0, 0, 0])),
            Class::Punt(Punt::Nd)
        );
        assert_eq!(
            c(frame6("fe80::2", "ff02::2", 255, 58, &[133, 0, 0, 0])),
            Class::Punt(Punt::Nd),
            "a router solicitation"
        );
        assert_eq!(
            c(frame6("fe80::2", "ff02::1", 255, 58, &[134, 0, 0, 0])),
            Class::Drop(DropReason::Multicast),
            "another router's advertisement"
        );
        assert_eq!(
            c(frame6("fd01::2", "ff02::16", 1, 0, &udp)),
            Class::Drop(DropReason::Multicast)
        );
        assert_eq!(
            c(frame6("fe80::2", "fd02::2", 64, 17, &udp)),
            Class::Drop(DropReason::LinkLocal)
        );
        assert_eq!(
            c(frame6("fd01::2", "fe80::9", 64, 17, &udp)),
            Class::Drop(DropReason::LinkLocal)
        );
        assert_eq!(
            c(frame6("ff02::1", "fd02::2", 64, 17, &udp)),
            Class::Drop(DropReason::MartianSource)
        );
        assert_eq!(
            c(frame6("::", "fd02::2", 64, 17, &udp)),
            Class::Drop(DropReason::MartianSource)
        );
        assert_eq!(
            c(frame6("fd01::2", "::1", 64, 17, &udp)),
            Class::Drop(DropReason::MartianDestination)
        );
        let mut short = frame6("fd01::2", "fd02::2", 64, 17, &udp);
        short.truncate(58);
        assert_eq!(
            c(short),
            Class::Drop(DropReason::BadLength),
            "payload length beyond the frame"
        );
        let mut runt = frame6("fd01::2", "fd02::2", 64, 17, &udp);
        runt.truncate(50);
        assert_eq!(c(runt), Class::Drop(DropReason::Truncated));
        let mut v4 = frame6("fd01::2", "fd02::2", 64, 17, &udp);
        v4[14] = 0x40;
        assert_eq!(c(v4), Class::Drop(DropReason::BadVersion));
    }

    #[test]
    fn control_plane_traffic_is_punted() {
        let l = local();
        assert_eq!(
            classify(&udp([198, 18, 0, 1], [198, 19, 0, 254]), &l),
            Class::Punt(Punt::Local)
        );
        assert_eq!(
            classify(&udp([198, 18, 0, 1], [255, 255, 255, 255]), &l),
            Class::Punt(Punt::Broadcast)
        );
        assert_eq!(
            classify(&udp([198, 18, 0, 1], [198, 19, 0, 255]), &l),
            Class::Drop(DropReason::DirectedBroadcast),
            "a connected subnet's broadcast is not forwarded"
        );
        assert_eq!(
            classify(&frame([198, 18, 0, 1], [224, 0, 0, 5], 1, 89, 0), &l),
            Class::Punt(Punt::Ospf)
        );
        assert_eq!(
            classify(&frame([198, 18, 0, 1], [224, 0, 0, 6], 1, 89, 0), &l),
            Class::Punt(Punt::Ospf)
        );
        assert_eq!(
            classify(&frame([198, 18, 0, 1], [224, 0, 0, 9], 1, 17, 520), &l),
            Class::Punt(Punt::Rip)
        );
        assert_eq!(
            classify(&frame([198, 18, 0, 1], [224, 0, 0, 9], 1, 17, 521), &l),
            Class::Drop(DropReason::Multicast)
        );
        assert_eq!(
            classify(&udp([198, 18, 0, 1], [239, 1, 1, 1]), &l),
            Class::Drop(DropReason::Multicast)
        );
        let mut arp = vec![0u8; 42];
        arp[0..6].copy_from_slice(&[0xff; 6]);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(classify(&arp, &l), Class::Punt(Punt::Arp));
    }

    #[test]
    fn ttl_expiring_here_goes_to_the_slow_path_unless_for_us() {
        let l = local();
        assert_eq!(
            classify(&frame([198, 18, 0, 1], [198, 19, 0, 1], 1, 17, 9), &l),
            Class::Punt(Punt::TtlExceeded)
        );
        assert_eq!(
            classify(&frame([198, 18, 0, 1], [198, 19, 0, 1], 0, 17, 9), &l),
            Class::Punt(Punt::TtlExceeded)
        );
        assert_eq!(
            classify(&frame([198, 18, 0, 1], [198, 19, 0, 1], 2, 17, 9), &l),
            Class::Forward {
                dst: Ipv4Addr::new(198, 19, 0, 1)
            }
        );
        assert_eq!(
            classify(&frame([198, 18, 0, 1], [198, 18, 0, 254], 1, 1, 0), &l),
            Class::Punt(Punt::Local),
            "a ping to us with TTL 1 is answered"
        );
    }

    #[test]
    fn other_stations_and_protocols_are_dropped() {
        let mut f = udp([198, 18, 0, 1], [198, 19, 0, 1]);
        f[5] = 9;
        assert_eq!(classify(&f, &local()), Class::Drop(DropReason::NotOurMac));
        let mut lldp = udp([198, 18, 0, 1], [198, 19, 0, 1]);
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(
            classify(&lldp, &local()),
            Class::Drop(DropReason::UnknownEtherType)
        );
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut b = bytes;
            if b.len() >= 14 {
                b[0..6].copy_from_slice(&OUR_MAC.0);
                b[12] = 0x08;
                b[13] = 0x00;
            }
            let _ = classify(&b, &local());
        }
    }
}
