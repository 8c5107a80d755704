//! The per-core forwarding pipeline for IPv4: a burst in, passes over it, bursts out per port.
//!
//! 1. classify every frame ([`classify`](crate::classify)): forward, punt or drop;
//! 2. look the forwarded destinations up in the FIB in one batch;
//! 3. pick the path (ECMP by the flow hash), find the neighbour's MAC, rewrite: TTL - 1 with the
//!    RFC 1624 checksum update, destination and source MAC;
//! 4. group by output port and send each group as one burst.
//!
//! Nothing here allocates, locks or makes a syscall per packet; every packet ends as a counted
//! verdict. What the data path does not finish goes to the control plane over a [`PuntPath`]
//! when one is given (copied out, rate-limited), and is counted and freed otherwise: frames for
//! the router itself, expiring TTLs, destinations without a route (ICMP unreachable), next hops
//! whose MAC is not known yet (ARP) and packets larger than the output port's MTU
//! (fragmentation, or ICMPv6 packet too big). IPv4 and IPv6 share the passes: one batched lookup
//! per family, one MAC table keyed by either address.

use std::net::IpAddr;
use std::sync::Arc;

use brick_io::{Burst, MAX_BURST, Tx, clock};
use brick_routing::{FibReader, Lpm, NO_ROUTE, NextHop, Poptrie6};

use crate::classify::{Class, Local, classify};
use crate::neighbor::Macs;
use crate::punt::{PuntPath, Punted, RateLimit};
use crate::verdict::{DropReason, Punt};
use crate::wire::ethernet::{EthernetFrame, HEADER_LEN};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;

/// What one pipeline did; one writer (its core), summed by readers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets sent on.
    pub forwarded: u64,
    /// Dropped by the first pass, per [`DropReason`].
    pub drops: [u64; DropReason::ALL.len()],
    /// For the control plane, per [`Punt`] kind (in [`Punt::ALL`] order).
    pub punts: [u64; Punt::ALL.len()],
    /// The output port's tx queue refused them.
    pub tx_dropped: u64,
    /// Punts over the rate limit (control-plane protection), dropped.
    pub punt_limited: u64,
    /// Punts that found the ring to the control plane full, dropped.
    pub punt_ring_full: u64,
}

impl Counters {
    /// Dropped for `why` by the first pass.
    pub fn drop(&self, why: DropReason) -> u64 {
        self.drops[why as usize]
    }

    /// Punted as `kind`.
    pub fn punt(&self, kind: Punt) -> u64 {
        self.punts[kind as usize]
    }

    /// Every counter with its name, for `brick show counters` and metrics.
    pub fn named(&self) -> Vec<(String, u64)> {
        let mut out = vec![("forwarded".to_string(), self.forwarded)];
        out.extend(
            DropReason::ALL
                .iter()
                .map(|&r| (format!("drop_{}", r.as_str()), self.drop(r))),
        );
        out.extend(
            Punt::ALL
                .iter()
                .map(|&k| (format!("punt_{}", k.as_str()), self.punt(k))),
        );
        out.push(("tx_dropped".into(), self.tx_dropped));
        out.push(("punt_limited".into(), self.punt_limited));
        out.push(("punt_ring_full".into(), self.punt_ring_full));
        out
    }

    /// Adds `other` to these.
    pub fn add(&mut self, other: &Counters) {
        self.forwarded += other.forwarded;
        for (a, b) in self.drops.iter_mut().zip(other.drops) {
            *a += b;
        }
        for (a, b) in self.punts.iter_mut().zip(other.punts) {
            *a += b;
        }
        self.tx_dropped += other.tx_dropped;
        self.punt_limited += other.punt_limited;
        self.punt_ring_full += other.punt_ring_full;
    }
}

/// Where punted frames go: the ring and a rate limit per kind of punt, or nowhere (counted only).
/// One bucket per kind, as a router polices each class of control traffic apart: a flood of
/// packets waiting for ARP must not starve the ARP replies that would resolve them.
#[derive(Debug)]
struct PuntTo {
    to: Option<(Arc<PuntPath>, [RateLimit; Punt::ALL.len()])>,
    /// The clock, read once per burst and only when something is punted.
    now: u64,
}

