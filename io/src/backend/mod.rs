//! The backends. Every backend provides, per queue, a type implementing
//! [`RxQueue`](crate::RxQueue) and one implementing [`TxQueue`](crate::TxQueue), and a constructor
//! that returns a [`Port`](crate::Port) of N of each. Each must:
//!
//! - never allocate, lock or panic in `rx_burst`/`tx_burst`, and make at most one syscall per
//!   burst;
//! - count every frame it drops, by [`DropReason`](crate::DropReason): a zero-length frame and a
//!   frame above the MTU on tx, a full ring, an empty pool on rx;
//! - set `meta.hash` on received packets (its own RSS hash or [`crate::flow::hash`]);
//! - name the interface or file in every setup error.
//!
//! - [`mem`]: in-process cables on SPSC rings, always built, so everything tests without a NIC.
//! - [`af_packet`]: Linux packet sockets with TPACKET_V3 mmap rings and fanout.
//! - [`af_xdp`]: XDP sockets (UMEM, fill/completion/rx/tx rings) fed by an XDP redirect program.
//! - [`pcap`]: a pcap file as an rx port, a pcap file written by a tx port.

pub mod af_packet;
pub mod af_xdp;
pub mod mem;
pub mod pcap;
mod sys;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{Error, Port};

/// A port as named on a command line or in a configuration file:
///
/// - `af_packet:IFNAME[,queues=N][,kick=N][,promisc][@NETNS]`: an interface, optionally inside a named
///   network namespace (`ip netns add`);
/// - `af_xdp:IFNAME[,queues=N][,ring=N][,copy|zerocopy][,generic|native][,host=IPV4]...[@NETNS]`:
///   an interface polled through XDP sockets; each `host=` address (and ARP) stays with the
///   kernel;
/// - `pcap:rx=FILE[,tx=FILE]` or `pcap:tx=FILE`: files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortSpec {
    /// An AF_PACKET port.
    AfPacket {
        /// The interface.
        ifname: String,
        /// The namespace to open it in, if not the current one.
        netns: Option<String>,
        /// Queues and options.
        cfg: af_packet::AfPacketConfig,
    },
    /// An AF_XDP port.
    AfXdp {
        /// The interface.
        ifname: String,
        /// The namespace to open it in, if not the current one.
        netns: Option<String>,
        /// Queues and options.
        cfg: af_xdp::AfXdpConfig,
    },
    /// One end of an in-process mem cable, named for `show ports`. Only the program that made
    /// the cable holds the port ([`mem::cable`]), so [`PortSpec::open`] refuses it.
    Mem {
        /// The cable's name.
        cable: String,
    },
    /// A pcap port.
    Pcap {
        /// File read as the rx queue.
        rx: Option<PathBuf>,
        /// File written by the tx queue.
        tx: Option<PathBuf>,
    },
}

impl PortSpec {
    /// Opens the port.
    #[cold]
    pub fn open(&self) -> Result<Port, Error> {
        use crate::netns::within;
        match self {
            PortSpec::AfPacket { ifname, netns, cfg } => {
                within(netns.as_deref(), || af_packet::open(ifname, *cfg))?
            }
            PortSpec::AfXdp { ifname, netns, cfg } => {
                within(netns.as_deref(), || af_xdp::open(ifname, cfg.clone()))?
            }
            PortSpec::Pcap { rx, tx } => pcap::open(rx.as_deref(), tx.as_deref(), 65535),
            PortSpec::Mem { cable } => Err(Error::Config(format!(
                "mem:{cable}: a mem port is one end of a cable inside one process; the program \
                 that made the cable runs it (`brick demo`)"
            ))),
        }
    }
}

