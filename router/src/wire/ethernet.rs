//! Ethernet II frames (IEEE 802.3 with an EtherType).
//!
//! ```text
//! +--------------------+--------------------+------------+-----------------+
//! | destination (6)    | source (6)         | type (2)   | payload ...     |
//! +--------------------+--------------------+------------+-----------------+
//! ```
//!
//! The FCS is not part of the frames we see. 802.1Q tags are not parsed here (the data path does
//! not forward tagged frames yet).

use std::fmt;

use super::{Error, Field, Result, enum_with_unknown};

enum_with_unknown! {
    /// The EtherType of a frame.
    pub enum EtherType(u16) {
        /// IPv4.
        Ipv4 = 0x0800,
        /// ARP.
        Arp = 0x0806,
        /// IPv6.
        Ipv6 = 0x86dd,
        /// An 802.1Q VLAN tag.
        Vlan = 0x8100,
    }
}

/// A 48-bit MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Builds an address from the first 6 bytes of `b` (which must hold 6).
    pub fn from_bytes(b: &[u8]) -> Self {
        let mut a = [0u8; 6];
        a.copy_from_slice(&b[..6]);
        EthernetAddress(a)
    }

    /// True for group (multicast and broadcast) addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// True for the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for a unicast address.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

mod field {
    use super::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD;

// ===== impl EthernetFrame =====

/// A view of an Ethernet frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after [`EthernetFrame::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks that the buffer holds a whole header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    /// Returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::DST])
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SRC])
    }

    /// The EtherType.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]]).into()
    }

    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.0)
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: EthernetAddress) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.0)
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(t).to_be_bytes())
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// The header of an Ethernet frame as a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// EtherType.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> Result<Self> {
        f.check_len()?;
        Ok(EthernetRepr {
            src_addr: f.src_addr(),
            dst_addr: f.dst_addr(),
            ethertype: f.ethertype(),
        })
    }

    /// Bytes the header takes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into a frame of at least [`HEADER_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, f: &mut EthernetFrame<T>) {
        f.set_src_addr(self.src_addr);
        f.set_dst_addr(self.dst_addr);
        f.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::assert_eq_hex;

    static FRAME_BYTES: [u8; 18] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x08, 0x00, 0xaa,
        0xbb, 0xcc, 0xdd,
    ];

    fn repr() -> EthernetRepr {
        EthernetRepr {
            dst_addr: EthernetAddress([1, 2, 3, 4, 5, 6]),
            src_addr: EthernetAddress([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]),
            ethertype: EtherType::Ipv4,
        }
    }

    #[test]
    fn deconstruct() {
        let f = EthernetFrame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(f.dst_addr().to_string(), "01:02:03:04:05:06");
        assert_eq!(
            f.src_addr(),
            EthernetAddress([0x11, 0x12, 0x13, 0x14, 0x15, 0x16])
        );
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 18];
        let mut f = EthernetFrame::new_unchecked(&mut bytes[..]);
        f.set_dst_addr(EthernetAddress([1, 2, 3, 4, 5, 6]));
        f.set_src_addr(EthernetAddress([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]));
        f.set_ethertype(EtherType::Ipv4);
        f.payload_mut().copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq_hex(&bytes, &FRAME_BYTES);
    }

    #[test]
    fn parse() {
        let f = EthernetFrame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&f).unwrap(), repr());
        assert_eq!(
            EthernetFrame::new_checked(&FRAME_BYTES[..13]).unwrap_err(),
            Error
        );
    }

    #[test]
    fn emit() {
        let mut bytes = FRAME_BYTES;
        bytes[..14].fill(0);
        repr().emit(&mut EthernetFrame::new_unchecked(&mut bytes[..]));
        assert_eq_hex(&bytes, &FRAME_BYTES);
    }

    #[test]
    fn unknown_ethertype_parses() {
        let mut bytes = FRAME_BYTES;
        bytes[12..14].copy_from_slice(&[0x88, 0xcc]);
        let f = EthernetFrame::new_checked(&bytes[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Unknown(0x88cc));
        assert_eq!(u16::from(f.ethertype()), 0x88cc);
        assert!(
            EthernetAddress::BROADCAST.is_broadcast() && EthernetAddress::BROADCAST.is_multicast()
        );
    }

    proptest! {
        #[test]
        fn checked_views_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = EthernetFrame::new_checked(&bytes[..]) {
                let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
            }
        }
    }
}
