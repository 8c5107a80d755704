//! In-process cables: two ports joined as if by a wire, for the embedded cluster, the demo and
//! tests that need no privileges.
//!
//! A cable with N queues per side has, in each direction, one SPSC [`ring`](crate::ring) per
//! (tx queue, rx queue) pair, so every ring has exactly one producer thread and one consumer
//! thread. A tx queue steers each frame to an rx queue of the far end by [`flow::hash`] of its
//! 5-tuple, like a NIC's RSS: one flow always lands on one queue, in order. A cable of one queue
//! has nothing to steer, so there the rx queue computes the hash instead, as a NIC computes its
//! RSS hash on receive: every received packet carries it either way, and the sending core, which
//! also builds or forwards the frames, is spared it (1.38x on `brick bench mem`,
//! docs/benchmarks.md). Frames are copied onto the wire and off it into the receiver's pool, so
//! the two ends share no buffers.

use std::sync::Arc;

use super::tx_reject;
use crate::burst::Burst;
use crate::error::Error;
use crate::flow;
use crate::poll::Doorbell;
use crate::pool::Pool;
use crate::port::{Port, RxQueue, TxQueue, Wake};
use crate::ring::{self, Consumer, Producer};
use crate::stats::{DropReason, QueueStats};

/// Largest queue count of a cable (the tx side tracks touched rings in a 64-bit mask).
pub const MAX_QUEUES: usize = 64;

/// Shape of a cable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CableConfig {
    /// Rx and tx queues on each end.
    pub queues: usize,
    /// Slots of each ring.
    pub slots: usize,
    /// Largest frame the cable carries (Ethernet header included, FCS excluded).
    pub max_frame: usize,
}

impl Default for CableConfig {
    fn default() -> Self {
        Self {
            queues: 1,
            slots: 1024,
            max_frame: 1518,
        }
    }
}

/// Joins two new ports, named `a` and `b`, with a cable.
#[cold]
pub fn cable(a: &str, b: &str, cfg: CableConfig) -> Result<(Port, Port), Error> {
    if !(1..=MAX_QUEUES).contains(&cfg.queues) {
        return Err(Error::Config(format!(
            "mem cable {a}-{b}: {} queues (want 1..={MAX_QUEUES})",
            cfg.queues
        )));
    }
    let (a_tx, b_rx) = direction(cfg)?;
    let (b_tx, a_rx) = direction(cfg)?;
    Ok((Port::new(a, a_rx, a_tx), Port::new(b, b_rx, b_tx)))
}

type Queues = (Vec<Box<dyn TxQueue>>, Vec<Box<dyn RxQueue>>);

