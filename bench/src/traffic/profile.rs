//! Traffic profiles in TOML: the streams to generate, the rate and how long.
//!
//! ```toml
//! rate = "1Mpps"        # all streams together: "500kpps", "10Gbps" (on the wire), or pps
//! duration = 10         # seconds; or `count = N` packets per stream
//!
//! [[stream]]
//! name = "v4-udp"
//! src_mac = "02:00:00:00:00:01"
//! dst_mac = "02:00:00:00:00:02"
//! src_ip = "198.18.0.1-198.18.0.100"   # an address, a range a-b, or a prefix a/len
//! dst_ip = "198.19.0.1"
//! protocol = "udp"                      # or "tcp"
//! src_port = "1024-65535"               # a port or a range
//! dst_port = 9
//! size = 64                             # bytes with FCS: fixed, "64-1518", or "imix"
//! random = false                        # walk ranges in order, or draw at random
//! weight = 1                            # share of the rate
//! ttl = 64
//! ```
//!
//! Sizes count the frame with its 4-byte FCS, as RFC 2544 does: a 64-byte frame is 60 bytes handed
//! to the port. Bit rates count the frame plus 20 bytes of preamble and inter-frame gap, so
//! "10Gbps" of 64-byte frames is 14.88 Mpps. IMIX is 64, 570 and 1518 bytes in the ratio 7:4:1.
//! Every error names the file, the line and the reason.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::Error;

/// Bytes of preamble, start delimiter and inter-frame gap that a frame occupies on the wire.
pub const WIRE_OVERHEAD: usize = 20;
/// The frame check sequence counted in sizes but not handed to ports.
pub const FCS: usize = 4;

/// A whole profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Rate of all streams together (unpaced when absent).
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Seconds to run.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Packets per stream to send.
    #[serde(default)]
    pub count: Option<u64>,
    /// The streams.
    #[serde(rename = "stream", default)]
    pub streams: Vec<StreamSpec>,
}

/// One stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Name in reports.
    pub name: String,
    /// Source MAC.
    #[serde(default = "default_src_mac")]
    pub src_mac: Mac,
    /// Destination MAC.
    #[serde(default = "default_dst_mac")]
    pub dst_mac: Mac,
    /// Source addresses.
    pub src_ip: IpRange,
    /// Destination addresses.
    pub dst_ip: IpRange,
    /// "udp" or "tcp".
    #[serde(default)]
    pub protocol: Protocol,
    /// Source ports.
    #[serde(default = "default_sport")]
    pub src_port: PortRange,
    /// Destination ports.
    #[serde(default = "default_dport")]
    pub dst_port: PortRange,
    /// Frame sizes (with FCS).
    #[serde(default)]
    pub size: Size,
    /// Draw from ranges at random instead of walking them.
    #[serde(default)]
    pub random: bool,
    /// Share of the rate.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// IPv4 TTL / IPv6 hop limit.
    #[serde(default = "default_ttl")]
    pub ttl: u8,
}

fn default_src_mac() -> Mac {
    Mac([0x02, 0, 0, 0, 0, 0x01])
}
fn default_dst_mac() -> Mac {
    Mac([0x02, 0, 0, 0, 0, 0x02])
}
fn default_sport() -> PortRange {
    PortRange(1024, 1024)
}
fn default_dport() -> PortRange {
    PortRange(9, 9)
}
fn default_weight() -> u32 {
    1
}
fn default_ttl() -> u8 {
    64
}

impl Profile {
    /// Reads and checks a profile file.
    pub fn load(path: &Path) -> Result<Profile, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Io(brick_io::Error::Os {
                what: format!("read {}", path.display()),
                source: e,
            })
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses and checks a profile; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Profile, Error> {
        let at = |offset: Option<usize>, reason: String| Error::Profile {
            file: file.to_string(),
            line: offset.map_or(0, |o| text[..o.min(text.len())].matches('\n').count() + 1),
            reason,
        };
        let p: Profile = toml::from_str(text)
            .map_err(|e| at(e.span().map(|s| s.start), e.message().to_string()))?;
        let line_of = |name: &str| {
            text.find(&format!("\"{name}\""))
                .or_else(|| text.find(name))
        };
        if p.streams.is_empty() {
            return Err(at(None, "no [[stream]] defined".into()));
        }
        if p.duration.is_some() && p.count.is_some() {
            return Err(at(
                text.find("count"),
                "give duration or count, not both".into(),
            ));
        }
        if let Some(d) = p.duration
            && !(d > 0.0 && d.is_finite())
        {
            return Err(at(
                text.find("duration"),
                format!("duration {d} must be a positive number of seconds"),
            ));
        }
        for s in &p.streams {
            let err =
                |reason: String| at(line_of(&s.name), format!("stream {:?}: {reason}", s.name));
            if s.src_ip.is_v6() != s.dst_ip.is_v6() {
                return Err(err("src_ip and dst_ip are of different families".into()));
            }
            let min = min_size(s.src_ip.is_v6(), s.protocol);
            let (lo, hi) = s.size.bounds();
            if lo < min {
                return Err(err(format!(
                    "size {lo} is below the {min} bytes a {} frame with the test signature needs",
                    s.family()
                )));
            }
            if hi > 9022 {
                return Err(err(format!(
                    "size {hi} is above 9022 (jumbo frame with FCS)"
                )));
            }
            if s.weight == 0 {
                return Err(err("weight must be at least 1".into()));
            }
        }
        Ok(p)
    }
}

