//! The replies the control plane builds for punted frames: ICMP echo replies for the router's
//! own addresses, ICMP errors (time exceeded, unreachable, fragmentation needed) quoting the
//! offending datagram, and ARP replies. Slow path: each returns a new frame (or `None` when no
//! reply is due), ready to send out of the port the frame came in on.
//!
//! RFC 1812 4.3.2.7: no ICMP error about an ICMP error, a non-first fragment, a packet to a
//! broadcast or multicast address, or from an address that is not a single host. Rate limiting
//! per source is the caller's (it sees the time).

use std::net::Ipv4Addr;

use crate::classify::Local;
use crate::wire::arp::{ArpPacket, ArpRepr, Operation};
use crate::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr, HEADER_LEN};
use crate::wire::icmpv4::{self, DstUnreachable, Icmpv4Packet, Icmpv4Repr, Message, TimeExceeded};
use crate::wire::ipv4::{self, Ipv4Packet, Ipv4Repr, Protocol};

/// The ICMP errors a router sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// TTL expired in transit (type 11 code 0): what `traceroute` listens for.
    TimeExceeded,
    /// No route (type 3 code 0).
    NetUnreachable,
    /// The next hop did not answer ARP (type 3 code 1).
    HostUnreachable,
    /// A UDP datagram to one of our addresses on a port nothing listens on (type 3 code 3): the
    /// answer `traceroute` expects from its last hop.
    PortUnreachable,
    /// Too big for the next hop and DF set (type 3 code 4, RFC 1191), with that hop's MTU.
    FragNeeded(u16),
}

/// TTL of packets the router originates.
const TTL: u8 = 64;

fn frame(
    dst: EthernetAddress,
    src: EthernetAddress,
    ip: &Ipv4Repr,
    icmp: &Icmpv4Repr<'_>,
) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN + ipv4::HEADER_LEN + icmp.buffer_len()];
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut out[HEADER_LEN..]));
    icmp.emit(&mut Icmpv4Packet::new_unchecked(
        &mut out[HEADER_LEN + ipv4::HEADER_LEN..],
    ));
    out
}

/// The echo reply to an echo request addressed to `port` (its MAC, one of its addresses).
pub fn echo_reply(request: &[u8], port: &Local) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(request).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip).ok()?;
    if ip_repr.protocol != Protocol::Icmp || !port.addrs.contains(&ip_repr.dst_addr) {
        return None;
    }
    let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    let Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    } = Icmpv4Repr::parse(&icmp).ok()?
    else {
        return None;
    };
    let reply = Icmpv4Repr::EchoReply {
        ident,
        seq_no,
        data,
    };
    let ip_out = Ipv4Repr {
        src_addr: ip_repr.dst_addr,
        dst_addr: ip_repr.src_addr,
        protocol: Protocol::Icmp,
        payload_len: reply.buffer_len(),
        ttl: TTL,
        ident: ip_repr.ident,
        dont_frag: false,
    };
    Some(frame(eth.src_addr(), port.mac, &ip_out, &reply))
}

/// The ICMP error about `offending` (a frame received on `port`), sent from `from` (the
/// router's address on that port); `None` where RFC 1812 forbids one.
pub fn icmp_error(
    offending: &[u8],
    port: &Local,
    from: Ipv4Addr,
    kind: IcmpError,
) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(offending).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if ip.frag_offset() != 0
        || dst.is_broadcast()
        || dst.is_multicast()
        || src.is_unspecified()
        || src.is_broadcast()
        || src.is_multicast()
        || src.is_loopback()
        || eth.dst_addr().is_multicast()
    {
        return None;
    }
    if ip.protocol() == Protocol::Icmp {
        // An error about an error would never end; queries (echo) may get one.
        let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
        if !matches!(icmp.msg_type(), Message::EchoRequest | Message::EchoReply) {
            return None;
        }
    }
    let datagram = &eth.payload()[..usize::from(ip.total_len())];
    let quote = &datagram[..icmpv4::quote_len(datagram.len())];
    let icmp = match kind {
        IcmpError::TimeExceeded => Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            quote,
        },
        IcmpError::NetUnreachable => Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::NetUnreachable,
            next_hop_mtu: 0,
            quote,
        },
        IcmpError::HostUnreachable => Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::HostUnreachable,
            next_hop_mtu: 0,
            quote,
        },
        IcmpError::PortUnreachable => Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::PortUnreachable,
            next_hop_mtu: 0,
            quote,
        },
        IcmpError::FragNeeded(mtu) => Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: mtu,
            quote,
        },
    };
    let ip_out = Ipv4Repr {
        src_addr: from,
        dst_addr: src,
        protocol: Protocol::Icmp,
        payload_len: icmp.buffer_len(),
        ttl: TTL,
        ident: 0,
        dont_frag: false,
    };
    Some(frame(eth.src_addr(), port.mac, &ip_out, &icmp))
}