impl PuntTo {
    fn punt(&mut self, counters: &mut Counters, port: u16, kind: Punt, frame: &[u8]) {
        counters.punts[kind as usize] += 1;
        let Some((path, limits)) = self.to.as_mut() else {
            return;
        };
        if self.now == 0 {
            self.now = clock::now_ns();
        }
        if !limits[kind as usize].allow(self.now) {
            counters.punt_limited += 1;
        } else if path
            .to_control
            .push(Punted {
                port,
                kind,
                frame: frame.to_vec(),
            })
            .is_err()
        {
            counters.punt_ring_full += 1;
        }
    }
}

/// One core's pipeline over a set of ports (index = port id).
#[derive(Debug)]
pub struct Pipeline<T> {
    fib: FibReader<u32, T>,
    fib6: Option<FibReader<u128, Poptrie6>>,
    ports: Vec<Local>,
    macs: Macs,
    out: Vec<Burst>,
    keys: [u32; MAX_BURST],
    hops: [NextHop; MAX_BURST],
    keys6: [u128; MAX_BURST],
    hops6: [NextHop; MAX_BURST],
    /// Per forwarded packet, in burst order: `Some(i)` is IPv6 key `i`, `None` the next IPv4 key.
    slot6: [Option<u8>; MAX_BURST],
    punt: PuntTo,
    /// What happened so far.
    pub counters: Counters,
}

impl<T: Lpm<u32>> Pipeline<T> {
    /// A pipeline reading `fib`, for ports whose MAC and addresses are `ports`, with the
    /// neighbours' MACs from `macs`. IPv6 is punted as unroutable until [`Pipeline::with_v6`].
    pub fn new(fib: FibReader<u32, T>, ports: Vec<Local>, macs: Macs) -> Self {
        let out = ports.iter().map(|_| Burst::new(MAX_BURST)).collect();
        Pipeline {
            fib,
            fib6: None,
            ports,
            macs,
            out,
            keys: [0; MAX_BURST],
            hops: [NO_ROUTE; MAX_BURST],
            keys6: [0; MAX_BURST],
            hops6: [NO_ROUTE; MAX_BURST],
            slot6: [None; MAX_BURST],
            punt: PuntTo { to: None, now: 0 },
            counters: Counters::default(),
        }
    }

    /// Forwards IPv6 by `fib6`.
    pub fn with_v6(mut self, fib6: FibReader<u128, Poptrie6>) -> Self {
        self.fib6 = Some(fib6);
        self
    }

    /// Hands punted frames to the control plane over `path`, each kind at most as fast as `limit`
    /// allows; without it they are counted and freed.
    pub fn with_punt(mut self, path: Arc<PuntPath>, limit: RateLimit) -> Self {
        self.punt.to = Some((path, [limit; Punt::ALL.len()]));
        self
    }

