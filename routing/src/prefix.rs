//! Address keys and prefixes, shared by IPv4 and IPv6 through the [`Key`] trait.

use std::fmt;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::Error;

/// An address as an unsigned integer, most significant bit first: `u32` for IPv4, `u128` for
/// IPv6. Tables are generic over it so that one code base serves both families.
pub trait Key: Copy + Eq + Ord + Hash + fmt::Debug + Send + Sync + 'static {
    /// Address width in bits.
    const BITS: u8;
    /// The all-zero address.
    const ZERO: Self;
    /// The network mask of a prefix of `len` bits (`len <= BITS`).
    fn mask(len: u8) -> Self;
    /// Bitwise and.
    fn and(self, other: Self) -> Self;
    /// Bitwise or.
    fn or(self, other: Self) -> Self;
    /// The top `n` bits (`1 <= n <= 24`) as an index.
    fn top(self, n: u32) -> usize;
    /// The six bits starting `off` bits from the top, the address being padded with zeros on the
    /// right so that a last stride may run past its end.
    fn stride6(self, off: u32) -> usize;
    /// The address whose top `n` bits are `index` and whose other bits are zero.
    fn from_top(index: usize, n: u32) -> Self;
    /// Parses the textual address.
    fn parse_addr(s: &str) -> Option<Self>;
    /// Writes the textual address.
    fn fmt_addr(self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

macro_rules! impl_key {
    ($t:ty, $addr:ty, $stride_shift:expr) => {
        impl Key for $t {
            const BITS: u8 = <$t>::BITS as u8;
            const ZERO: Self = 0;
            #[inline]
            fn mask(len: u8) -> Self {
                (!0 as $t)
                    .checked_shl(u32::from(
                        <Self as Key>::BITS - len.min(<Self as Key>::BITS),
                    ))
                    .unwrap_or(0)
            }
            #[inline]
            fn and(self, other: Self) -> Self {
                self & other
            }
            #[inline]
            fn or(self, other: Self) -> Self {
                self | other
            }
            #[inline]
            fn top(self, n: u32) -> usize {
                (self >> (<$t>::BITS - n)) as usize
            }
            #[inline]
            fn stride6(self, off: u32) -> usize {
                $stride_shift(self, off)
            }
            #[inline]
            fn from_top(index: usize, n: u32) -> Self {
                (index as $t) << (<$t>::BITS - n)
            }
            fn parse_addr(s: &str) -> Option<Self> {
                s.parse::<$addr>().ok().map(<$t>::from)
            }
            fn fmt_addr(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&<$addr>::from(self), f)
            }
        }
    };
}

impl_key!(u32, Ipv4Addr, |k: u32, off: u32| {
    // Widen so that strides past bit 32 read zeros.
    ((u64::from(k) << 32) >> (58 - off.min(58))) as usize & 63
});
impl_key!(u128, Ipv6Addr, |k: u128, off: u32| {
    let s = if off <= 122 {
        k >> (122 - off)
    } else {
        k << (off.min(127) - 122)
    };
    s as usize & 63
});

/// A prefix: an address and a length, host bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix<K> {
    addr: K,
    len: u8,
}

/// An IPv4 prefix.
pub type Ipv4Prefix = Prefix<u32>;
/// An IPv6 prefix.
pub type Ipv6Prefix = Prefix<u128>;

// ===== impl Prefix =====

/// The zero-length prefix, which holds every address: the default route's.
impl<K: Key> Default for Prefix<K> {
    fn default() -> Self {
        Prefix {
            addr: K::ZERO,
            len: 0,
        }
    }
}

impl<K: Key> Prefix<K> {
    /// The prefix `addr/len`. Host bits set are an error, not silently cleared: a route written
    /// `10.1.2.3/16` is more likely a typo than a wish for `10.1.0.0/16`.
    pub fn new(addr: K, len: u8) -> Result<Self, Error> {
        let reason = if len > K::BITS {
            "length longer than the address"
        } else if addr.and(K::mask(len)) != addr {
            "host bits set"
        } else {
            return Ok(Prefix { addr, len });
        };
        Err(Error::BadPrefix {
            prefix: format!("{}/{len}", Addr(addr)),
            reason,
        })
    }

    /// The network address.
    pub fn addr(self) -> K {
        self.addr
    }

    /// The length in bits.
    #[expect(
        clippy::len_without_is_empty,
        reason = "a prefix length, not a collection size"
    )]
    pub fn len(self) -> u8 {
        self.len
    }

    /// Whether `key` falls inside the prefix.
    pub fn contains(self, key: K) -> bool {
        key.and(K::mask(self.len)) == self.addr
    }
}

impl<K: Key> FromStr for Prefix<K> {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::BadPrefix {
            prefix: s.to_string(),
            reason,
        };
        let (addr, len) = s.split_once('/').ok_or_else(|| bad("missing /length"))?;
        let addr = K::parse_addr(addr).ok_or_else(|| bad("not an address of this family"))?;
        let len = len
            .parse::<u8>()
            .map_err(|_| bad("length is not a number"))?;
        Prefix::new(addr, len)
    }
}

impl<K: Key> fmt::Display for Prefix<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Addr(self.addr), self.len)
    }
}

/// Displays a key as an address.
struct Addr<K>(K);

impl<K: Key> fmt::Display for Addr<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_addr(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let p: Ipv4Prefix = "10.1.0.0/16".parse().unwrap();
        assert_eq!((p.addr(), p.len()), (0x0a01_0000, 16));
        assert_eq!(p.to_string(), "10.1.0.0/16");
        let p: Ipv6Prefix = "2001:db8::/32".parse().unwrap();
        assert_eq!(p.to_string(), "2001:db8::/32");
        assert!("0.0.0.0/0".parse::<Ipv4Prefix>().is_ok());
        assert!("::/0".parse::<Ipv6Prefix>().is_ok());
    }

    #[test]
    fn rejects_bad_prefixes() {
        for s in [
            "10.1.2.3/16",
            "10.0.0.0/33",
            "10.0.0.0",
            "10.0.0.0/x",
            "::/0",
        ] {
            assert!(s.parse::<Ipv4Prefix>().is_err(), "{s}");
        }
        assert!("2001:db8::1/32".parse::<Ipv6Prefix>().is_err());
        assert!("2001:db8::/129".parse::<Ipv6Prefix>().is_err());
    }

    #[test]
    fn strides_read_zero_padding() {
        assert_eq!(0xffff_ffffu32.stride6(30), 0b110000);
        assert_eq!(0xffff_ffffu32.stride6(0), 63);
        assert_eq!(u128::MAX.stride6(124), 0b111100);
        assert_eq!(u128::MAX.stride6(122), 63);
        assert_eq!(0x8000_0000u32.top(18), 1 << 17);
        assert_eq!(u32::from_top(1 << 17, 18), 0x8000_0000);
        assert_eq!(u32::mask(0), 0);
        assert_eq!(u32::mask(32), u32::MAX);
        assert_eq!(u128::mask(1), 1 << 127);
    }
}
