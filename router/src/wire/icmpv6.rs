//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages a router needs (RFC 4861): neighbour
//! solicitations and advertisements with their link-layer address options, router solicitations,
//! and router advertisements with their prefix and MTU options.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          type-specific 4 bytes (MTU, echo id/seq, ND flags)   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   body: quoted packet, echo data, ND target and options ...
//! ```
//!
//! The checksum covers the IPv6 pseudo-header ([`Ipv6Repr::pseudo_sum`]).

use std::net::Ipv6Addr;

use super::checksum;
use super::ethernet::EthernetAddress;
use super::ipv6::{HEADER_LEN, Ipv6Repr, NEXT_ICMPV6};

/// Destination unreachable.
pub const DST_UNREACHABLE: u8 = 1;
/// Packet too big (carries the next hop's MTU).
pub const PACKET_TOO_BIG: u8 = 2;
/// Hop limit exceeded in transit (code 0).
pub const TIME_EXCEEDED: u8 = 3;
/// Echo request.
pub const ECHO_REQUEST: u8 = 128;
/// Echo reply.
pub const ECHO_REPLY: u8 = 129;
/// Neighbor solicitation.
pub const NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbor advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;
/// Router solicitation.
pub const ROUTER_SOLICIT: u8 = 133;
/// Router advertisement.
pub const ROUTER_ADVERT: u8 = 134;

/// Destination unreachable codes.
pub mod unreachable {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Address unreachable (the neighbour did not answer).
    pub const ADDRESS: u8 = 3;
    /// Port unreachable.
    pub const PORT: u8 = 4;
}

/// The largest IPv6 packet an ICMPv6 error may be (RFC 4443 2.4 (c)): the minimum MTU.
pub const MIN_MTU: usize = 1280;

/// Neighbor Discovery option types.
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
const OPT_PREFIX: u8 = 3;
const OPT_MTU: u8 = 5;
/// Prefix information flags: on-link, autonomous address configuration.
const PREFIX_ON_LINK: u8 = 0x80;
const PREFIX_AUTONOMOUS: u8 = 0x40;
/// Lifetimes of an advertised prefix (RFC 4861 6.2.1 defaults): 30 days valid, 7 preferred.
const PREFIX_VALID_S: u32 = 30 * 24 * 3600;
const PREFIX_PREFERRED_S: u32 = 7 * 24 * 3600;
/// NA flags: router, solicited, override.
pub const NA_ROUTER: u8 = 0x80;
/// Solicited.
pub const NA_SOLICITED: u8 = 0x40;
/// Override.
pub const NA_OVERRIDE: u8 = 0x20;

/// Verifies the checksum of the ICMPv6 message `icmp` carried from `src` to `dst`.
pub fn verify(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> bool {
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: NEXT_ICMPV6,
        payload_len: icmp.len(),
        hop_limit: 0,
    };
    checksum::finish(ip.pseudo_sum() + checksum::sum(icmp)) == 0
}

/// An IPv6 packet carrying one ICMPv6 message, checksum filled.
pub fn packet(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    msg_type: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let len = 8 + body.len();
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: NEXT_ICMPV6,
        payload_len: len,
        hop_limit,
    };
    let mut out = vec![0u8; HEADER_LEN + len];
    ip.emit(&mut out);
    let icmp = &mut out[HEADER_LEN..];
    icmp[0] = msg_type;
    icmp[1] = code;
    icmp[4..8].copy_from_slice(&rest);
    icmp[8..].copy_from_slice(body);
    let c = checksum::finish(ip.pseudo_sum() + checksum::sum(icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    out
}

/// A Neighbor Discovery message, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nd {
    /// Who has `target`? From `source_ll` when the sender gave its MAC.
    Solicit {
        /// The address asked for.
        target: Ipv6Addr,
        /// The sender's MAC (absent from duplicate address detection).
        source_ll: Option<EthernetAddress>,
    },
    /// `target` is at `target_ll`.
    Advert {
        /// The address advertised.
        target: Ipv6Addr,
        /// Its MAC.
        target_ll: Option<EthernetAddress>,
        /// R, S, O bits.
        flags: u8,
    },
    /// Any routers here? From `source_ll` when the sender gave its MAC.
    RouterSolicit {
        /// The sender's MAC (absent when it has no address yet).
        source_ll: Option<EthernetAddress>,
    },
}