/// The tx queues of one end and the rx queues of the other.
fn direction(cfg: CableConfig) -> Result<Queues, Error> {
    let n = cfg.queues;
    let bells = (0..n)
        .map(|_| Doorbell::new().map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let mut producers: Vec<Vec<Producer>> = (0..n).map(|_| Vec::with_capacity(n)).collect();
    let mut consumers: Vec<Vec<Consumer>> = (0..n).map(|_| Vec::with_capacity(n)).collect();
    for tx in producers.iter_mut() {
        for rx in consumers.iter_mut() {
            let (p, c) = ring::ring(cfg.slots, cfg.max_frame)?;
            tx.push(p);
            rx.push(c);
        }
    }
    let txs = producers
        .into_iter()
        .map(|out| {
            Box::new(MemTx {
                out,
                bells: bells.clone(),
                max_frame: cfg.max_frame,
                stats: Arc::default(),
            }) as Box<dyn TxQueue>
        })
        .collect();
    let rxs = consumers
        .into_iter()
        .zip(bells)
        .map(|(inp, bell)| {
            Box::new(MemRx {
                inp,
                next: 0,
                bell,
                stats: Arc::default(),
            }) as Box<dyn RxQueue>
        })
        .collect();
    Ok((txs, rxs))
}

/// Maps a 32-bit hash onto `0..n` without a division.
#[inline]
fn pick(hash: u32, n: usize) -> usize {
    ((u64::from(hash) * n as u64) >> 32) as usize
}

// ===== impl MemTx =====

#[derive(Debug)]
struct MemTx {
    /// One ring per rx queue of the far end.
    out: Vec<Producer>,
    bells: Vec<Arc<Doorbell>>,
    max_frame: usize,
    stats: Arc<QueueStats>,
}

impl TxQueue for MemTx {
    #[inline]
    fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        let (mut sent, mut bytes, mut touched) = (0u64, 0u64, 0u64);
        let mut drops = [0u64; DropReason::ALL.len()];
        let n = self.out.len();
        // With one ring there is nothing to steer: the far end hashes instead (module doc).
        let steer = n > 1;
        for p in burst.as_slice() {
            let data = p.data();
            if let Some(why) = tx_reject(data.len(), self.max_frame) {
                drops[why as usize] += 1;
                continue;
            }
            let (hash, q) = if steer {
                let hash = flow::hash(data);
                (hash, pick(hash, n))
            } else {
                (0, 0)
            };
            if self.out[q].push_padded(hash, data.len(), p.padded()) {
                sent += 1;
                bytes += data.len() as u64;
                touched |= 1 << q;
            } else {
                drops[DropReason::TxFull as usize] += 1;
            }
        }
        burst.clear();
        while touched != 0 {
            let q = touched.trailing_zeros() as usize;
            touched &= touched - 1;
            self.out[q].publish();
            self.bells[q].ring();
        }
        self.stats.add_tx(sent, bytes);
        self.stats.add_drops(&drops);
        sent as usize
    }

    fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

// ===== impl MemRx =====

#[derive(Debug)]
struct MemRx {
    /// One ring per tx queue of the far end, served round-robin.
    inp: Vec<Consumer>,
    next: usize,
    bell: Arc<Doorbell>,
    stats: Arc<QueueStats>,
}

impl RxQueue for MemRx {
    #[inline]
    fn rx_burst(&mut self, pool: &Pool, burst: &mut Burst) -> usize {
        let start = burst.len();
        let (mut bytes, mut no_frame, mut oversize) = (0u64, 0u64, 0u64);
        let n = self.inp.len();
        // One ring in means one tx queue out, which sends frames unhashed (see `MemTx`).
        let hash_here = n == 1;
        for k in 0..n {
            let i = (self.next + k) % n;
            let ring = &mut self.inp[i];
            ring.pop_burst(burst.room(), |hash, frame, padded| {
                match pool.alloc_from_padded(frame.len(), padded) {
                    Some(mut p) => {
                        p.meta.hash = if hash_here { flow::hash(frame) } else { hash };
                        bytes += frame.len() as u64;
                        // Cannot fail: at most `room` frames come.
                        let _ = burst.push(p);
                    }
                    None if frame.len() > pool.max_data() => oversize += 1,
                    None => no_frame += 1,
                }
            });
            ring.release();
            if burst.room() == 0 {
                // Start the next burst at the following ring so no ring can starve the others.
                self.next = (i + 1) % n;
                break;
            }
        }
        let got = burst.len() - start;
        self.stats.add_rx(got as u64, bytes);
        self.stats.add_drop(DropReason::PoolExhausted, no_frame);
        self.stats.add_drop(DropReason::Oversize, oversize);
        got
    }

    fn wake(&self) -> Wake {
        self.bell.fd()
    }

    fn arm(&mut self) {
        self.bell.arm()
    }

    fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::poll::{self, IdlePolicy};
    use crate::pool::PoolConfig;

    fn frame(flow: u16, seq: u32, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[23] = 17;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34..36].copy_from_slice(&flow.to_be_bytes());
        f[42..46].copy_from_slice(&seq.to_be_bytes());
        f
    }

    #[test]
    fn frames_cross_and_bad_ones_are_counted() {
        let (a, b) = cable(
            "a",
            "b",
            CableConfig {
                slots: 4,
                ..Default::default()
            },
        )
        .unwrap();
        let (a_stats, b_stats) = (a.stats(), b.stats());
        let (_, mut atx) = a.split();
        let (mut brx, _) = b.with_id(3).split();
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut burst = Burst::new(8);
        for len in [0, 1519, 60, 61, 62, 63, 64, 65] {
            let mut p = pool.alloc().unwrap();
            p.append(len);
            if len >= 60 {
                p.data_mut().copy_from_slice(&frame(1, len as u32, len));
            }
            burst.push(p).unwrap();
        }
        assert_eq!(atx[0].tx_burst(&mut burst), 4);
        assert!(burst.is_empty());
        let s = a_stats.total();
        assert_eq!((s.tx_packets, s.tx_bytes), (4, 60 + 61 + 62 + 63));
        assert_eq!(s.drops(DropReason::Empty), 1);
        assert_eq!(s.drops(DropReason::Oversize), 1);
        assert_eq!(s.drops(DropReason::TxFull), 2);
        assert_eq!(brx[0].rx_burst(&pool, &mut burst), 4);
        let lens: Vec<_> = burst.as_slice().iter().map(|p| p.len()).collect();
        assert_eq!(lens, [60, 61, 62, 63]);
        let p = &burst.as_slice()[0];
        assert_eq!((p.meta.port, p.meta.queue), (3, 0));
        assert_eq!(p.meta.hash, flow::hash(p.data()));
        assert_eq!(p.data(), frame(1, 60, 60));
        assert_eq!(b_stats.total().rx_bytes, 60 + 61 + 62 + 63);
        burst.clear();
        assert_eq!(pool.available(), pool.capacity());
    }

    #[test]
    fn empty_pool_on_rx_is_counted() {
        let (a, b) = cable("a", "b", CableConfig::default()).unwrap();
        let b_stats = b.stats();
        let (_, mut atx) = a.split();
        let (mut brx, _) = b.split();
        let pool = Pool::new(PoolConfig {
            frames: 2,
            ..Default::default()
        })
        .unwrap();
        let mut burst = Burst::new(4);
        let tx_pool = Pool::new(PoolConfig::default()).unwrap();
        for i in 0..4 {
            burst
                .push(tx_pool.alloc_from(&frame(1, i, 64)).unwrap())
                .unwrap();
        }
        atx[0].tx_burst(&mut burst);
        assert_eq!(brx[0].rx_burst(&pool, &mut burst), 2);
        assert_eq!(b_stats.total().drops(DropReason::PoolExhausted), 2);
    }

    /// Four queues, two sender threads, four receiver threads: every frame arrives once, each flow
    /// on one rx queue and in order, and the counters of both ends agree.
    #[test]
    fn multi_queue_steering_keeps_flows_in_order() {
        const FLOWS: u16 = 64;
        const PER_FLOW: u32 = 5_000;
        let cfg = CableConfig {
            queues: 4,
            slots: 256,
            ..Default::default()
        };
        let (a, b) = cable("a", "b", cfg).unwrap();
        let (a_stats, b_stats) = (a.stats(), b.stats());
        let (_, atx) = a.split();
        let (brx, _) = b.split();
        let stop = Arc::new(AtomicBool::new(false));
        let receivers: Vec<_> = brx
            .into_iter()
            .map(|mut q| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let pool = Pool::new(PoolConfig::default()).unwrap();
                    let mut last: HashMap<u16, u32> = HashMap::new();
                    let mut n = 0u64;
                    let policy = IdlePolicy::Interrupt(std::time::Duration::from_millis(5));
                    poll::run(
                        std::slice::from_mut(&mut q),
                        &pool,
                        32,
                        policy,
                        &stop,
                        |_, b| {
                            for p in b.drain() {
                                let d = p.data();
                                assert_eq!(p.meta.hash, flow::hash(d), "steering hash lost");
                                let flow = u16::from_be_bytes([d[34], d[35]]);
                                let seq = u32::from_be_bytes(d[42..46].try_into().unwrap());
                                let prev = last.insert(flow, seq);
                                assert!(
                                    prev.is_none_or(|s| s + 1 == seq),
                                    "flow {flow}: {prev:?} then {seq}"
                                );
                                n += 1;
                            }
                        },
                    );
                    (last, n)
                })
            })
            .collect();
        let senders: Vec<_> = atx
            .into_iter()
            .take(2)
            .enumerate()
            .map(|(k, mut q)| {
                let (a_stats, b_stats) = (a_stats.clone(), b_stats.clone());
                std::thread::spawn(move || {
                    let pool = Pool::new(PoolConfig::default()).unwrap();
                    let mut burst = Burst::new(32);
                    for seq in 0..PER_FLOW {
                        for flow in (k as u16..FLOWS).step_by(2) {
                            burst
                                .push(pool.alloc_from(&frame(flow, seq, 64)).unwrap())
                                .unwrap();
                            if burst.room() == 0 {
                                // Fewer frames in flight than one ring holds: this test is about
                                // order and steering, not overload, so nothing may be dropped.
                                let in_flight = || {
                                    let rx = b_stats.total().rx_packets;
                                    a_stats.total().tx_packets.saturating_sub(rx)
                                };
                                let since = std::time::Instant::now();
                                while in_flight() > 160 {
                                    // A receiver that failed an assertion stops taking frames.
                                    assert!(since.elapsed().as_secs() < 30, "receivers stalled");
                                    std::thread::yield_now();
                                }
                                q.tx_burst(&mut burst);
                            }
                        }
                    }
                    q.tx_burst(&mut burst);
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let want = u64::from(FLOWS) * u64::from(PER_FLOW);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while b_stats.total().rx_packets < want {
            assert!(std::time::Instant::now() < deadline, "{}", b_stats.total());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        let mut flows_seen = HashMap::new();
        let mut total = 0;
        for (qi, r) in receivers.into_iter().enumerate() {
            let (last, n) = r.join().unwrap();
            total += n;
            assert!(n > 0, "queue {qi} got nothing: steering does not spread");
            for flow in last.keys() {
                assert!(
                    flows_seen.insert(*flow, qi).is_none(),
                    "flow {flow} on two queues"
                );
            }
        }
        let (tx, rx) = (a_stats.total(), b_stats.total());
        assert_eq!(total, rx.rx_packets);
        assert_eq!(tx.tx_packets, rx.rx_packets);
        assert_eq!(tx.tx_bytes, rx.rx_bytes);
        assert_eq!(
            (tx.tx_packets, tx.total_drops(), rx.total_drops()),
            (want, 0, 0)
        );
    }
}