impl FromStr for PortSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("port {s:?}: {why}"));
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| bad("expected KIND:ARGS, e.g. af_packet:eth0"))?;
        match kind {
            "af_packet" => {
                let (ifname, opts, netns) = iface_args(rest, &bad)?;
                let mut cfg = af_packet::AfPacketConfig::default();
                for opt in opts {
                    match opt.split_once('=') {
                        Some(("queues", n)) => cfg.queues = number(n, &bad)?,
                        Some(("kick", n)) => cfg.tx_kick = number(n, &bad)?,
                        None if opt == "promisc" => cfg.promisc = true,
                        _ => {
                            return Err(bad(&format!(
                                "unknown option {opt:?} (queues=N, kick=N, promisc)"
                            )));
                        }
                    }
                }
                Ok(PortSpec::AfPacket { ifname, netns, cfg })
            }
            "af_xdp" => {
                let (ifname, opts, netns) = iface_args(rest, &bad)?;
                let mut cfg = af_xdp::AfXdpConfig::default();
                let (mut copy, mut attach) = (None, None);
                let once = |seen: &mut Option<String>, opt: &str| match seen.replace(opt.into()) {
                    Some(other) if other != opt => {
                        Err(bad(&format!("{other} and {opt} exclude each other")))
                    }
                    _ => Ok(()),
                };
                for opt in opts {
                    match opt.split_once('=') {
                        Some(("queues", n)) => cfg.queues = number(n, &bad)?,
                        Some(("ring", n)) => cfg.ring_size = number(n, &bad)?,
                        Some(("host", a)) => cfg
                            .host_ipv4
                            .push(a.parse().map_err(|_| bad("host= wants an IPv4 address"))?),
                        None if opt == "copy" => {
                            once(&mut copy, opt)?;
                            cfg.zero_copy = af_xdp::ZeroCopy::Never;
                        }
                        None if opt == "zerocopy" => {
                            once(&mut copy, opt)?;
                            cfg.zero_copy = af_xdp::ZeroCopy::Require;
                        }
                        None if opt == "generic" => {
                            once(&mut attach, opt)?;
                            cfg.attach = af_xdp::XdpAttach::Generic;
                        }
                        None if opt == "native" => {
                            once(&mut attach, opt)?;
                            cfg.attach = af_xdp::XdpAttach::Native;
                        }
                        _ => {
                            return Err(bad(&format!(
                                "unknown option {opt:?} (queues=N, ring=N, copy, zerocopy, \
                                 generic, native, host=IPV4)"
                            )));
                        }
                    }
                }
                if !cfg.ring_size.is_power_of_two() || !(64..=16384).contains(&cfg.ring_size) {
                    return Err(bad(&format!(
                        "ring={}: a power of two in 64..=16384",
                        cfg.ring_size
                    )));
                }
                Ok(PortSpec::AfXdp { ifname, netns, cfg })
            }
            "pcap" => {
                let (mut rx, mut tx) = (None, None);
                for opt in rest.split(',') {
                    match opt.split_once('=') {
                        Some(("rx", f)) if !f.is_empty() => rx = Some(PathBuf::from(f)),
                        Some(("tx", f)) if !f.is_empty() => tx = Some(PathBuf::from(f)),
                        _ => {
                            return Err(bad(&format!("unknown option {opt:?} (rx=FILE, tx=FILE)")));
                        }
                    }
                }
                if rx.is_none() && tx.is_none() {
                    return Err(bad("needs rx=FILE or tx=FILE"));
                }
                Ok(PortSpec::Pcap { rx, tx })
            }
            "mem" if !rest.is_empty() => Ok(PortSpec::Mem {
                cable: rest.to_string(),
            }),
            "mem" => Err(bad("needs a cable name, e.g. mem:r0")),
            other => Err(bad(&format!(
                "unknown port kind {other:?} (af_packet, af_xdp, pcap, mem)"
            ))),
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::AfPacket { ifname, netns, cfg } => {
                write!(f, "af_packet:{ifname}")?;
                if cfg.queues != 1 {
                    write!(f, ",queues={}", cfg.queues)?;
                }
                if cfg.tx_kick != 1 {
                    write!(f, ",kick={}", cfg.tx_kick)?;
                }
                if cfg.promisc {
                    f.write_str(",promisc")?;
                }
                write_netns(f, netns)
            }
            PortSpec::AfXdp { ifname, netns, cfg } => {
                let d = af_xdp::AfXdpConfig::default();
                write!(f, "af_xdp:{ifname}")?;
                if cfg.queues != d.queues {
                    write!(f, ",queues={}", cfg.queues)?;
                }
                if cfg.ring_size != d.ring_size {
                    write!(f, ",ring={}", cfg.ring_size)?;
                }
                match cfg.zero_copy {
                    af_xdp::ZeroCopy::Auto => {}
                    af_xdp::ZeroCopy::Never => f.write_str(",copy")?,
                    af_xdp::ZeroCopy::Require => f.write_str(",zerocopy")?,
                }
                match cfg.attach {
                    af_xdp::XdpAttach::Auto => {}
                    af_xdp::XdpAttach::Generic => f.write_str(",generic")?,
                    af_xdp::XdpAttach::Native => f.write_str(",native")?,
                }
                for a in &cfg.host_ipv4 {
                    write!(f, ",host={a}")?;
                }
                write_netns(f, netns)
            }
            PortSpec::Pcap { rx, tx } => {
                f.write_str("pcap:")?;
                let parts: Vec<String> = [("rx", rx), ("tx", tx)]
                    .into_iter()
                    .filter_map(|(k, v)| v.as_ref().map(|p| format!("{k}={}", p.display())))
                    .collect();
                f.write_str(&parts.join(","))
            }
            PortSpec::Mem { cable } => write!(f, "mem:{cable}"),
        }
    }
}

