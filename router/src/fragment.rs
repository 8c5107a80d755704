//! IPv4 fragmentation (RFC 791 section 3.2, RFC 1812 5.2.6) on the control plane's slow path:
//! a packet too large for its output port and without DF leaves as fragments.
//!
//! Every fragment carries the original header with its own offset, MF bit, length and checksum.
//! The first fragment keeps all options; later ones keep only the options whose "copied" flag is
//! set (RFC 791: security, source routes). A packet that is itself a fragment is split further,
//! keeping its offset and, on its last piece, its MF bit.

use crate::wire::checksum;
use crate::wire::ethernet::HEADER_LEN;
use crate::wire::ipv4::{self, Ipv4Packet};

/// Splits the IPv4 packet in `frame` (Ethernet header included) into frames whose IPv4 packets
/// fit in `mtu` bytes. `None` when the packet has DF set, is malformed, or `mtu` cannot carry
/// its header and 8 bytes of data.
pub fn fragment(frame: &[u8], mtu: u16) -> Option<Vec<Vec<u8>>> {
    let ip = Ipv4Packet::new_checked(frame.get(HEADER_LEN..)?).ok()?;
    if ip.dont_frag() {
        return None;
    }
    let header = &frame[HEADER_LEN..HEADER_LEN + ip.header_len()];
    let data = ip.payload();
    let rest_header = later_header(ip.options());
    let (first_room, rest_room) = (
        room(mtu, header.len())?,
        room(mtu, ipv4::HEADER_LEN + rest_header.len())?,
    );
    let (base, more) = (usize::from(ip.frag_offset()), ip.more_frags());
    if base + data.len() > 0xffff {
        return None;
    }
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let first = off == 0;
        let take = (data.len() - off).min(if first { first_room } else { rest_room });
        let last = off + take == data.len();
        let mut f = Vec::with_capacity(HEADER_LEN + header.len() + take);
        f.extend_from_slice(&frame[..HEADER_LEN]);
        if first {
            f.extend_from_slice(header);
        } else {
            f.extend_from_slice(&header[..ipv4::HEADER_LEN]);
            f.extend_from_slice(&rest_header);
        }
        let hl = f.len() - HEADER_LEN;
        f.extend_from_slice(&data[off..off + take]);
        let mut p = Ipv4Packet::new_unchecked(&mut f[HEADER_LEN..]);
        p.set_version_and_header_len(hl);
        p.set_total_len((hl + take) as u16);
        p.set_frag(false, more || !last, (base + off) as u16);
        p.set_checksum(0);
        let c = checksum::checksum(&f[HEADER_LEN..HEADER_LEN + hl]);
        Ipv4Packet::new_unchecked(&mut f[HEADER_LEN..]).set_checksum(c);
        out.push(f);
        off += take;
    }
    Some(out)
}

/// Data bytes per fragment: what fits after the header, in whole 8-byte units.
fn room(mtu: u16, header: usize) -> Option<usize> {
    let room = usize::from(mtu).checked_sub(header)? & !7;
    (room >= 8).then_some(room)
}

