//! Building the frames of a stream, and finding the test signature in a received frame.
//!
//! Every generated frame carries, right after its UDP or TCP header, a 16-byte signature:
//!
//! ```text
//! +---------------+---------------+-------------------------------+
//! | stream id (2) | magic b51c(2) | sequence number (4)           |
//! +---------------+---------------+-------------------------------+
//! | transmit time, CLOCK_MONOTONIC ns (8)                         |
//! +---------------------------------------------------------------+
//! ```
//!
//! The receiver needs nothing else to count loss, duplicates and reordering per stream and to
//! measure latency, whatever the device under test did to the headers in between.

use brick_io::Packet;
use brick_router::wire::checksum;

use super::profile::{FCS, IpRange, Protocol, Size, StreamSpec};

/// Length of the test signature.
pub const SIGNATURE_LEN: usize = 16;
/// Marks a frame as ours.
pub const MAGIC: u16 = brick_io::backend::af_xdp::live::SIGNATURE_MAGIC;

/// IMIX order: 7 x 64, 4 x 570, 1 x 1518, interleaved so no size comes in long runs.
const IMIX: [usize; 12] = [64, 570, 64, 64, 570, 64, 1518, 64, 570, 64, 64, 570];

/// What the signature of a received frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Stream id.
    pub stream: u16,
    /// Sequence number within the stream (wraps at 2^32).
    pub seq: u32,
    /// When the generator sent it.
    pub tx_ns: u64,
}

/// Finds the signature of an Ethernet/IPv4-or-IPv6/UDP-or-TCP frame; `None` if it is not ours.
pub fn signature(frame: &[u8]) -> Option<Signature> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (l4, proto) = match ethertype {
        0x0800 => (14 + usize::from(frame.get(14)? & 0x0f) * 4, *frame.get(23)?),
        0x86dd => (14 + 40, *frame.get(20)?),
        _ => return None,
    };
    let sig = match proto {
        17 => l4 + 8,
        6 => l4 + usize::from(frame.get(l4 + 12)? >> 4) * 4,
        _ => return None,
    };
    let s = frame.get(sig..sig + SIGNATURE_LEN)?;
    if u16::from_be_bytes([s[2], s[3]]) != MAGIC {
        return None;
    }
    Some(Signature {
        stream: u16::from_be_bytes([s[0], s[1]]),
        seq: u32::from_be_bytes([s[4], s[5], s[6], s[7]]),
        tx_ns: u64::from_be_bytes([s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]]),
    })
}

/// One stream's frame factory.
#[derive(Debug, Clone)]
pub struct Stream {
    /// Stream id carried in the signature.
    pub id: u16,
    /// Name in reports.
    pub name: String,
    spec: StreamSpec,
    template: Vec<u8>,
    l4: usize,
    sig: usize,
    counter: u64,
    rng: u64,
    /// Next sequence number.
    pub seq: u32,
}

