//! Test frames for tests and benchmarks of every layer: Ethernet + IPv4 + UDP, with a flow id in the UDP source port and a sequence number
//! and a fill pattern in the payload, so a receiver can check content and per-flow order.

/// Offset of the 32-bit sequence number in the frame.
pub const SEQ_AT: usize = 42;
/// Offset of the UDP source port, which carries the flow id.
pub const FLOW_AT: usize = 34;
/// Smallest frame built (Ethernet minimum without FCS).
pub const MIN_FRAME: usize = 60;

/// Writes a frame of `buf.len()` bytes (at least [`MIN_FRAME`]) for `flow` and `seq`.
pub fn build(buf: &mut [u8], flow: u16, seq: u32) {
    let len = buf.len();
    assert!(len >= MIN_FRAME, "frame of {len} bytes");
    buf[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    buf[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    buf[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (len - 14) as u16;
    let ip = &mut buf[14..34];
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 19, 0, 1,
    ]);
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let csum = checksum(ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    buf[FLOW_AT..FLOW_AT + 2].copy_from_slice(&flow.to_be_bytes());
    buf[36..38].copy_from_slice(&9u16.to_be_bytes());
    buf[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    buf[40..42].fill(0);
    buf[SEQ_AT..SEQ_AT + 4].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in buf[SEQ_AT + 4..].iter_mut().enumerate() {
        *b = pattern(flow, seq, i);
    }
}

/// The payload byte at `i` past the sequence number.
#[inline]
pub fn pattern(flow: u16, seq: u32, i: usize) -> u8 {
    (seq as usize ^ usize::from(flow) ^ i.wrapping_mul(31)) as u8
}

/// `(flow, seq)` of a frame whose content is intact, `None` if any byte is wrong.
pub fn check(frame: &[u8]) -> Option<(u16, u32)> {
    if frame.len() < MIN_FRAME {
        return None;
    }
    let flow = u16::from_be_bytes([frame[FLOW_AT], frame[FLOW_AT + 1]]);
    let seq = u32::from_be_bytes(frame[SEQ_AT..SEQ_AT + 4].try_into().ok()?);
    let mut want = vec![0u8; frame.len()];
    build(&mut want, flow, seq);
    (want == frame).then_some((flow, seq))
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_check() {
        for len in [60, 64, 1514] {
            let mut f = vec![0; len];
            build(&mut f, 7, 1234);
            assert_eq!(check(&f), Some((7, 1234)));
            assert_eq!(checksum(&f[14..34]), 0, "header checksum verifies");
            f[len - 1] ^= 1;
            assert_eq!(check(&f), None);
        }
    }
}