/// Parses an NS, NA or RS (`icmp` is the ICMPv6 message); `None` for other or malformed
/// messages. The caller checks the hop limit (255) and the checksum.
pub fn parse_nd(icmp: &[u8]) -> Option<Nd> {
    let (&t, &code) = (icmp.first()?, icmp.get(1)?);
    if code != 0 || !matches!(t, NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT | ROUTER_SOLICIT) {
        return None;
    }
    let (target, opts_at) = if t == ROUTER_SOLICIT {
        (Ipv6Addr::UNSPECIFIED, 8)
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(icmp.get(8..24)?);
        (Ipv6Addr::from(o), 24)
    };
    if target.is_multicast() {
        return None;
    }
    let mut ll = (None, None);
    let mut opts = icmp.get(opts_at..)?;
    while opts.len() >= 2 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            return None;
        }
        if len >= 8 {
            let mac = EthernetAddress([opts[2], opts[3], opts[4], opts[5], opts[6], opts[7]]);
            match opts[0] {
                OPT_SOURCE_LL => ll.0 = Some(mac),
                OPT_TARGET_LL => ll.1 = Some(mac),
                _ => {}
            }
        }
        opts = &opts[len..];
    }
    Some(if t == ROUTER_SOLICIT {
        Nd::RouterSolicit { source_ll: ll.0 }
    } else if t == NEIGHBOR_SOLICIT {
        Nd::Solicit {
            target,
            source_ll: ll.0,
        }
    } else {
        Nd::Advert {
            target,
            target_ll: ll.1,
            flags: icmp[4],
        }
    })
}

/// The body of an NS or NA: the target and one link-layer address option.
pub fn nd_body(target: Ipv6Addr, option_source: bool, mac: EthernetAddress) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0..16].copy_from_slice(&target.octets());
    b[16] = if option_source {
        OPT_SOURCE_LL
    } else {
        OPT_TARGET_LL
    };
    b[17] = 1;
    b[18..24].copy_from_slice(&mac.0);
    b
}

/// What a router advertisement says (RFC 4861 4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterAdvert {
    /// The hop limit hosts should use.
    pub hop_limit: u8,
    /// How long hosts may use this router as a default router, in seconds (0: not a default
    /// router, as when it shuts down).
    pub lifetime_s: u16,
    /// The router's MAC on the link (source link-layer address option).
    pub mac: EthernetAddress,
    /// The link's MTU (MTU option).
    pub mtu: u32,
    /// The on-link prefixes; a /64 also offers stateless address configuration (RFC 4862).
    pub prefixes: Vec<(Ipv6Addr, u8)>,
}