impl Stream {
    /// A stream with id `id`; `seed` makes random fields reproducible.
    pub fn new(id: u16, spec: &StreamSpec, seed: u64) -> Self {
        let v6 = spec.src_ip.is_v6();
        let l4 = 14 + if v6 { 40 } else { 20 };
        let sig = l4 + spec.protocol.header_len();
        let max = spec.size.bounds().1 - FCS;
        let mut t = vec![0u8; max];
        t[0..6].copy_from_slice(&spec.dst_mac.0);
        t[6..12].copy_from_slice(&spec.src_mac.0);
        let proto = match spec.protocol {
            Protocol::Udp => 17,
            Protocol::Tcp => 6,
        };
        if v6 {
            t[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
            t[14] = 0x60;
            t[20] = proto;
            t[21] = spec.ttl;
        } else {
            t[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            t[14] = 0x45;
            t[20] = 0x40; // DF: RFC 2544 tests do not fragment
            t[22] = spec.ttl;
            t[23] = proto;
        }
        if spec.protocol == Protocol::Tcp {
            t[l4 + 12] = 5 << 4;
            t[l4 + 13] = 0x10; // ACK
            t[l4 + 14..l4 + 16].copy_from_slice(&0xffffu16.to_be_bytes());
        }
        t[sig + 2..sig + 4].copy_from_slice(&MAGIC.to_be_bytes());
        t[sig..sig + 2].copy_from_slice(&id.to_be_bytes());
        Stream {
            id,
            name: spec.name.clone(),
            spec: spec.clone(),
            template: t,
            l4,
            sig,
            counter: 0,
            rng: seed | 1,
            seq: 0,
        }
    }

    /// Largest frame (with FCS) of this stream.
    pub fn max_size(&self) -> usize {
        self.template.len() + FCS
    }

    /// Mean frame size (with FCS).
    pub fn mean_size(&self) -> f64 {
        self.spec.size.mean()
    }

    #[inline]
    fn rand(&mut self) -> u64 {
        // xorshift64*: fast, and good enough to spread fields over ranges.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Picks an index in `0..span`: walking (`k` mixes the stream counter) or at random.
    #[inline]
    fn pick(&mut self, k: u64, span: u64) -> u64 {
        if self.spec.random {
            self.rand() % span
        } else {
            k % span
        }
    }

    /// Writes the next frame of the stream into the (empty) packet `p`, stamped `now_ns`; returns
    /// its size with FCS, or `None` if the packet's frame is too small for it.
    pub fn fill(&mut self, p: &mut Packet, now_ns: u64) -> Option<usize> {
        let size = match self.spec.size {
            Size::Fixed(n) => n,
            Size::Range(a, b) => a + (self.rand() % (b - a + 1) as u64) as usize,
            Size::Imix => IMIX[(self.counter % 12) as usize],
        };
        let len = size - FCS;
        let f = p.append(len)?;
        let k = self.counter;
        self.counter += 1;
        let (ns, nd, nsp) = (
            self.spec.src_ip.span(),
            self.spec.dst_ip.span(),
            self.spec.src_port.span(),
        );
        let si = self.pick(k, ns);
        let di = self.pick(k / ns, nd);
        let spi = self.pick(k / ns.saturating_mul(nd), nsp);
        let dpi = self.pick(
            k / ns.saturating_mul(nd).saturating_mul(nsp),
            self.spec.dst_port.span(),
        );
        let (src, dst, sport, dport) = (
            self.spec.src_ip,
            self.spec.dst_ip,
            self.spec.src_port.0 + spi as u16,
            self.spec.dst_port.0 + dpi as u16,
        );
        let (l4, sig, seq, proto) = (self.l4, self.sig, self.seq, self.spec.protocol);
        self.seq = self.seq.wrapping_add(1);

        f.copy_from_slice(&self.template[..len]);
        match (src, dst) {
            (IpRange::V4(s0, _), IpRange::V4(d0, _)) => {
                f[16..18].copy_from_slice(&((len - 14) as u16).to_be_bytes());
                f[26..30].copy_from_slice(&(s0 + si as u32).to_be_bytes());
                f[30..34].copy_from_slice(&(d0 + di as u32).to_be_bytes());
                let c = checksum::checksum(&f[14..34]);
                f[24..26].copy_from_slice(&c.to_be_bytes());
            }
            (IpRange::V6(s0, _), IpRange::V6(d0, _)) => {
                f[18..20].copy_from_slice(&((len - l4) as u16).to_be_bytes());
                f[22..38].copy_from_slice(&(s0 + u128::from(si)).to_be_bytes());
                f[38..54].copy_from_slice(&(d0 + u128::from(di)).to_be_bytes());
            }
            _ => {}
        }
        f[l4..l4 + 2].copy_from_slice(&sport.to_be_bytes());
        f[l4 + 2..l4 + 4].copy_from_slice(&dport.to_be_bytes());
        f[sig + 4..sig + 8].copy_from_slice(&seq.to_be_bytes());
        f[sig + 8..sig + 16].copy_from_slice(&now_ns.to_be_bytes());
        let l4_len = len - l4;
        let csum_at = match proto {
            Protocol::Udp => {
                f[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                // Optional over IPv4 (RFC 768), so skipped there; mandatory over IPv6.
                src.is_v6().then_some(l4 + 6)
            }
            Protocol::Tcp => {
                f[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
                Some(l4 + 16)
            }
        };
        if let Some(at) = csum_at {
            let pseudo = if src.is_v6() {
                checksum::sum(&f[22..54])
            } else {
                checksum::sum(&f[26..34])
            };
            let c = checksum::finish(
                pseudo
                    + u32::from(f[if src.is_v6() { 20 } else { 23 }])
                    + l4_len as u32
                    + checksum::sum(&f[l4..]),
            );
            f[at..at + 2].copy_from_slice(
                &(if c == 0 && proto == Protocol::Udp {
                    0xffff
                } else {
                    c
                })
                .to_be_bytes(),
            );
        }
        Some(size)
    }
}

#[cfg(test)]
mod tests {
    use brick_io::{Pool, PoolConfig};
    use brick_router::wire::ipv4::Ipv4Packet;

    use super::*;
    use crate::traffic::profile::Profile;

    fn stream(extra: &str, src: &str, dst: &str) -> Stream {
        let text = format!("[[stream]]\nname='s'\nsrc_ip='{src}'\ndst_ip='{dst}'\n{extra}");
        let p = Profile::parse("t.toml", &text).unwrap();
        Stream::new(7, &p.streams[0], 42)
    }

    fn l4_checksum_ok(f: &[u8], v6: bool) -> bool {
        let (l4, pseudo, proto) = if v6 {
            (54, checksum::sum(&f[22..54]), f[20])
        } else {
            (34, checksum::sum(&f[26..34]), f[23])
        };
        checksum::finish(
            pseudo + u32::from(proto) + (f.len() - l4) as u32 + checksum::sum(&f[l4..]),
        ) == 0
    }

    #[test]
    fn ipv4_udp_frames_walk_the_ranges_and_carry_the_signature() {
        let mut s = stream(
            "src_port='1000-1001'\nsize=64",
            "10.0.0.1-10.0.0.2",
            "10.1.0.1",
        );
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut seen = Vec::new();
        for i in 0..4u32 {
            let mut p = pool.alloc().unwrap();
            assert_eq!(s.fill(&mut p, 1000 + u64::from(i)), Some(64));
            let f = p.data();
            assert_eq!(f.len(), 60);
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum() && ip.dont_frag());
            assert_eq!(ip.total_len(), 46);
            seen.push((
                ip.src_addr().octets()[3],
                u16::from_be_bytes([f[34], f[35]]),
            ));
            assert_eq!(
                signature(f),
                Some(Signature {
                    stream: 7,
                    seq: i,
                    tx_ns: 1000 + u64::from(i)
                })
            );
        }
        assert_eq!(seen, [(1, 1000), (2, 1000), (1, 1001), (2, 1001)]);
    }

    #[test]
    fn ipv6_and_tcp_checksums_verify() {
        let pool = Pool::new(PoolConfig::default()).unwrap();
        for (extra, v6) in [
            ("size=128", true),
            ("protocol='tcp'\nsize=128", true),
            ("protocol='tcp'\nsize='74-200'", false),
        ] {
            let (src, dst) = if v6 {
                ("2001:db8::1", "2001:db8::2")
            } else {
                ("10.0.0.1", "10.0.0.2")
            };
            let mut s = stream(extra, src, dst);
            for i in 0..20 {
                let mut p = pool.alloc().unwrap();
                s.fill(&mut p, 5).unwrap();
                assert!(l4_checksum_ok(p.data(), v6), "{extra}: frame {i}");
                assert_eq!(signature(p.data()).unwrap().seq, i);
            }
        }
    }

    #[test]
    fn imix_mix_is_7_4_1() {
        let mut s = stream("size='imix'", "10.0.0.1", "10.0.0.2");
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut count = std::collections::HashMap::new();
        for _ in 0..120 {
            let mut p = pool.alloc().unwrap();
            *count.entry(s.fill(&mut p, 0).unwrap()).or_insert(0) += 1;
        }
        assert_eq!((count[&64], count[&570], count[&1518]), (70, 40, 10));
    }

    #[test]
    fn foreign_frames_have_no_signature() {
        assert_eq!(signature(&[0u8; 10]), None);
        let mut f = vec![0u8; 60];
        brick_io::testframe::build(&mut f, 1, 1);
        assert_eq!(signature(&f), None);
    }
}
