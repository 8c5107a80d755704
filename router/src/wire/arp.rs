//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! ```text
//! +---------------+---------------+-------+-------+---------------+
//! | htype (2)     | ptype (2)     | hlen  | plen  | oper (2)      |
//! +---------------+---------------+-------+-------+---------------+
//! | sender hardware address (6) | sender protocol address (4)     |
//! | target hardware address (6) | target protocol address (4)     |
//! +-----------------------------+---------------------------------+
//! ```
//!
//! Other hardware or protocol types parse in the view but not into a [`ArpRepr`].

use std::net::Ipv4Addr;

use super::ethernet::EthernetAddress;
use super::{Error, Field, Result, enum_with_unknown};

enum_with_unknown! {
    /// The ARP operation.
    pub enum Operation(u16) {
        /// Who has the target protocol address?
        Request = 1,
        /// The sender has it.
        Reply = 2,
    }
}

mod field {
    use super::Field;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

// ===== impl ArpPacket =====

/// A view of an ARP packet (Ethernet/IPv4 layout).
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer after [`ArpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds an Ethernet/IPv4 ARP packet.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    #[inline]
    fn be16(&self, f: Field) -> u16 {
        super::be16(self.buffer.as_ref(), f)
    }

    #[inline]
    fn ip(&self, f: Field) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[f];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The hardware type (1 for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        self.be16(field::HTYPE)
    }

    /// The protocol type (0x0800 for IPv4).
    pub fn protocol_type(&self) -> u16 {
        self.be16(field::PTYPE)
    }

    /// The hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// The protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.be16(field::OPER).into()
    }

    /// The sender's hardware address.
    pub fn source_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    /// The sender's protocol address.
    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        self.ip(field::SPA)
    }

    /// The target's hardware address.
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    /// The target's protocol address.
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        self.ip(field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    fn put(&mut self, f: Field, b: &[u8]) {
        self.buffer.as_mut()[f].copy_from_slice(b)
    }

    /// Sets the Ethernet/IPv4 type and length fields.
    pub fn set_ethernet_ipv4(&mut self) {
        self.put(field::HTYPE, &1u16.to_be_bytes());
        self.put(field::PTYPE, &0x0800u16.to_be_bytes());
        self.buffer.as_mut()[field::HLEN] = 6;
        self.buffer.as_mut()[field::PLEN] = 4;
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, op: Operation) {
        self.put(field::OPER, &u16::from(op).to_be_bytes())
    }

    /// Sets the sender's addresses.
    pub fn set_source(&mut self, hw: EthernetAddress, ip: Ipv4Addr) {
        self.put(field::SHA, &hw.0);
        self.put(field::SPA, &ip.octets());
    }

    /// Sets the target's addresses.
    pub fn set_target(&mut self, hw: EthernetAddress, ip: Ipv4Addr) {
        self.put(field::THA, &hw.0);
        self.put(field::TPA, &ip.octets());
    }
}

/// An Ethernet/IPv4 ARP packet as a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: Operation,
    /// Sender MAC.
    pub source_hardware_addr: EthernetAddress,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC (zero in a request).
    pub target_hardware_addr: EthernetAddress,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an Ethernet/IPv4 ARP packet; other hardware or protocol types are an error.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<Self> {
        p.check_len()?;
        if p.hardware_type() != 1
            || p.protocol_type() != 0x0800
            || p.hardware_len() != 6
            || p.protocol_len() != 4
        {
            return Err(Error);
        }
        Ok(ArpRepr {
            operation: p.operation(),
            source_hardware_addr: p.source_hardware_addr(),
            source_protocol_addr: p.source_protocol_addr(),
            target_hardware_addr: p.target_hardware_addr(),
            target_protocol_addr: p.target_protocol_addr(),
        })
    }

    /// Bytes the packet takes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the first [`PACKET_LEN`] bytes of `p`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ArpPacket<T>) {
        p.set_ethernet_ipv4();
        p.set_operation(self.operation);
        p.set_source(self.source_hardware_addr, self.source_protocol_addr);
        p.set_target(self.target_hardware_addr, self.target_protocol_addr);
    }

    /// The reply a responder owning `our_hw` sends to this request.
    pub fn reply(&self, our_hw: EthernetAddress) -> ArpRepr {
        ArpRepr {
            operation: Operation::Reply,
            source_hardware_addr: our_hw,
            source_protocol_addr: self.target_protocol_addr,
            target_hardware_addr: self.source_hardware_addr,
            target_protocol_addr: self.source_protocol_addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::assert_eq_hex;

    /// Who has 198.18.0.2? Tell 198.18.0.1 (02:00:00:00:00:01).
    static PACKET_BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc6,
        0x12, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x02,
    ];

    fn repr() -> ArpRepr {
        ArpRepr {
            operation: Operation::Request,
            source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            source_protocol_addr: Ipv4Addr::new(198, 18, 0, 1),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: Ipv4Addr::new(198, 18, 0, 2),
        }
    }

    #[test]
    fn deconstruct() {
        let p = ArpPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(
            (
                p.hardware_type(),
                p.protocol_type(),
                p.hardware_len(),
                p.protocol_len()
            ),
            (1, 0x0800, 6, 4)
        );
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(
            p.source_hardware_addr(),
            EthernetAddress([2, 0, 0, 0, 0, 1])
        );
        assert_eq!(p.source_protocol_addr(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.target_hardware_addr(), EthernetAddress([0; 6]));
        assert_eq!(p.target_protocol_addr(), Ipv4Addr::new(198, 18, 0, 2));
    }

    #[test]
    fn construct() {
        let mut bytes = [0xffu8; 28];
        let mut p = ArpPacket::new_unchecked(&mut bytes[..]);
        p.set_ethernet_ipv4();
        p.set_operation(Operation::Request);
        p.set_source(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            Ipv4Addr::new(198, 18, 0, 1),
        );
        p.set_target(EthernetAddress([0; 6]), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq_hex(&bytes, &PACKET_BYTES);
    }

    #[test]
    fn parse() {
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&PACKET_BYTES[..]).unwrap()).unwrap(),
            repr()
        );
        let mut other = PACKET_BYTES;
        other[1] = 6;
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_unchecked(&other[..])),
            Err(Error)
        );
        assert_eq!(
            ArpPacket::new_checked(&PACKET_BYTES[..27]).unwrap_err(),
            Error
        );
    }

    #[test]
    fn emit() {
        let mut bytes = [0u8; 28];
        repr().emit(&mut ArpPacket::new_unchecked(&mut bytes[..]));
        assert_eq_hex(&bytes, &PACKET_BYTES);
    }

    #[test]
    fn reply_swaps_and_answers() {
        let ours = EthernetAddress([2, 0, 0, 0, 0, 2]);
        let r = repr().reply(ours);
        assert_eq!(r.operation, Operation::Reply);
        assert_eq!(
            (r.source_hardware_addr, r.source_protocol_addr),
            (ours, Ipv4Addr::new(198, 18, 0, 2))
        );
        assert_eq!(r.target_hardware_addr, EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(r.target_protocol_addr, Ipv4Addr::new(198, 18, 0, 1));
    }

    proptest! {
        #[test]
        fn checked_views_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = ArpPacket::new_checked(&bytes[..]) {
                let _ = ArpRepr::parse(&p);
                let _ = (p.operation(), p.target_protocol_addr());
            }
        }
    }
}
