//! The stable flow hash used to steer frames to queues, like a NIC's RSS hash.
//!
//! It reads the IPv4 or IPv6 addresses, the protocol and, for TCP, UDP and SCTP (not for
//! fragments after the first), the ports; one 802.1Q/802.1ad tag is skipped. Anything else hashes
//! its MAC addresses. The hash has no random key: the same flow gets the same value in every
//! process and on every node, which keeps a flow on one queue (and so in order) end to end.

const ETH_HLEN: usize = 14;

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

#[inline]
fn be64(b: &[u8], at: usize) -> u64 {
    match b.get(at..at + 8) {
        Some(w) => u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
        None => 0,
    }
}

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// Two 64-bit lanes in, 32 well-mixed bits out (the high bits matter: queues are picked from them).
#[inline]
fn mix(a: u64, b: u64) -> u32 {
    let h = a.wrapping_mul(K1) ^ b.wrapping_mul(K2).rotate_left(31);
    let h = (h ^ (h >> 29)).wrapping_mul(K1);
    (h >> 32) as u32
}

#[inline]
fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

/// The flow hash of an Ethernet frame. Never panics, whatever the bytes.
#[inline]
pub fn hash(frame: &[u8]) -> u32 {
    // Untagged IPv4 without options (nearly every frame a router sees) from one fixed-size
    // chunk: one length check instead of one per byte read, the same value as the full parse.
    if let Some(h) = frame.first_chunk::<38>()
        && h[12..15] == [0x08, 0x00, 0x45]
    {
        let proto = h[23];
        let first_fragment = u16::from_be_bytes([h[20], h[21]]) & 0x1fff == 0;
        let ports = if has_ports(proto) && first_fragment {
            u64::from(u32::from_be_bytes([h[34], h[35], h[36], h[37]]))
        } else {
            0
        };
        let addrs = u64::from_be_bytes([h[26], h[27], h[28], h[29], h[30], h[31], h[32], h[33]]);
        return mix(addrs, ports << 8 | u64::from(proto));
    }
    parsed(frame)
}

/// [`hash`] by the full parse.
#[inline]
fn parsed(frame: &[u8]) -> u32 {
    if frame.len() < ETH_HLEN {
        return mix(frame.iter().fold(0, |h, &b| h << 8 | u64::from(b)), 0);
    }
    let mut l3 = ETH_HLEN;
    let mut ethertype = be16(frame, 12);
    if matches!(ethertype, 0x8100 | 0x88a8) && frame.len() >= l3 + 4 {
        ethertype = be16(frame, l3 + 2);
        l3 += 4;
    }
    let ip = &frame[l3..];
    match ethertype {
        0x0800 if ip.len() >= 20 => {
            let proto = ip[9];
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let first_fragment = be16(ip, 6) & 0x1fff == 0;
            let ports = if has_ports(proto) && first_fragment && ihl >= 20 && ip.len() >= ihl + 4 {
                be32(ip, ihl)
            } else {
                0
            };
            mix(be64(ip, 12), ports << 8 | u64::from(proto))
        }
        0x86dd if ip.len() >= 40 => {
            let proto = ip[6];
            let ports = if has_ports(proto) && ip.len() >= 44 {
                be32(ip, 40)
            } else {
                0
            };
            let addrs = be64(ip, 8)
                ^ be64(ip, 16).rotate_left(17)
                ^ be64(ip, 24).rotate_left(34)
                ^ be64(ip, 32).rotate_left(51);
            mix(addrs, ports << 8 | u64::from(proto))
        }
        _ => mix(be64(frame, 0), be32(frame, 8) << 16 | u64::from(ethertype)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[23] = 17;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn same_flow_same_hash_payload_and_macs_ignored() {
        let a = udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53);
        let mut b = a.clone();
        b[0..12].fill(0xee);
        b[50] = 99;
        assert_eq!(hash(&a), hash(&b));
        assert_ne!(
            hash(&a),
            hash(&udp4([10, 0, 0, 1], [10, 0, 0, 2], 1001, 53))
        );
        assert_ne!(
            hash(&a),
            hash(&udp4([10, 0, 0, 3], [10, 0, 0, 2], 1000, 53))
        );
    }

    #[test]
    fn vlan_tag_is_skipped() {
        let plain = udp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
        let mut tagged = plain[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&plain[12..]);
        assert_eq!(hash(&plain), hash(&tagged));
    }

    #[test]
    fn later_fragments_hash_without_ports() {
        let mut a = udp4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
        let mut b = udp4([1, 2, 3, 4], [5, 6, 7, 8], 3, 4);
        a[20] = 0x00;
        a[21] = 0x10;
        b[20..22].copy_from_slice(&a[20..22]);
        assert_eq!(hash(&a), hash(&b));
    }

    #[test]
    fn flows_spread_over_queues() {
        let mut per_queue = [0u32; 4];
        for port in 0..4000u16 {
            per_queue[hash(&udp4([10, 0, 0, 1], [10, 0, 0, 2], port, 80)) as usize % 4] += 1;
        }
        assert!(
            per_queue.iter().all(|&n| (800..1200).contains(&n)),
            "{per_queue:?}"
        );
    }

    proptest! {
        #[test]
        fn never_panics(frame in proptest::collection::vec(any::<u8>(), 0..128)) {
            hash(&frame);
        }

        /// The shortcut for plain IPv4 gives what the full parse gives, for any protocol,
        /// fragment offset, header length and frame length around the shortcut's 38 bytes.
        #[test]
        fn ipv4_shortcut_matches_the_parse(
            mut frame in proptest::collection::vec(any::<u8>(), 30..80),
            ihl in prop_oneof![Just(0x45u8), any::<u8>()],
            proto in prop_oneof![Just(6u8), Just(17), Just(132), any::<u8>()],
            frag in prop_oneof![Just(0u8), any::<u8>()],
        ) {
            frame[12..15].copy_from_slice(&[0x08, 0x00, ihl]);
            frame[20] = frag;
            frame[23] = proto;
            prop_assert_eq!(hash(&frame), parsed(&frame));
        }
    }
}
