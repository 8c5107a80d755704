//! ICMP for IPv4 (RFC 792), the messages a router sends and answers: echo (request and reply),
//! destination unreachable with the next-hop MTU of RFC 1191, and time exceeded.
//!
//! ```text
//! +---------------+---------------+-------------------------------+
//! |   type (1)    |   code (1)    |         checksum (2)          |
//! +---------------+---------------+-------------------------------+
//! |  rest of header (4): ident + seq, or unused + next-hop MTU    |
//! +---------------------------------------------------------------+
//! |  data: echo payload, or the start of the offending datagram   |
//! +---------------------------------------------------------------+
//! ```
//!
//! An error quotes the offending datagram's IP header and as much of its payload as fits in a
//! 576-byte reply (RFC 1812 4.3.2.3); [`quote_len`] computes that.

use super::checksum;
use super::{Error, Field, Result, enum_with_unknown};

enum_with_unknown! {
    /// The ICMP message type.
    pub enum Message(u8) {
        /// Echo reply.
        EchoReply = 0,
        /// Destination unreachable.
        DstUnreachable = 3,
        /// Redirect.
        Redirect = 5,
        /// Echo request.
        EchoRequest = 8,
        /// Time exceeded.
        TimeExceeded = 11,
        /// Parameter problem.
        ParamProblem = 12,
    }
}

enum_with_unknown! {
    /// Codes of destination unreachable.
    pub enum DstUnreachable(u8) {
        /// No route to the network.
        NetUnreachable = 0,
        /// Host unreachable (no neighbour answered).
        HostUnreachable = 1,
        /// Protocol unreachable.
        ProtoUnreachable = 2,
        /// Port unreachable.
        PortUnreachable = 3,
        /// Fragmentation needed and DF set (carries the next-hop MTU).
        FragRequired = 4,
        /// Communication administratively prohibited.
        AdminProhibited = 13,
    }
}

enum_with_unknown! {
    /// Codes of time exceeded.
    pub enum TimeExceeded(u8) {
        /// TTL reached zero in transit.
        TtlExpired = 0,
        /// Fragment reassembly time exceeded.
        FragExpired = 1,
    }
}

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const SEQ: Field = 6..8;
    pub const MTU: Field = 6..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMP header.
pub const HEADER_LEN: usize = field::DATA;

/// How many bytes of an offending datagram of `len` bytes an error quotes: all of it, up to what
/// fits in a 576-byte IPv4 reply.
pub fn quote_len(len: usize) -> usize {
    len.min(576 - super::ipv4::HEADER_LEN - HEADER_LEN)
}

// ===== impl Icmpv4Packet =====

/// A view of an ICMP message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps a buffer after [`Icmpv4Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    #[inline]
    fn be16(&self, f: Field) -> u16 {
        super::be16(self.buffer.as_ref(), f)
    }

    /// The message type.
    pub fn msg_type(&self) -> Message {
        self.buffer.as_ref()[field::TYPE].into()
    }

    /// The code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }

    /// Echo identifier.
    pub fn echo_ident(&self) -> u16 {
        self.be16(field::IDENT)
    }

    /// Echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        self.be16(field::SEQ)
    }

    /// Next-hop MTU of a fragmentation-needed message (0 from routers older than RFC 1191).
    pub fn next_hop_mtu(&self) -> u16 {
        self.be16(field::MTU)
    }

    /// The data after the header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// True when the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    fn put16(&mut self, f: Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes())
    }

    /// Sets type and code.
    pub fn set_type_code(&mut self, t: Message, code: u8) {
        self.buffer.as_mut()[field::TYPE] = t.into();
        self.buffer.as_mut()[field::CODE] = code;
    }

    /// Sets the 4 bytes after the checksum as two 16-bit words.
    pub fn set_rest(&mut self, hi: u16, lo: u16) {
        self.put16(field::IDENT, hi);
        self.put16(field::SEQ, lo);
    }

    /// The data after the header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }

    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.put16(field::CHECKSUM, 0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.put16(field::CHECKSUM, c)
    }
}