    /// Forwards a burst received on `port`; `tx[i]` is the tx queue of port `i`. The burst is
    /// empty afterwards.
    pub fn process(&mut self, port: u16, burst: &mut Burst, tx: &mut [Tx]) {
        let Some(local) = self.ports.get(usize::from(port)) else {
            burst.clear();
            return;
        };
        self.punt.now = 0;
        // Pass 1: classify; keep what is forwarded, with its key, in order.
        let (keys, keys6, slot6) = (&mut self.keys, &mut self.keys6, &mut self.slot6);
        let (counters, punt, v6) = (&mut self.counters, &mut self.punt, self.fib6.is_some());
        let (mut n, mut n4, mut n6) = (0, 0, 0);
        burst.retain(|p| match classify(p.data(), local) {
            Class::Forward { dst } => {
                keys[n4] = dst.into();
                slot6[n] = None;
                (n, n4) = (n + 1, n4 + 1);
                true
            }
            Class::Forward6 { dst } if v6 => {
                keys6[n6] = dst.into();
                slot6[n] = Some(n6 as u8);
                (n, n6) = (n + 1, n6 + 1);
                true
            }
            Class::Forward6 { .. } => {
                punt.punt(counters, port, Punt::NoRoute, p.data());
                false
            }
            Class::Drop(why) => {
                counters.drops[why as usize] += 1;
                false
            }
            Class::Punt(kind) => {
                punt.punt(counters, port, kind, p.data());
                false
            }
        });
        // Pass 2: batched lookups against the FIBs and neighbours of the moment.
        let fib = self.fib.load();
        fib.lookup_batch(&self.keys[..n4], &mut self.hops[..n4]);
        let fib6 = self.fib6.as_ref().map(|f| f.load());
        if let Some(f6) = &fib6 {
            f6.lookup_batch(&self.keys6[..n6], &mut self.hops6[..n6]);
        }
        let macs = self.macs.load();
        // Pass 3: path, MTU, neighbour, rewrite, group by port.
        let mut i4 = 0;
        for (i, mut p) in burst.drain().enumerate() {
            // The output port and the neighbour, or a punt.
            let (out_port, next) = match (self.slot6[i], &fib6) {
                (Some(j), Some(f6)) => {
                    let (j, nh) = (usize::from(j), self.hops6[usize::from(j)]);
                    match f6.path(nh, p.meta.hash).filter(|_| nh != NO_ROUTE) {
                        Some(gw) => {
                            let next = if gw.addr == 0 { self.keys6[j] } else { gw.addr };
                            (gw.port, IpAddr::V6(next.into()))
                        }
                        None => (u16::MAX, IpAddr::V6(0.into())),
                    }
                }
                _ => {
                    let (key, nh) = (self.keys[i4], self.hops[i4]);
                    i4 += 1;
                    match fib.path(nh, p.meta.hash).filter(|_| nh != NO_ROUTE) {
                        Some(gw) => {
                            let next = if gw.addr == 0 { key } else { gw.addr };
                            (gw.port, IpAddr::V4(next.into()))
                        }
                        None => (u16::MAX, IpAddr::V4(0.into())),
                    }
                }
            };
            let Some(out) = self.ports.get(usize::from(out_port)) else {
                self.punt
                    .punt(&mut self.counters, port, Punt::NoRoute, p.data());
                continue;
            };
            let frame = p.data_mut();
            let ip = &mut frame[HEADER_LEN..];
            let len = match next {
                IpAddr::V4(_) => usize::from(Ipv4Packet::new_unchecked(&*ip).total_len()),
                IpAddr::V6(_) => Ipv6Packet::new_unchecked(&*ip).total_len(),
            };
            if len > usize::from(out.mtu) {
                self.punt
                    .punt(&mut self.counters, port, Punt::TooBig, frame);
                continue;
            }
            let Some(mac) = macs.get(next) else {
                self.punt
                    .punt(&mut self.counters, port, Punt::Unresolved, frame);
                continue;
            };
            // The first pass checked the header and that the TTL / hop limit is above 1.
            match next {
                IpAddr::V4(_) => Ipv4Packet::new_unchecked(ip).decrement_ttl(),
                IpAddr::V6(_) => Ipv6Packet::new_unchecked(ip).decrement_hop_limit(),
            }
            let mut eth = EthernetFrame::new_unchecked(&mut *frame);
            eth.set_dst_addr(*mac);
            eth.set_src_addr(out.mac);
            let q = &mut self.out[usize::from(out_port)];
            if q.room() == 0 {
                self.counters.tx_dropped += flush(
                    q,
                    tx.get_mut(usize::from(out_port)),
                    &mut self.counters.forwarded,
                );
            }
            let _ = q.push(p);
        }
        // Pass 4: one tx burst per port that has packets.
        for (q, out) in self.out.iter_mut().enumerate() {
            if !out.is_empty() {
                self.counters.tx_dropped += flush(out, tx.get_mut(q), &mut self.counters.forwarded);
            }
        }
    }
}

/// Sends `out` on `tx`; returns how many were refused (all of them without a tx queue).
fn flush(out: &mut Burst, tx: Option<&mut Tx>, forwarded: &mut u64) -> u64 {
    let n = out.len() as u64;
    let sent = match tx {
        Some(tx) => tx.tx_burst(out) as u64,
        None => {
            out.clear();
            0
        }
    };
    *forwarded += sent;
    n - sent
}