impl StreamSpec {
    fn family(&self) -> &'static str {
        match (self.src_ip.is_v6(), self.protocol) {
            (false, Protocol::Udp) => "IPv4/UDP",
            (false, Protocol::Tcp) => "IPv4/TCP",
            (true, Protocol::Udp) => "IPv6/UDP",
            (true, Protocol::Tcp) => "IPv6/TCP",
        }
    }
}

/// Smallest frame (with FCS) that carries the headers and the 16-byte test signature.
pub fn min_size(v6: bool, proto: Protocol) -> usize {
    14 + if v6 { 40 } else { 20 } + proto.header_len() + super::stream::SIGNATURE_LEN + FCS
}

// ===== value types =====

/// A MAC address, "02:00:00:00:00:01".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

/// An inclusive range of addresses of one family, as integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpRange {
    /// IPv4 addresses.
    V4(u32, u32),
    /// IPv6 addresses.
    V6(u128, u128),
}

impl IpRange {
    /// True for IPv6.
    pub fn is_v6(&self) -> bool {
        matches!(self, IpRange::V6(..))
    }

    /// Number of addresses (saturating).
    pub fn span(&self) -> u64 {
        match *self {
            IpRange::V4(a, b) => u64::from(b - a) + 1,
            IpRange::V6(a, b) => u64::try_from(b - a).map_or(u64::MAX, |d| d.saturating_add(1)),
        }
    }
}

/// L4 protocol of a stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// UDP (checksum 0 over IPv4, computed over IPv6).
    #[default]
    Udp,
    /// TCP segments with ACK set (a flow of data, no handshake).
    Tcp,
}

impl Protocol {
    /// Header length.
    pub fn header_len(self) -> usize {
        match self {
            Protocol::Udp => 8,
            Protocol::Tcp => 20,
        }
    }
}

/// An inclusive port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange(pub u16, pub u16);

impl PortRange {
    /// Number of ports.
    pub fn span(&self) -> u64 {
        u64::from(self.1 - self.0) + 1
    }
}

/// Frame sizes of a stream, with FCS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Every frame this size.
    Fixed(usize),
    /// Uniformly drawn from an inclusive range.
    Range(usize, usize),
    /// 64, 570 and 1518 bytes, 7:4:1.
    Imix,
}

impl Default for Size {
    fn default() -> Self {
        Size::Fixed(64)
    }
}

impl Size {
    /// Smallest and largest size.
    pub fn bounds(&self) -> (usize, usize) {
        match *self {
            Size::Fixed(n) => (n, n),
            Size::Range(a, b) => (a, b),
            Size::Imix => (64, 1518),
        }
    }

    /// Mean size, for converting a bit rate into packets.
    pub fn mean(&self) -> f64 {
        match *self {
            Size::Fixed(n) => n as f64,
            Size::Range(a, b) => (a + b) as f64 / 2.0,
            Size::Imix => (7.0 * 64.0 + 4.0 * 570.0 + 1518.0) / 12.0,
        }
    }
}

/// A rate: packets per second, or bits per second on the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Packets per second.
    Pps(f64),
    /// Bits per second, frame + FCS + 20 bytes of preamble and gap.
    Bps(f64),
}