/// Splits `IFNAME[,OPT]...[@NETNS]` into the interface, its options and the namespace.
fn iface_args<'a>(
    rest: &'a str,
    bad: &dyn Fn(&str) -> Error,
) -> Result<(String, std::str::Split<'a, char>, Option<String>), Error> {
    let (args, netns) = match rest.rsplit_once('@') {
        Some((a, ns)) if !ns.is_empty() => (a, Some(ns.to_string())),
        Some(_) => return Err(bad("empty namespace after @")),
        None => (rest, None),
    };
    let mut parts = args.split(',');
    let ifname = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("no interface name"))?;
    // IFNAMSIZ, with its terminating zero.
    if ifname.len() > 15 || ifname.contains(['/', ' ']) {
        return Err(bad(&format!(
            "{ifname:?} cannot be an interface name (at most 15 characters, no '/' or space)"
        )));
    }
    Ok((ifname.to_string(), parts, netns))
}

/// Parses the `N` of `queues=N` and the like.
fn number<T: FromStr>(n: &str, bad: &dyn Fn(&str) -> Error) -> Result<T, Error> {
    n.parse()
        .map_err(|_| bad(&format!("{n:?} is not a number")))
}

/// Writes `@NETNS` if there is one.
fn write_netns(f: &mut fmt::Formatter<'_>, netns: &Option<String>) -> fmt::Result {
    match netns {
        Some(ns) => write!(f, "@{ns}"),
        None => Ok(()),
    }
}

/// Shared tx-side check: a frame that no wire carries is dropped and counted here.
#[inline]
pub(crate) fn tx_reject(len: usize, max_frame: usize) -> Option<crate::DropReason> {
    if len == 0 {
        Some(crate::DropReason::Empty)
    } else if len > max_frame {
        Some(crate::DropReason::Oversize)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for s in [
            "af_packet:eth0",
            "af_packet:veth1,queues=2,kick=64,promisc@lab",
            "af_xdp:eth0",
            "af_xdp:v0,queues=2,ring=4096,copy,generic,host=10.0.0.1,host=10.0.0.2@rack1",
            "af_xdp:eth1,zerocopy,native",
            "pcap:rx=a.pcap,tx=b.pcap",
            "pcap:tx=out.pcap",
            "mem:gen-r0",
        ] {
            assert_eq!(s.parse::<PortSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn bad_specs_say_why() {
        for (s, why) in [
            ("eth0", "expected KIND:ARGS"),
            ("af_xdq:eth0", "unknown port kind"),
            ("af_packet:", "no interface name"),
            ("af_packet:eth0,queues=x", "not a number"),
            ("af_xdp:eth0,host=10.0.0", "IPv4 address"),
            ("af_xdp:eth0,turbo", "unknown option"),
            ("af_xdp:eth0,ring=1000", "a power of two"),
            ("af_xdp:eth0,ring=32", "a power of two"),
            (
                "af_xdp:eth0,copy,zerocopy",
                "copy and zerocopy exclude each other",
            ),
            (
                "af_xdp:eth0,native,generic",
                "native and generic exclude each other",
            ),
            (
                "af_packet:an-interface-name-too-long",
                "at most 15 characters",
            ),
            ("af_xdp:@ns", "no interface name"),
            ("af_packet:eth0,fast", "unknown option"),
            ("af_packet:eth0@", "empty namespace"),
            ("mem:", "needs a cable name"),
            ("pcap:", "unknown option"),
            ("pcap:mode=1", "unknown option"),
        ] {
            let e = s.parse::<PortSpec>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(s), "{s}: {e}");
        }
    }

    #[test]
    fn a_mem_port_cannot_be_opened_alone() {
        let e = "mem:r0".parse::<PortSpec>().unwrap().open().unwrap_err();
        assert!(e.to_string().contains("one end of a cable"), "{e}");
    }

    #[test]
    fn missing_namespace_is_named() {
        let spec: PortSpec = "af_packet:eth0@brick-no-such-ns".parse().unwrap();
        let e = spec.open().unwrap_err().to_string();
        assert!(e.contains("brick-no-such-ns"), "{e}");
    }
}