#[cfg(test)]
mod tests {
    use brick_io::backend::mem::{CableConfig, cable};
    use brick_io::{Pool, PoolConfig};
    use brick_routing::{Fib, Gateway, Poptrie4, Prefix};

    use std::net::Ipv4Addr;

    use super::*;
    use crate::neighbor::MacTable;
    use crate::wire::checksum;
    use crate::wire::ethernet::EthernetAddress;

    const R0: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0]);
    const R1: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 1]);
    const NB: EthernetAddress = EthernetAddress([2, 0, 0, 0, 2, 7]);
    const HOST: EthernetAddress = EthernetAddress([2, 0, 0, 0, 2, 9]);

    fn frame(dst: [u8; 4], ttl: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[0..6].copy_from_slice(&R0.0);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&46u16.to_be_bytes());
        f[22] = ttl;
        f[23] = 17;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&dst);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// A valid packet of `len` bytes of IPv4 to `dst`.
    fn big(dst: [u8; 4], len: u16) -> Vec<u8> {
        let mut f = frame(dst, 64);
        f.resize(HEADER_LEN + usize::from(len), 0);
        f[16..18].copy_from_slice(&len.to_be_bytes());
        f[24..26].fill(0);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// Two ports; 10.0.0.0/8 via 198.19.0.7 on port 1 (MTU 1000); 198.19.0.0/24 connected on port 1.
    fn pipeline() -> Pipeline<Poptrie4> {
        let routes = [
            (Prefix::new(0x0a00_0000, 8).unwrap(), 1),
            (
                Prefix::new(u32::from(Ipv4Addr::new(198, 19, 0, 0)), 24).unwrap(),
                2,
            ),
        ];
        let lpm = Poptrie4::from_routes(&routes).unwrap();
        let groups = vec![
            vec![],
            vec![Gateway {
                port: 1,
                addr: u32::from(Ipv4Addr::new(198, 19, 0, 7)),
            }],
            vec![Gateway { port: 1, addr: 0 }],
        ];
        let (_, reader) = Fib::new(lpm, groups).publish();
        let ports = vec![
            Local::new(R0, vec![Ipv4Addr::new(198, 18, 0, 254)]),
            Local {
                mtu: 1000,
                ..Local::new(R1, vec![Ipv4Addr::new(198, 19, 0, 254)])
            },
        ];
        let neighbors = Macs::new(MacTable::from_iter([
            (Ipv4Addr::new(198, 19, 0, 7).into(), NB),
            (Ipv4Addr::new(198, 19, 0, 9).into(), HOST),
        ]));
        Pipeline::new(reader, ports, neighbors)
    }

    #[test]
    fn forwards_rewrites_and_counts_every_verdict() {
        let mut pl = pipeline();
        let (p0, _host0) = cable("r0", "h0", CableConfig::default()).unwrap();
        let (p1, host1) = cable("r1", "h1", CableConfig::default()).unwrap();
        let (_, tx0) = p0.split();
        let (_, tx1) = p1.split();
        let mut tx: Vec<Tx> = tx0.into_iter().chain(tx1).collect();
        let (mut h1, _) = host1.split();
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut burst = Burst::new(32);
        let via_gateway = frame([10, 1, 2, 3], 64);
        let connected = frame([198, 19, 0, 9], 2);
        let mut bad = frame([10, 1, 2, 3], 64);
        bad[25] ^= 1;
        let inputs = [
            via_gateway.clone(),
            connected.clone(),
            bad,
            frame([10, 1, 2, 3], 1),
            frame([8, 8, 8, 8], 64),
            frame([198, 19, 0, 8], 64),
            frame([198, 18, 0, 254], 64),
            big([10, 1, 2, 3], 1200),
        ];
        for f in &inputs {
            burst.push(pool.alloc_from(f).unwrap()).unwrap();
        }
        pl.process(0, &mut burst, &mut tx);
        assert!(burst.is_empty());
        let c = pl.counters;
        assert_eq!(c.forwarded, 2);
        assert_eq!(c.drop(DropReason::BadChecksum), 1);
        assert_eq!(c.punt(Punt::TtlExceeded), 1);
        assert_eq!(c.punt(Punt::Local), 1);
        assert_eq!(c.punt(Punt::NoRoute), 1);
        assert_eq!(c.punt(Punt::Unresolved), 1);
        assert_eq!(c.punt(Punt::TooBig), 1);
        assert_eq!(c.tx_dropped, 0);

        let mut got = Burst::new(32);
        h1[0].rx_burst(&pool, &mut got);
        let out: Vec<Vec<u8>> = got.drain().map(|p| p.data().to_vec()).collect();
        assert_eq!(out.len(), 2);
        for (sent, (recv, (mac, ttl))) in [via_gateway, connected]
            .iter()
            .zip(out.iter().zip([(NB, 63), (HOST, 1)]))
        {
            assert_eq!(&recv[0..6], &mac.0, "next hop's MAC");
            assert_eq!(&recv[6..12], &R1.0, "output port's MAC");
            assert_eq!(recv[22], ttl);
            assert_eq!(
                checksum::checksum(&recv[14..34]),
                0,
                "header checksum still valid"
            );
            assert_eq!(&recv[26..], &sent[26..], "addresses and payload untouched");
        }
    }

    /// Input: 41 pings to the router, then a packet whose TTL expires here, through a pipeline
    /// that punts at most 8 of a kind at once to a control plane. Output: the control plane
    /// answers 8 pings and the time exceeded (from port 0's address), which the pings' flood did
    /// not starve; the excess pings are counted as rate-limited, not queued.
    #[test]
    fn punts_reach_the_control_plane_which_answers_within_the_rate_limit() {
        use crate::config::IfAddr;
        use crate::control::{ControlPlane, ControlPort, Limits};
        use crate::wire::icmpv4::{Icmpv4Packet, Message};

        let path = Arc::new(PuntPath::new(64));
        let mut pl = pipeline().with_punt(Arc::clone(&path), RateLimit::new(1, 8));
        let ports = pl
            .ports
            .iter()
            .zip(["198.18.0.254/24", "198.19.0.254/24"])
            .map(|(l, a)| ControlPort {
                local: l.clone(),
                own: vec![a.parse::<IfAddr>().unwrap()],
                own6: Vec::new(),
            })
            .collect();
        let mut control =
            ControlPlane::new(ports, pl.fib.clone(), pl.macs.clone(), Limits::default());
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut ping = frame([198, 18, 0, 254], 64);
        ping[23] = 1;
        ping[34..42].copy_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 1]);
        let c = checksum::checksum(&ping[34..]);
        ping[36..38].copy_from_slice(&c.to_be_bytes());
        let c = {
            ping[24..26].fill(0);
            checksum::checksum(&ping[14..34])
        };
        ping[24..26].copy_from_slice(&c.to_be_bytes());
        let mut burst = Burst::new(64);
        for _ in 0..41 {
            burst.push(pool.alloc_from(&ping).unwrap()).unwrap();
        }
        burst
            .push(pool.alloc_from(&frame([10, 1, 2, 3], 1)).unwrap())
            .unwrap();
        pl.process(0, &mut burst, &mut []);
        assert_eq!(pl.counters.punt(Punt::Local), 41);
        assert_eq!(pl.counters.punt(Punt::TtlExceeded), 1);
        assert_eq!(path.to_control.len(), 9, "the burst of each kind's limit");
        assert_eq!(pl.counters.punt_limited, 33);

        let mut replies = Vec::new();
        while let Some(p) = path.to_control.pop() {
            replies.extend(control.handle(&p, 0));
        }
        assert_eq!(replies.len(), 9);
        let kinds: Vec<(u16, Message)> = replies
            .iter()
            .map(|(port, f)| {
                (
                    *port,
                    Icmpv4Packet::new_checked(&f[34..]).unwrap().msg_type(),
                )
            })
            .collect();
        assert!(kinds[..8].iter().all(|k| *k == (0, Message::EchoReply)));
        assert_eq!(kinds[8], (0, Message::TimeExceeded));
        let te = &replies[8].1;
        assert_eq!(
            &te[26..30],
            &[198, 18, 0, 254],
            "sent from the port's address"
        );
        assert_eq!(&te[0..6], &[2, 0, 0, 0, 0, 1], "back to the sender");
    }
}
