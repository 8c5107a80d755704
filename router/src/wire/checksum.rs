//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/// One's-complement sum of `data` as big-endian 16-bit words (a trailing odd byte is padded with
/// zero), not yet folded or complemented.
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u64::from(*b) << 8;
    }
    fold64(acc)
}

#[inline]
fn fold64(mut acc: u64) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// Folds a sum to 16 bits and complements it: the value to store in a checksum field.
#[inline]
pub fn finish(sum: u32) -> u16 {
    !(fold64(u64::from(sum)) as u16)
}

/// The checksum of `data`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit word of the covered data changed from `old`
/// to `new`, without reading the rest of the data: `HC' = ~(~HC + ~m + m')`. Unlike eqn. 2, it
/// never produces 0xffff for a header whose sum is zero (RFC 1624 section 3).
#[inline]
pub fn update(hc: u16, old: u16, new: u16) -> u16 {
    let s = u32::from(!hc) + u32::from(!old) + u32::from(new);
    finish(s)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(
            sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(sum(&[0xab]), 0xab00);
    }

    proptest! {
        /// The incremental update always equals a full recomputation.
        #[test]
        fn incremental_equals_full(mut data in proptest::collection::vec(any::<u8>(), 2..64), at in any::<usize>(), new in any::<u16>()) {
            let words = data.len() / 2;
            let i = (at % words) * 2;
            let hc = checksum(&data);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let full = checksum(&data);
            let inc = update(hc, old, new);
            // One's complement has two zeros; both verify, and RFC 1624 keeps 0x0000 out.
            prop_assert!(inc == full || (inc == 0 && full == 0xffff) || (inc == 0xffff && full == 0), "{inc:#x} {full:#x}");
        }
    }
}