impl RouterAdvert {
    /// The 4 type-specific bytes (hop limit, M and O flags clear, router lifetime) and the body
    /// (reachable time and retransmission timer unspecified, then the options), for [`packet`].
    pub fn emit(&self) -> ([u8; 4], Vec<u8>) {
        let [lh, ll] = self.lifetime_s.to_be_bytes();
        let mut b = vec![0u8; 8];
        b.extend_from_slice(&[OPT_SOURCE_LL, 1]);
        b.extend_from_slice(&self.mac.0);
        b.extend_from_slice(&[OPT_MTU, 1, 0, 0]);
        b.extend_from_slice(&self.mtu.to_be_bytes());
        for &(prefix, len) in &self.prefixes {
            let flags = PREFIX_ON_LINK | if len == 64 { PREFIX_AUTONOMOUS } else { 0 };
            b.extend_from_slice(&[OPT_PREFIX, 4, len, flags]);
            b.extend_from_slice(&PREFIX_VALID_S.to_be_bytes());
            b.extend_from_slice(&PREFIX_PREFERRED_S.to_be_bytes());
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&prefix.octets());
        }
        ([self.hop_limit, 0, lh, ll], b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6::Ipv6Packet;

    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0]);

    #[test]
    fn a_solicitation_round_trips_with_a_valid_checksum() {
        let (src, target): (Ipv6Addr, Ipv6Addr) =
            ("fd01::2".parse().unwrap(), "fd01::1".parse().unwrap());
        let dst = crate::wire::ipv6::solicited_node(target);
        let p = packet(
            src,
            dst,
            255,
            NEIGHBOR_SOLICIT,
            0,
            [0; 4],
            &nd_body(target, true, MAC),
        );
        let ip = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert!(verify(src, dst, ip.payload()));
        assert_eq!(
            parse_nd(ip.payload()),
            Some(Nd::Solicit {
                target,
                source_ll: Some(MAC)
            })
        );
        let mut bad = p.clone();
        bad[50] ^= 1;
        assert!(!verify(src, dst, &bad[HEADER_LEN..]));
    }

    /// A neighbour advertisement as Linux answers one (fd01::2 at 02:00:00:00:02:01, solicited,
    /// override) parses to those values; truncated or malformed options do not parse.
    #[test]
    fn an_advertisement_from_linux_parses() {
        let na = packet(
            "fd01::2".parse().unwrap(),
            "fd01::1".parse().unwrap(),
            255,
            NEIGHBOR_ADVERT,
            0,
            [NA_SOLICITED | NA_OVERRIDE, 0, 0, 0],
            &nd_body(
                "fd01::2".parse().unwrap(),
                false,
                EthernetAddress([2, 0, 0, 0, 2, 1]),
            ),
        );
        assert_eq!(
            parse_nd(&na[HEADER_LEN..]),
            Some(Nd::Advert {
                target: "fd01::2".parse().unwrap(),
                target_ll: Some(EthernetAddress([2, 0, 0, 0, 2, 1])),
                flags: NA_SOLICITED | NA_OVERRIDE,
            })
        );
        assert_eq!(
            parse_nd(&na[HEADER_LEN..HEADER_LEN + 20]),
            None,
            "truncated"
        );
        let mut zero_len = na[HEADER_LEN..].to_vec();
        zero_len[25] = 0;
        assert_eq!(
            parse_nd(&zero_len),
            None,
            "an option of length 0 is malformed"
        );
    }

    /// A router solicitation as Linux sends one (from its link-local address, with its MAC)
    /// parses; one from :: without an option too; a router advertisement has every field where
    /// RFC 4861 4.2 and 4.6 put it.
    #[test]
    fn solicitations_parse_and_advertisements_are_laid_out() {
        let host: Ipv6Addr = "fe80::2".parse().unwrap();
        let all_routers: Ipv6Addr = "ff02::2".parse().unwrap();
        let mut opt = [OPT_SOURCE_LL, 1, 0, 0, 0, 0, 0, 0];
        opt[2..].copy_from_slice(&MAC.0);
        let rs = packet(host, all_routers, 255, ROUTER_SOLICIT, 0, [0; 4], &opt);
        assert!(verify(host, all_routers, &rs[HEADER_LEN..]));
        assert_eq!(
            parse_nd(&rs[HEADER_LEN..]),
            Some(Nd::RouterSolicit {
                source_ll: Some(MAC)
            })
        );
        assert_eq!(
            parse_nd(&rs[HEADER_LEN..HEADER_LEN + 8]),
            Some(Nd::RouterSolicit { source_ll: None })
        );
        assert_eq!(parse_nd(&rs[HEADER_LEN..HEADER_LEN + 6]), None, "truncated");

        let ra = RouterAdvert {
            hop_limit: 64,
            lifetime_s: 1800,
            mac: MAC,
            mtu: 1500,
            prefixes: vec![
                ("fd01::".parse().unwrap(), 64),
                ("fd09::".parse().unwrap(), 120),
            ],
        };
        let (rest, body) = ra.emit();
        assert_eq!(rest, [64, 0, 0x07, 0x08]);
        assert_eq!(body.len(), 8 + 8 + 8 + 2 * 32);
        assert_eq!(
            &body[0..8],
            &[0; 8],
            "reachable time, retrans timer: unspecified"
        );
        assert_eq!(
            &body[8..16],
            &[1, 1, 2, 0, 0, 0, 1, 0],
            "source link-layer address"
        );
        assert_eq!(&body[16..24], &[5, 1, 0, 0, 0, 0, 0x05, 0xdc], "MTU 1500");
        let p = &body[24..56];
        assert_eq!(
            &p[0..4],
            &[3, 4, 64, 0xc0],
            "prefix /64, on-link and autonomous"
        );
        assert_eq!(&p[4..8], &2_592_000u32.to_be_bytes());
        assert_eq!(&p[8..12], &604_800u32.to_be_bytes());
        assert_eq!(&p[16..32], &"fd01::".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(&body[56..60], &[3, 4, 120, 0x80], "not a /64: on-link only");
    }
}