impl Rate {
    /// Packets per second for frames of `mean_size` bytes (with FCS).
    pub fn pps(&self, mean_size: f64) -> f64 {
        match *self {
            Rate::Pps(p) => p,
            Rate::Bps(b) => b / ((mean_size + WIRE_OVERHEAD as f64) * 8.0),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rate::Pps(p) => write!(f, "{:.3} Mpps", p / 1e6),
            Rate::Bps(b) => write!(f, "{:.3} Gbit/s", b / 1e9),
        }
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address"))
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some((a, len)) = s.split_once('/') {
            let len: u32 = len
                .parse()
                .map_err(|_| format!("bad prefix length in {s:?}"))?;
            return match parse_ip(a)? {
                IpAddr::V4(a) if len <= 32 => {
                    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                    let a = u32::from(a) & mask;
                    Ok(IpRange::V4(a, a | !mask))
                }
                IpAddr::V6(a) if len <= 128 => {
                    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                    let a = u128::from(a) & mask;
                    Ok(IpRange::V6(a, a | !mask))
                }
                _ => Err(format!("prefix length {len} too long in {s:?}")),
            };
        }
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        match (parse_ip(a)?, parse_ip(b)?) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ok(IpRange::V4(a.into(), b.into())),
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ok(IpRange::V6(a.into(), b.into())),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                Err(format!("range {s:?} ends before it starts"))
            }
            _ => Err(format!("range {s:?} mixes IPv4 and IPv6")),
        }
    }
}

impl FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bytes: Vec<u8> = s
            .split(':')
            .map(|x| u8::from_str_radix(x, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{s:?} is not a MAC address"))?;
        let arr: [u8; 6] = bytes
            .try_into()
            .map_err(|_| format!("{s:?} is not a MAC address"))?;
        Ok(Mac(arr))
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let (num, unit_pps, scale) = [
            ("gpps", true, 1e9),
            ("mpps", true, 1e6),
            ("kpps", true, 1e3),
            ("pps", true, 1.0),
            ("gbps", false, 1e9),
            ("mbps", false, 1e6),
            ("kbps", false, 1e3),
            ("bps", false, 1.0),
        ]
        .iter()
        .find_map(|(suffix, pps, scale)| {
            lower
                .strip_suffix(suffix)
                .map(|n| (n.trim().to_string(), *pps, *scale))
        })
        .ok_or_else(|| {
            format!("rate {s:?}: expected a number with pps, kpps, Mpps, bps, Mbps or Gbps")
        })?;
        let v: f64 = num
            .parse()
            .map_err(|_| format!("rate {s:?}: {num:?} is not a number"))?;
        if !(v > 0.0 && v.is_finite()) {
            return Err(format!("rate {s:?} must be positive"));
        }
        Ok(if unit_pps {
            Rate::Pps(v * scale)
        } else {
            Rate::Bps(v * scale)
        })
    }
}