/// The options of fragments after the first: the copied ones, padded to 32 bits.
fn later_header(options: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let len = usize::from(*options.get(i + 1).unwrap_or(&0));
                if len < 2 || i + len > options.len() {
                    break;
                }
                if kind & 0x80 != 0 {
                    out.extend_from_slice(&options[i..i + len]);
                }
                i += len;
            }
        }
    }
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Ethernet + IPv4 with `options` + `len` bytes of counting payload.
    fn packet(options: &[u8], len: usize, df: bool, offset: u16, mf: bool) -> Vec<u8> {
        let hl = 20 + options.len();
        let mut f = vec![0u8; HEADER_LEN + hl + len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x40 | (hl / 4) as u8;
        f[16..18].copy_from_slice(&((hl + len) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&0xbeefu16.to_be_bytes());
        let frag = (u16::from(df) << 14) | (u16::from(mf) << 13) | offset;
        f[20..22].copy_from_slice(&frag.to_be_bytes());
        f[22] = 64;
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 1, 0, 2]);
        f[30..34].copy_from_slice(&[10, 2, 0, 2]);
        f[34..34 + options.len()].copy_from_slice(options);
        for (i, b) in f[HEADER_LEN + hl..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let c = checksum::checksum(&f[14..14 + hl]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// Puts the fragments' data back together by offset.
    fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
        let mut data = Vec::new();
        for f in frags {
            let p = Ipv4Packet::new_checked(&f[HEADER_LEN..]).unwrap();
            let at = usize::from(p.frag_offset());
            data.resize(data.len().max(at + p.payload().len()), 0);
            data[at..at + p.payload().len()].copy_from_slice(p.payload());
        }
        data
    }

    #[test]
    fn a_1500_byte_packet_into_1280() {
        let f = packet(&[], 1480, false, 0, false);
        let frags = fragment(&f, 1280).unwrap();
        assert_eq!(frags.len(), 2);
        let (a, b) = (
            Ipv4Packet::new_checked(&frags[0][HEADER_LEN..]).unwrap(),
            Ipv4Packet::new_checked(&frags[1][HEADER_LEN..]).unwrap(),
        );
        assert_eq!(
            (a.total_len(), a.more_frags(), a.frag_offset()),
            (1276, true, 0)
        );
        assert_eq!(
            (b.total_len(), b.more_frags(), b.frag_offset()),
            (244, false, 1256)
        );
        assert_eq!((a.ident(), b.ident()), (0xbeef, 0xbeef));
        assert!(a.verify_checksum() && b.verify_checksum());
        assert_eq!(reassemble(&frags), f[HEADER_LEN + 20..]);
    }

    #[test]
    fn only_copied_options_follow_the_first_fragment() {
        // Record route (7, not copied) and a copied option (0x86, length 4), then end of list.
        let options = [7, 7, 4, 0, 0, 0, 0, 0x86, 4, 1, 2, 0];
        let f = packet(&options, 400, false, 0, false);
        let frags = fragment(&f, 200).unwrap();
        let first = Ipv4Packet::new_checked(&frags[0][HEADER_LEN..]).unwrap();
        assert_eq!(first.options(), &options);
        for g in &frags[1..] {
            let p = Ipv4Packet::new_checked(&g[HEADER_LEN..]).unwrap();
            assert_eq!(p.options(), &[0x86, 4, 1, 2]);
            assert!(p.total_len() <= 200);
        }
        assert_eq!(reassemble(&frags), f[HEADER_LEN + 32..]);
    }

    #[test]
    fn refusals() {
        assert!(
            fragment(&packet(&[], 1480, true, 0, false), 1280).is_none(),
            "DF"
        );
        assert!(
            fragment(&packet(&[], 100, false, 0, false), 24).is_none(),
            "no room"
        );
        assert!(fragment(&[0u8; 20], 1280).is_none(), "truncated");
    }

    proptest! {
        #[test]
        fn fragments_fit_and_reassemble(len in 9usize..3000, mtu in 68u16..1500, offset in 0u16..100, mf: bool) {
            let f = packet(&[], len, false, offset, mf);
            let frags = fragment(&f, mtu).unwrap();
            for (i, g) in frags.iter().enumerate() {
                let p = Ipv4Packet::new_checked(&g[HEADER_LEN..]).unwrap();
                prop_assert!(usize::from(p.total_len()) <= usize::from(mtu));
                prop_assert!(p.verify_checksum());
                prop_assert_eq!(p.more_frags(), mf || i + 1 < frags.len());
                prop_assert_eq!(&g[..HEADER_LEN], &f[..HEADER_LEN]);
            }
            let data = reassemble(&frags);
            let base = usize::from(offset) * 8;
            prop_assert_eq!(&data[base..], &f[HEADER_LEN + 20..]);
        }
    }
}
