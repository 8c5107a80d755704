//! IPv6 headers (RFC 8200): the fixed 40-byte header a router reads and rewrites.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Source Address (128 bits)                  |
//! |                 Destination Address (128 bits)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Extension headers are carried untouched (a router forwards them without reading them, RFC 8200
//! section 4); `next_header` is the first one. There is no header checksum: the hop limit is
//! decremented in place.

use std::net::Ipv6Addr;

use super::checksum;
use super::{Error, Field, Result};

mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST.end;

/// Next-header value of ICMPv6.
pub const NEXT_ICMPV6: u8 = 58;
/// Next-header value of UDP.
pub const NEXT_UDP: u8 = 17;

/// Whether `a` is link-local unicast (fe80::/10): never forwarded (RFC 4291 2.5.6).
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Link-local address `a` of the link on `port`, with the port kept in its second 16 bits
/// (fe80:PORT+1::IID), as BSD kernels embed the scope in the address: tables keyed by address
/// (neighbours, MACs, gateways) then hold fe80::1 on two ports as two entries. The bits are zero
/// on the wire (fe80::/64), so nothing received is mistaken for a scoped address once scoped.
pub fn scoped(a: Ipv6Addr, port: u16) -> Ipv6Addr {
    let mut s = a.segments();
    s[1] = port.wrapping_add(1);
    Ipv6Addr::from(s)
}

/// The port and the on-wire address of a [`scoped`] link-local address; `None` for any other.
pub fn unscope(a: Ipv6Addr) -> Option<(u16, Ipv6Addr)> {
    let mut s = a.segments();
    if !is_link_local(a) || s[1] == 0 {
        return None;
    }
    let port = s[1] - 1;
    s[1] = 0;
    Some((port, Ipv6Addr::from(s)))
}

/// The link-local address of an interface with Ethernet address `mac`: fe80::/64 and the
/// modified EUI-64 interface identifier (RFC 4291 2.5.1 and appendix A, RFC 2464 4-5).
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    let m = mac;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// The solicited-node multicast address of `a` (RFC 4291 2.7.1): ff02::1:ffXX:XXXX.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet address of an IPv6 multicast group (RFC 2464 7): 33:33 and its last 32 bits.
pub fn multicast_mac(a: Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer after [`Ipv6Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The buffer holds the fixed header and the payload length says no more than the buffer
    /// holds (it may hold more: Ethernet padding).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error);
        }
        Ok(())
    }

    /// The version field.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// The payload length (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        super::be16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Header plus payload.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// The first next-header value.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// The hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::SRC])
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::DST])
    }

    /// The payload, as long as the payload length says.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Decrements the hop limit (the caller checked it is above 1).
    #[inline]
    pub fn decrement_hop_limit(&mut self) {
        let b = &mut self.buffer.as_mut()[field::HOP_LIMIT];
        *b = b.saturating_sub(1);
    }
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(b);
    Ipv6Addr::from(o)
}

/// An IPv6 header as a value, for the packets the control plane builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source.
    pub src_addr: Ipv6Addr,
    /// Destination.
    pub dst_addr: Ipv6Addr,
    /// Next header of the payload.
    pub next_header: u8,
    /// Payload length.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::VER_TC_FLOW].copy_from_slice(&[0x60, 0, 0, 0]);
        buf[field::LENGTH].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
        buf[field::NXT_HDR] = self.next_header;
        buf[field::HOP_LIMIT] = self.hop_limit;
        buf[field::SRC].copy_from_slice(&self.src_addr.octets());
        buf[field::DST].copy_from_slice(&self.dst_addr.octets());
    }

    /// The sum of the upper-layer pseudo-header (RFC 8200 8.1), for ICMPv6 and UDP checksums.
    pub fn pseudo_sum(&self) -> u32 {
        let mut p = [0u8; 40];
        p[0..16].copy_from_slice(&self.src_addr.octets());
        p[16..32].copy_from_slice(&self.dst_addr.octets());
        p[32..36].copy_from_slice(&(self.payload_len as u32).to_be_bytes());
        p[39] = self.next_header;
        checksum::sum(&p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_is_the_modified_eui64() {
        // RFC 4291 appendix A: the universal/local bit flips, ff:fe goes in the middle.
        let a = link_local([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(a, "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap());
        assert!(is_link_local(a));
        let b = link_local([0x02, 0, 0, 0, 1, 0]);
        assert_eq!(b, "fe80::ff:fe00:100".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn header_round_trip_and_hop_limit() {
        let r = Ipv6Repr {
            src_addr: "fd01::2".parse().unwrap(),
            dst_addr: "fd02::2".parse().unwrap(),
            next_header: NEXT_UDP,
            payload_len: 8,
            hop_limit: 64,
        };
        let mut b = vec![0u8; 48];
        r.emit(&mut b);
        let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!((p.version(), p.payload_len(), p.next_header()), (6, 8, 17));
        assert_eq!(p.src_addr(), r.src_addr);
        p.decrement_hop_limit();
        assert_eq!(p.hop_limit(), 63);
        assert!(
            Ipv6Packet::new_checked(&b[..47]).is_err(),
            "payload beyond the buffer"
        );
        assert!(Ipv6Packet::new_checked(&b[..39]).is_err());
    }

    #[test]
    fn special_addresses() {
        let a: Ipv6Addr = "fd01::1234:5678".parse().unwrap();
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff34:5678".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            multicast_mac(solicited_node(a)),
            [0x33, 0x33, 0xff, 0x34, 0x56, 0x78]
        );
        assert!(is_link_local("fe80::1".parse().unwrap()));
        assert!(is_link_local("febf::1".parse().unwrap()));
        assert!(!is_link_local("fec0::1".parse().unwrap()));
    }

    #[test]
    fn scoped_link_local_addresses_round_trip() {
        let a: Ipv6Addr = "fe80::1".parse().unwrap();
        let (s0, s3) = (scoped(a, 0), scoped(a, 3));
        assert_ne!(s0, s3);
        assert_eq!(s3, "fe80:4::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!((unscope(s0), unscope(s3)), (Some((0, a)), Some((3, a))));
        assert_eq!(unscope(a), None, "as on the wire");
        assert_eq!(unscope("fd01::1".parse().unwrap()), None);
    }
}