/// Deserializes from a TOML string through `FromStr`, so a bad value gets its span.
macro_rules! de_from_str {
    ($t:ty, $what:expr) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
    };
}
de_from_str!(IpRange, "address");
de_from_str!(Mac, "MAC");

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(i64),
    Float(f64),
    Str(String),
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let port = |v: i64| {
            u16::try_from(v).map_err(|_| de::Error::custom(format!("port {v} outside 0..=65535")))
        };
        match NumOrStr::deserialize(d)? {
            NumOrStr::Num(n) => Ok(PortRange(port(n)?, port(n)?)),
            NumOrStr::Str(s) => {
                let (a, b) = s.split_once('-').unwrap_or((&s, &s));
                let p = |x: &str| {
                    x.trim().parse::<i64>().map_err(|_| {
                        de::Error::custom(format!("{s:?} is not a port or a range a-b"))
                    })
                };
                let (a, b) = (port(p(a)?)?, port(p(b)?)?);
                if a > b {
                    return Err(de::Error::custom(format!(
                        "port range {s:?} ends before it starts"
                    )));
                }
                Ok(PortRange(a, b))
            }
            NumOrStr::Float(_) => Err(de::Error::custom("a port is a whole number")),
        }
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let size = |v: i64| {
            usize::try_from(v).map_err(|_| de::Error::custom(format!("size {v} is negative")))
        };
        match NumOrStr::deserialize(d)? {
            NumOrStr::Num(n) => Ok(Size::Fixed(size(n)?)),
            NumOrStr::Str(s) if s == "imix" => Ok(Size::Imix),
            NumOrStr::Str(s) => {
                let (a, b) = s.split_once('-').ok_or_else(|| {
                    de::Error::custom(format!("size {s:?}: a number, \"a-b\" or \"imix\""))
                })?;
                let p = |x: &str| {
                    x.trim().parse::<i64>().map_err(|_| {
                        de::Error::custom(format!("size {s:?}: a number, \"a-b\" or \"imix\""))
                    })
                };
                let (a, b) = (size(p(a)?)?, size(p(b)?)?);
                if a > b {
                    return Err(de::Error::custom(format!(
                        "size range {s:?} ends before it starts"
                    )));
                }
                Ok(Size::Range(a, b))
            }
            NumOrStr::Float(_) => Err(de::Error::custom("a size is a whole number of bytes")),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrStr::deserialize(d)? {
            NumOrStr::Num(n) if n > 0 => Ok(Rate::Pps(n as f64)),
            NumOrStr::Float(f) if f > 0.0 && f.is_finite() => Ok(Rate::Pps(f)),
            NumOrStr::Str(s) => s.parse().map_err(de::Error::custom),
            _ => Err(de::Error::custom("a rate must be positive")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
rate = "10Gbps"
duration = 2

[[stream]]
name = "a"
src_ip = "198.18.0.0/30"
dst_ip = "198.19.0.1-198.19.0.4"
src_port = "1000-1003"
dst_port = 9
size = "imix"

[[stream]]
name = "b"
src_ip = "2001:db8::1"
dst_ip = "2001:db8::2"
protocol = "tcp"
size = 128
weight = 3
"#;

    #[test]
    fn shipped_profiles_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            Profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
        assert!(n >= 2);
    }

    #[test]
    fn good_profile() {
        let p = Profile::parse("good.toml", GOOD).unwrap();
        assert_eq!(p.rate, Some(Rate::Bps(10e9)));
        assert!((p.rate.unwrap().pps(64.0) - 14_880_952.38).abs() < 1.0);
        assert_eq!(p.streams.len(), 2);
        let a = &p.streams[0];
        assert_eq!(a.src_ip, IpRange::V4(0xc612_0000, 0xc612_0003));
        assert_eq!(
            (a.src_ip.span(), a.dst_ip.span(), a.src_port.span()),
            (4, 4, 4)
        );
        assert_eq!(
            (a.size, a.protocol, a.src_mac),
            (Size::Imix, Protocol::Udp, Mac([2, 0, 0, 0, 0, 1]))
        );
        assert_eq!(p.streams[1].weight, 3);
        assert!(p.streams[1].src_ip.is_v6());
    }

    #[test]
    fn bad_profiles_name_file_line_and_reason() {
        for (text, line, reason) in [
            (
                "rate = \"fast\"\n[[stream]]\nname='a'\nsrc_ip='1.1.1.1'\ndst_ip='2.2.2.2'\n",
                1,
                "expected a number with pps",
            ),
            (
                "[[stream]]\nname='a'\nsrc_ip='1.1.1.300'\ndst_ip='2.2.2.2'\n",
                3,
                "not an IP address",
            ),
            (
                "[[stream]]\nname='a'\nsrc_ip='1.1.1.1'\ndst_ip='2.2.2.2'\nsrc_port=70000\n",
                5,
                "outside 0..=65535",
            ),
            (
                "[[stream]]\nname='a'\nsrc_ip='1.1.1.1'\ndst_ip='2.2.2.2'\ncolour='red'\n",
                5,
                "unknown field `colour`",
            ),
            (
                "[[stream]]\nname = \"v6\"\nsrc_ip='::1'\ndst_ip='::2'\nsize=64\n",
                2,
                "below the 82 bytes",
            ),
            (
                "[[stream]]\nname = \"mix\"\nsrc_ip='::1'\ndst_ip='2.2.2.2'\n",
                2,
                "different families",
            ),
            (
                "duration = 1\ncount = 5\n[[stream]]\nname='a'\nsrc_ip='1.1.1.1'\ndst_ip='2.2.2.2'\n",
                2,
                "not both",
            ),
            ("rate = 1000\n", 0, "no [[stream]]"),
            (
                "[[stream]]\nname='a'\nsrc_ip='1.1.1.1'\ndst_ip='2.2.2.2'\nsize='70-60'\n",
                5,
                "ends before it starts",
            ),
        ] {
            let e = Profile::parse("p.toml", text).unwrap_err();
            let Error::Profile {
                file,
                line: l,
                reason: r,
            } = &e
            else {
                panic!("{e}")
            };
            assert_eq!((file.as_str(), *l), ("p.toml", line), "{text}: {e}");
            assert!(r.contains(reason), "{text}: {e}");
            assert!(
                e.to_string().starts_with(&format!("p.toml:{line}: ")),
                "{e}"
            );
        }
    }
}
