//! IPv4 headers (RFC 791), with the checks of RFC 1812 section 5.2.2 available to the data path.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Options are carried (a router forwards them untouched) but not interpreted; the `Repr` builds
//! headers without options.

use std::net::Ipv4Addr;

use super::checksum;
use super::{Error, Field, Result, enum_with_unknown};

enum_with_unknown! {
    /// The protocol field.
    pub enum Protocol(u8) {
        /// ICMP.
        Icmp = 1,
        /// IGMP.
        Igmp = 2,
        /// TCP.
        Tcp = 6,
        /// UDP.
        Udp = 17,
        /// OSPF.
        Ospf = 89,
    }
}

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const TTL_PROTO: Field = 8..10;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::DST.end;

// ===== impl Ipv4Packet =====

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`Ipv4Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the lengths (RFC 1812 5.2.2): the buffer holds a 20-byte header, the IHL is at least
    /// 5 and fits, and the total length covers the header and fits in the buffer (which may be
    /// longer: Ethernet padding).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let hl = self.header_len();
        let total = usize::from(self.total_len());
        if hl < HEADER_LEN || hl > len || total < hl || total > len {
            return Err(Error);
        }
        Ok(())
    }

    /// Returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn be16(&self, f: Field) -> u16 {
        super::be16(self.buffer.as_ref(), f)
    }

    /// The version field (4 for a valid packet; checking it is the pipeline's job).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP (upper six bits of the former TOS).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// The ECN bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// The total length field.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.be16(field::LENGTH)
    }

    /// The identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        self.be16(field::IDENT)
    }

    /// The Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.be16(field::FLG_OFF) & 0x4000 != 0
    }

    /// The More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.be16(field::FLG_OFF) & 0x2000 != 0
    }

    /// The fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.be16(field::FLG_OFF) & 0x1fff) << 3
    }

    /// The time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol.
    #[inline]
    pub fn protocol(&self) -> Protocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// The header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// True when the header checksum verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let hl = self.header_len().min(self.buffer.as_ref().len());
        checksum::finish(checksum::sum(&self.buffer.as_ref()[..hl])) == 0
    }

    /// The options (empty without any).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload, as delimited by the total length (Ethernet padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn set_be16(&mut self, f: Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes())
    }

    /// Sets version 4 and the header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets DSCP and ECN.
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 3);
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        self.set_be16(field::LENGTH, v)
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        self.set_be16(field::IDENT, v)
    }

    /// Sets the flags and the fragment offset (in bytes, a multiple of 8).
    #[inline]
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let v = (u16::from(dont_frag) << 14) | (u16::from(more_frags) << 13) | (offset >> 3);
        self.set_be16(field::FLG_OFF, v)
    }

    /// Sets the time to live (the checksum is not updated; see [`Ipv4Packet::decrement_ttl`]).
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, p: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into()
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_be16(field::CHECKSUM, v)
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets())
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets())
    }

    /// Computes and stores the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len().min(self.buffer.as_ref().len());
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c)
    }

    /// Decrements the TTL by one and patches the checksum incrementally (RFC 1624), as a router
    /// does per hop (RFC 1812 5.3.1). The caller has checked that the TTL is above 1.
    #[inline]
    pub fn decrement_ttl(&mut self) {
        let old = self.be16(field::TTL_PROTO);
        let new = old.wrapping_sub(0x0100);
        self.set_be16(field::TTL_PROTO, new);
        let c = checksum::update(self.checksum(), old, new);
        self.set_checksum(c)
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, total) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..total]
    }
}

/// An IPv4 header (without options) as a value, for building packets on slow paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: Protocol,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Reads a header: version 4, valid checksum, consistent lengths; not a fragment.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Self> {
        p.check_len()?;
        if p.version() != 4 || !p.verify_checksum() || p.more_frags() || p.frag_offset() != 0 {
            return Err(Error);
        }
        Ok(Ipv4Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            ttl: p.ttl(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        })
    }

    /// Bytes the header takes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, checksum included, into the first 20 bytes of `p`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ipv4Packet<T>) {
        p.set_version_and_header_len(HEADER_LEN);
        p.set_dscp_ecn(0, 0);
        p.set_total_len((HEADER_LEN + self.payload_len) as u16);
        p.set_ident(self.ident);
        p.set_frag(self.dont_frag, false, 0);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::assert_eq_hex;

    /// 192.168.1.1 -> 198.18.0.1, UDP, TTL 64, DF, ident 0x0102, 10 bytes of payload.
    static PACKET_BYTES: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1e, 0x01, 0x02, 0x40, 0x00, 0x40, 0x11, 0xb2, 0x10, 0xc0, 0xa8, 0x01,
        0x01, 0xc6, 0x12, 0x00, 0x01, 0xaa, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
    ];

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 1, 1),
            dst_addr: Ipv4Addr::new(198, 18, 0, 1),
            protocol: Protocol::Udp,
            payload_len: 10,
            ttl: 64,
            ident: 0x0102,
            dont_frag: true,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Ipv4Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(
            (p.version(), p.header_len(), p.dscp(), p.ecn()),
            (4, 20, 0, 0)
        );
        assert_eq!((p.total_len(), p.ident()), (30, 0x0102));
        assert!(p.dont_frag() && !p.more_frags());
        assert_eq!(
            (p.frag_offset(), p.ttl(), p.protocol()),
            (0, 64, Protocol::Udp)
        );
        assert_eq!(p.checksum(), 0xb210);
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 18, 0, 1));
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &PACKET_BYTES[20..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 30];
        let mut p = Ipv4Packet::new_unchecked(&mut bytes[..]);
        p.set_version_and_header_len(20);
        p.set_dscp_ecn(0, 0);
        p.set_total_len(30);
        p.set_ident(0x0102);
        p.set_frag(true, false, 0);
        p.set_ttl(64);
        p.set_protocol(Protocol::Udp);
        p.set_src_addr(Ipv4Addr::new(192, 168, 1, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 18, 0, 1));
        p.fill_checksum();
        p.payload_mut().copy_from_slice(&PACKET_BYTES[20..]);
        assert_eq_hex(&bytes, &PACKET_BYTES);
    }

    #[test]
    fn parse() {
        let p = Ipv4Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr());
        let mut bad = PACKET_BYTES;
        bad[11] ^= 1;
        assert_eq!(
            Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&bad[..])),
            Err(Error)
        );
    }

    #[test]
    fn emit() {
        let mut bytes = PACKET_BYTES;
        bytes[..20].fill(0);
        repr().emit(&mut Ipv4Packet::new_unchecked(&mut bytes[..]));
        assert_eq_hex(&bytes, &PACKET_BYTES);
    }

    #[test]
    fn ttl_decrement_patches_the_checksum() {
        let mut bytes = PACKET_BYTES;
        let mut p = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        p.decrement_ttl();
        assert_eq!((p.ttl(), p.checksum()), (63, 0xb310));
        assert!(p.verify_checksum());
    }

    #[test]
    fn lengths_are_checked() {
        let with = |f: &dyn Fn(&mut [u8; 30])| {
            let mut b = PACKET_BYTES;
            f(&mut b);
            Ipv4Packet::new_checked(b.to_vec()).map(|_| ())
        };
        assert_eq!(with(&|_| ()), Ok(()));
        assert_eq!(with(&|b| b[0] = 0x44), Err(Error), "IHL below 5");
        assert_eq!(with(&|b| b[0] = 0x4f), Err(Error), "IHL past the buffer");
        assert_eq!(
            with(&|b| b[3] = 31),
            Err(Error),
            "total length past the buffer"
        );
        assert_eq!(
            with(&|b| b[3] = 19),
            Err(Error),
            "total length inside the header"
        );
        assert_eq!(with(&|b| b[3] = 20), Ok(()), "empty payload");
        assert_eq!(
            Ipv4Packet::new_checked(&PACKET_BYTES[..19]).unwrap_err(),
            Error
        );
    }

    proptest! {
        #[test]
        fn checked_views_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut bytes = bytes;
            if let Ok(mut p) = Ipv4Packet::new_checked(&mut bytes[..]) {
                let _ = (p.version(), p.options().len(), p.payload().len(), p.verify_checksum());
                let _ = Ipv4Repr::parse(&p);
                p.decrement_ttl();
                p.fill_checksum();
                prop_assert!(p.verify_checksum());
                let _ = p.payload_mut().len();
            }
        }

        /// Decrementing the TTL incrementally gives a header that verifies, for any valid header.
        #[test]
        fn decrement_ttl_keeps_the_checksum_valid(hdr in proptest::collection::vec(any::<u8>(), 20), ttl in 2u8..=255) {
            let mut b = hdr;
            b[0] = 0x45;
            b[2..4].copy_from_slice(&20u16.to_be_bytes());
            b[8] = ttl;
            let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
            p.fill_checksum();
            p.decrement_ttl();
            prop_assert_eq!(p.ttl(), ttl - 1);
            prop_assert!(p.verify_checksum());
        }
    }
}