/// An ICMP message as a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Payload, echoed back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Payload of the request.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Why.
        reason: DstUnreachable,
        /// The next-hop MTU, for [`DstUnreachable::FragRequired`]; otherwise 0.
        next_hop_mtu: u16,
        /// The start of the offending datagram.
        quote: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Why.
        reason: TimeExceeded,
        /// The start of the offending datagram.
        quote: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a message with a valid checksum; other types are an error.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &'a Icmpv4Packet<&'a T>) -> Result<Self> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(Error);
        }
        let data = &p.buffer.as_ref()[field::DATA..];
        Ok(match p.msg_type() {
            Message::EchoRequest => Icmpv4Repr::EchoRequest {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data,
            },
            Message::EchoReply => Icmpv4Repr::EchoReply {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data,
            },
            Message::DstUnreachable => Icmpv4Repr::DstUnreachable {
                reason: p.msg_code().into(),
                next_hop_mtu: p.next_hop_mtu(),
                quote: data,
            },
            Message::TimeExceeded => Icmpv4Repr::TimeExceeded {
                reason: p.msg_code().into(),
                quote: data,
            },
            _ => return Err(Error),
        })
    }

    /// Bytes the message takes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv4Repr::DstUnreachable { quote, .. }
                | Icmpv4Repr::TimeExceeded { quote, .. } => quote.len(),
            }
    }

    /// Writes the message, checksum included, into a buffer of exactly [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Icmpv4Packet<T>) {
        let (t, code, hi, lo, body) = match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (Message::EchoRequest, 0, ident, seq_no, data),
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (Message::EchoReply, 0, ident, seq_no, data),
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                quote,
            } => (
                Message::DstUnreachable,
                reason.into(),
                0,
                next_hop_mtu,
                quote,
            ),
            Icmpv4Repr::TimeExceeded { reason, quote } => {
                (Message::TimeExceeded, reason.into(), 0, 0, quote)
            }
        };
        p.set_type_code(t, code);
        p.set_rest(hi, lo);
        p.data_mut()[..body.len()].copy_from_slice(body);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::assert_eq_hex;

    /// Echo request, ident 0x1234, seq 1, data "abcd".
    static ECHO_BYTES: [u8; 12] = [
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
    ];

    /// The IPv4 header and first 8 payload bytes of a UDP datagram whose TTL ran out.
    static QUOTE: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1e, 0x01, 0x02, 0x40, 0x00, 0x01, 0x11, 0xb2, 0x10, 0xc0, 0xa8, 0x01,
        0x01, 0xc6, 0x12, 0x00, 0x01, 0xaa, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn with_header(hdr: [u8; 8]) -> Vec<u8> {
        hdr.iter().chain(&QUOTE).copied().collect()
    }

    #[test]
    fn deconstruct() {
        let p = Icmpv4Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        assert_eq!(
            (p.msg_type(), p.msg_code(), p.checksum()),
            (Message::EchoRequest, 0, 0x2104)
        );
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
        assert_eq!(p.data(), b"abcd");
        assert!(p.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 12];
        let mut p = Icmpv4Packet::new_unchecked(&mut bytes[..]);
        p.set_type_code(Message::EchoRequest, 0);
        p.set_rest(0x1234, 1);
        p.data_mut().copy_from_slice(b"abcd");
        p.fill_checksum();
        assert_eq_hex(&bytes, &ECHO_BYTES);
    }

    #[test]
    fn parse() {
        let p = Icmpv4Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        let want = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcd",
        };
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), want);
        let mut bad = ECHO_BYTES;
        bad[9] ^= 0xff;
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(&bad[..])),
            Err(Error)
        );
    }

    #[test]
    fn emit_echo_reply_of_a_request() {
        let p = Icmpv4Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = Icmpv4Repr::parse(&p).unwrap()
        else {
            panic!()
        };
        let reply = Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        };
        let mut bytes = vec![0u8; reply.buffer_len()];
        reply.emit(&mut Icmpv4Packet::new_unchecked(&mut bytes[..]));
        let mut want = ECHO_BYTES;
        want[0] = 0;
        want[2..4].copy_from_slice(&0x2904u16.to_be_bytes());
        assert_eq_hex(&bytes, &want);
    }

    #[test]
    fn emit_time_exceeded_quotes_the_datagram() {
        let r = Icmpv4Repr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            quote: &QUOTE,
        };
        let mut bytes = vec![0u8; r.buffer_len()];
        r.emit(&mut Icmpv4Packet::new_unchecked(&mut bytes[..]));
        assert_eq_hex(&bytes, &with_header([11, 0, 0x89, 0xff, 0, 0, 0, 0]));
        let p = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn emit_frag_needed_carries_the_mtu() {
        let r = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1280,
            quote: &QUOTE,
        };
        let mut bytes = vec![0u8; r.buffer_len()];
        r.emit(&mut Icmpv4Packet::new_unchecked(&mut bytes[..]));
        assert_eq_hex(&bytes, &with_header([3, 4, 0x8c, 0xfb, 0, 0, 0x05, 0x00]));
        assert_eq!(
            Icmpv4Packet::new_checked(&bytes[..])
                .unwrap()
                .next_hop_mtu(),
            1280
        );
    }

    #[test]
    fn quote_fits_576() {
        assert_eq!(quote_len(100), 100);
        assert_eq!(quote_len(1500), 548);
    }

    proptest! {
        #[test]
        fn checked_views_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(mut p) = Icmpv4Packet::new_checked(&mut bytes[..]) {
                let _ = (p.msg_type(), p.next_hop_mtu(), p.data().len());
                p.fill_checksum();
                prop_assert!(p.verify_checksum());
            }
            if let Ok(p) = Icmpv4Packet::new_checked(&bytes[..]) {
                let _ = Icmpv4Repr::parse(&p);
            }
        }

        /// emit then parse gives back the message, for every kind and any field values.
        #[test]
        fn emit_then_parse(kind in 0u8..4, code in any::<u8>(), a in any::<u16>(), b in any::<u16>(),
                           data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let r = match kind {
                0 => Icmpv4Repr::EchoRequest { ident: a, seq_no: b, data: &data },
                1 => Icmpv4Repr::EchoReply { ident: a, seq_no: b, data: &data },
                2 => Icmpv4Repr::DstUnreachable { reason: code.into(), next_hop_mtu: b, quote: &data },
                _ => Icmpv4Repr::TimeExceeded { reason: code.into(), quote: &data },
            };
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
            let p = Icmpv4Packet::new_checked(&out[..]).unwrap();
            prop_assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
        }
    }
}
