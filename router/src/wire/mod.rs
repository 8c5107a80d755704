//! Wire formats as typed views plus a `Repr`.
//!
//! Each header family has a `Packet<T: AsRef<[u8]>>` view with `new_unchecked`, `new_checked` and
//! `check_len`, getters named after the fields and `set_*` setters, and a `Repr` (an owned,
//! high-level value) with `parse`, `emit` and `buffer_len`. The contract, as in smoltcp: **once
//! `check_len` has returned `Ok(())`, no getter or setter panics**, whatever the bytes. Unknown codes
//! parse as `Unknown(n)` variants, never as errors. Offsets live in a private `field` module as
//! constant ranges.
//!
//! - [`ethernet`]: Ethernet II frames, EtherTypes, MAC addresses.
//! - [`ipv4`]: IPv4 headers, the header checksum, the RFC 1624 incremental update for a TTL decrement.
//! - [`arp`]: ARP for IPv4 over Ethernet.
//! - [`icmpv4`]: ICMP echo, destination unreachable (with the RFC 1191 next-hop MTU) and time
//!   exceeded.
//! - [`ipv6`]: IPv6 fixed headers, hop limit, solicited-node and multicast MAC addresses.
//! - [`icmpv6`]: ICMPv6 messages with the pseudo-header checksum, and Neighbor Discovery.
//! - [`checksum`]: the Internet checksum (RFC 1071) and its incremental update (RFC 1624).

use std::fmt;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;

/// A frame too short for its header or with an impossible length field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("truncated or malformed header")
    }
}

impl std::error::Error for Error {}

/// The wire modules' result.
pub type Result<T> = std::result::Result<T, Error>;

type Field = std::ops::Range<usize>;

/// The big-endian 16-bit field at `f` (two bytes).
#[inline]
fn be16(buf: &[u8], f: Field) -> u16 {
    let b = &buf[f];
    u16::from_be_bytes([b[0], b[1]])
}

/// Defines an enum over a numeric code with an `Unknown(n)` variant, so parsing never fails on a
/// code we do not know.
macro_rules! enum_with_unknown {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            /// A code this implementation does not know.
            Unknown($ty),
        }

        impl From<$ty> for $name {
            fn from(v: $ty) -> Self {
                match v {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $ty {
            fn from(v: $name) -> Self {
                match v {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}
pub(crate) use enum_with_unknown;

#[cfg(test)]
pub(crate) fn assert_eq_hex(got: &[u8], want: &[u8]) {
    if got != want {
        let hex = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        panic!("bytes differ\n got: {}\nwant: {}", hex(got), hex(want));
    }
}