/// The ARP reply to a request for one of `port`'s addresses.
pub fn arp_reply(request: &[u8], port: &Local) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(request).ok()?;
    if eth.ethertype() != EtherType::Arp {
        return None;
    }
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
    if arp.operation != Operation::Request || !port.addrs.contains(&arp.target_protocol_addr) {
        return None;
    }
    Some(arp_frame(arp.source_hardware_addr, &arp.reply(port.mac)))
}

/// An ARP request from `mac`/`sender` for `target`: broadcast, or unicast to `to` when an
/// entry is re-confirmed. With `sender == target` it is a gratuitous ARP.
pub fn arp_request(
    mac: EthernetAddress,
    sender: Ipv4Addr,
    target: Ipv4Addr,
    to: Option<EthernetAddress>,
) -> Vec<u8> {
    let request = ArpRepr {
        operation: Operation::Request,
        source_hardware_addr: mac,
        source_protocol_addr: sender,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    arp_frame(to.unwrap_or(EthernetAddress::BROADCAST), &request)
}

fn arp_frame(dst: EthernetAddress, arp: &ArpRepr) -> Vec<u8> {
    // Ethernet minimum: 14 + 28 bytes of ARP, padded to 60.
    let mut out = vec![0u8; 60];
    EthernetRepr {
        src_addr: arp.source_hardware_addr,
        dst_addr: dst,
        ethertype: EtherType::Arp,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    arp.emit(&mut ArpPacket::new_unchecked(&mut out[HEADER_LEN..]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_eq_hex;
    use crate::wire::checksum;

    const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 1, 0]);
    const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

    fn port() -> Local {
        Local::new(OUR_MAC, vec![OUR_IP])
    }

    /// Ethernet + IPv4 (198.18.0.1 -> dst, TTL `ttl`, ident 0x1234) + `l4` (protocol `proto`).
    fn packet(dst: [u8; 4], ttl: u8, proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20];
        f[0..6].copy_from_slice(&OUR_MAC.0);
        f[6..12].copy_from_slice(&HOST_MAC);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&0x1234u16.to_be_bytes());
        f[22] = ttl;
        f[23] = proto;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&dst);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(l4);
        f
    }

    fn echo_request() -> Vec<u8> {
        let mut icmp = vec![8, 0, 0, 0, 0xbe, 0xef, 0, 7, b'p', b'i', b'n', b'g'];
        let c = checksum::checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        packet([198, 18, 0, 254], 64, 1, &icmp)
    }

    #[test]
    fn echo_reply_golden() {
        let reply = echo_reply(&echo_request(), &port()).unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &HOST_MAC[..], &OUR_MAC.0, &[0x08, 0x00],
            &[0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x40, 0x01], &[0, 0],
            &[198, 18, 0, 254], &[198, 18, 0, 1],
            &[0, 0], &[0, 0], &[0xbe, 0xef, 0, 7], b"ping",
        ].concat();
        let mut want = want;
        let c = checksum::checksum(&want[14..34]);
        want[24..26].copy_from_slice(&c.to_be_bytes());
        let c = checksum::checksum(&want[34..]);
        want[36..38].copy_from_slice(&c.to_be_bytes());
        assert_eq_hex(&reply, &want);
        assert!(
            echo_reply(
                &packet([198, 18, 0, 9], 64, 1, &echo_request()[34..]),
                &port()
            )
            .is_none(),
            "not ours"
        );
    }

    #[test]
    fn time_exceeded_quotes_the_datagram_and_is_sent_from_the_port() {
        let udp = [0x04, 0x00, 0x82, 0x9a, 0x00, 0x0c, 0x00, 0x00, 1, 2, 3, 4];
        let offending = packet([203, 0, 113, 9], 1, 17, &udp);
        let err = icmp_error(&offending, &port(), OUR_IP, IcmpError::TimeExceeded).unwrap();
        assert_eq!(&err[0..6], &HOST_MAC, "back to the sender's MAC");
        assert_eq!(&err[6..12], &OUR_MAC.0);
        let ip = Ipv4Packet::new_checked(&err[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(
            (ip.src_addr(), ip.dst_addr(), ip.ttl()),
            (OUR_IP, Ipv4Addr::new(198, 18, 0, 1), 64)
        );
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(
            (icmp.msg_type(), icmp.msg_code()),
            (Message::TimeExceeded, 0)
        );
        assert_eq!(
            icmp.data(),
            &offending[14..],
            "the whole (short) datagram is quoted"
        );
    }

    #[test]
    fn frag_needed_carries_the_mtu_and_quotes_at_most_576_bytes() {
        let big = packet([203, 0, 113, 9], 64, 17, &[0u8; 1480]);
        let err = icmp_error(&big, &port(), OUR_IP, IcmpError::FragNeeded(1280)).unwrap();
        assert_eq!(err.len(), 14 + 576);
        let icmp = Icmpv4Packet::new_checked(&err[34..]).unwrap();
        assert_eq!(
            (icmp.msg_type(), icmp.msg_code(), icmp.next_hop_mtu()),
            (Message::DstUnreachable, 4, 1280)
        );
        assert_eq!(icmp.data(), &big[14..14 + 548]);
        for (kind, code) in [
            (IcmpError::NetUnreachable, 0),
            (IcmpError::HostUnreachable, 1),
        ] {
            let e = icmp_error(&big, &port(), OUR_IP, kind).unwrap();
            assert_eq!(
                Icmpv4Packet::new_checked(&e[34..]).unwrap().msg_code(),
                code
            );
        }
    }

    #[test]
    fn no_error_where_rfc1812_forbids_one() {
        let udp = [0u8; 12];
        let mut frag = packet([203, 0, 113, 9], 1, 17, &udp);
        frag[20..22].copy_from_slice(&0x0010u16.to_be_bytes());
        assert!(
            icmp_error(&frag, &port(), OUR_IP, IcmpError::TimeExceeded).is_none(),
            "a non-first fragment"
        );
        let mut icmp_err = vec![11, 0, 0, 0, 0, 0, 0, 0];
        let c = checksum::checksum(&icmp_err);
        icmp_err[2..4].copy_from_slice(&c.to_be_bytes());
        let about_error = packet([203, 0, 113, 9], 1, 1, &icmp_err);
        assert!(
            icmp_error(&about_error, &port(), OUR_IP, IcmpError::TimeExceeded).is_none(),
            "an ICMP error"
        );
        let to_broadcast = packet([255, 255, 255, 255], 1, 17, &udp);
        assert!(icmp_error(&to_broadcast, &port(), OUR_IP, IcmpError::TimeExceeded).is_none());
        let echo = echo_request();
        assert!(
            icmp_error(&echo, &port(), OUR_IP, IcmpError::TimeExceeded).is_some(),
            "pings may get errors"
        );
    }

    #[test]
    fn arp_reply_for_our_address_only() {
        let mut req = vec![0u8; 42];
        req[0..6].copy_from_slice(&[0xff; 6]);
        req[6..12].copy_from_slice(&HOST_MAC);
        req[12..14].copy_from_slice(&[0x08, 0x06]);
        ArpRepr {
            operation: Operation::Request,
            source_hardware_addr: EthernetAddress(HOST_MAC),
            source_protocol_addr: Ipv4Addr::new(198, 18, 0, 1),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: OUR_IP,
        }
        .emit(&mut ArpPacket::new_unchecked(&mut req[14..]));
        let reply = arp_reply(&req, &port()).unwrap();
        assert_eq!(reply.len(), 60);
        assert_eq!(&reply[0..6], &HOST_MAC);
        let r = ArpRepr::parse(&ArpPacket::new_checked(&reply[14..]).unwrap()).unwrap();
        assert_eq!(
            (r.operation, r.source_hardware_addr, r.source_protocol_addr),
            (Operation::Reply, OUR_MAC, OUR_IP)
        );
        assert_eq!(r.target_protocol_addr, Ipv4Addr::new(198, 18, 0, 1));
        let other = Local::new(OUR_MAC, vec![Ipv4Addr::new(10, 0, 0, 1)]);
        assert!(arp_reply(&req, &other).is_none());
    }

    #[test]
    fn gratuitous_arp_is_a_broadcast_request_for_our_own_address() {
        let f = arp_request(OUR_MAC, OUR_IP, OUR_IP, None);
        #[rustfmt::skip]
        let want: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 1, 0, 0x08, 0x06,
            0, 1, 0x08, 0, 6, 4, 0, 1,
            0x02, 0, 0, 0, 1, 0, 198, 18, 0, 254,
            0, 0, 0, 0, 0, 0, 198, 18, 0, 254,
        ];
        assert_eq!(f.len(), 60, "padded to the Ethernet minimum");
        assert_eq_hex(&f[..42], &want);
        let unicast = arp_request(
            OUR_MAC,
            OUR_IP,
            Ipv4Addr::new(198, 18, 0, 1),
            Some(EthernetAddress(HOST_MAC)),
        );
        assert_eq!(
            &unicast[0..6],
            &HOST_MAC,
            "a re-confirmation goes to the MAC we know"
        );
    }
}
