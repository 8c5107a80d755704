//! The traffic generator and receiver: streams from a [`Profile`], sent from any io backend's tx
//! queues at a paced rate, counted per stream on rx queues.
//!
//! - [`profile`]: the TOML profile (streams, rate, duration).
//! - [`stream`]: building each stream's frames and the test signature they carry.
//! - [`rx`]: per-stream receive counters (loss, duplicates, reordering, latency).
//! - [`live`]: the XDP live-frame sender, for rates beyond what a socket sends from one core.
//!
//! One sender thread per tx queue (each sends its share of the rate, with its own stream ids so
//! sequence numbers stay meaningful), one receiver thread per rx queue. Pacing is per burst: a
//! burst leaves when the clock reaches the time of its first packet, so the rate is exact over
//! any window longer than a burst.

pub mod live;
pub mod profile;
pub mod rx;
pub mod stream;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use brick_io::backend::PortSpec;
use brick_io::backend::af_xdp::live::SinkCounts;
use brick_io::poll::{self, IdlePolicy};
use brick_io::{Burst, Pool, PoolConfig, Rx, Tx, clock};
use serde::Serialize;

pub use live::LiveSpec;
pub use profile::{Profile, Rate};
use rx::StreamRx;
use stream::Stream;

use crate::Error;

/// What `brick gen` sends from: any io port, or XDP live frames out of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A port's tx queues (`af_packet:...`, `af_xdp:...`, `pcap:tx=...`).
    Port(PortSpec),
    /// `xdp-live:IFNAME[@NETNS]`.
    Live(LiveSpec),
}

impl FromStr for Source {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.starts_with("xdp-live:") {
            s.parse().map(Source::Live)
        } else {
            Ok(Source::Port(s.parse()?))
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Port(p) => p.fmt(f),
            Source::Live(l) => l.fmt(f),
        }
    }
}

/// Runs `profile` from `source` into the `rx` queues; the report names the source.
pub fn generate(
    profile: &Profile,
    source: &Source,
    rx: Vec<Rx>,
    opts: &RunOpts,
) -> Result<GenReport, Error> {
    let opts = RunOpts {
        backend: source.to_string(),
        ..opts.clone()
    };
    match source {
        Source::Port(p) => run(profile, p.open()?.split().1, rx, &opts).map(|r| r.0),
        Source::Live(l) => live::run(profile, l, rx, &opts).map(|r| r.0),
    }
}

/// How to run a profile.
#[derive(Debug, Clone)]
pub struct RunOpts {
    /// Set to stop early (Ctrl-C); the report covers what was sent until then.
    pub stop: Arc<AtomicBool>,
    /// Print rates once a second on stderr.
    pub progress: bool,
    /// Pin sender threads to these cores, in order (receivers take the cores after them).
    pub cores: Vec<usize>,
    /// Overrides the profile's rate.
    pub rate: Option<Rate>,
    /// Overrides the profile's duration.
    pub seconds: Option<f64>,
    /// Packets per burst.
    pub burst: usize,
    /// What generated the load, for the report ("af_packet:veth0", "mem", ...).
    pub backend: String,
}

impl Default for RunOpts {
    fn default() -> Self {
        Self {
            stop: Arc::new(AtomicBool::new(false)),
            progress: false,
            cores: Vec::new(),
            rate: None,
            seconds: None,
            burst: brick_io::DEFAULT_BURST,
            backend: String::new(),
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    /// Minimum.
    pub min_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
}

impl Latency {
    /// From a drop sink's histogram, whose buckets are at most 6.25 % wide: min and max are the
    /// outer edges of the first and last buckets, a percentile the middle of its bucket.
    pub fn of_sink(c: &SinkCounts) -> Self {
        let buckets: Vec<(u64, u64, u64)> = c.latency_buckets().collect();
        let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
            return Latency::default();
        };
        let us = |ns: u64| ns as f64 / 1e3;
        let total: u64 = buckets.iter().map(|b| b.2).sum();
        let at = |q: f64| {
            let rank = ((q * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            let (low, high, _) = buckets
                .iter()
                .find(|b| {
                    seen += b.2;
                    seen >= rank
                })
                .unwrap_or(last);
            (us(*low) + us(*high)) / 2.0
        };
        Latency {
            min_us: us(first.0),
            p50_us: at(0.5),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: us(last.1),
        }
    }

    fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |v: u64| v as f64 / 1e3;
        Latency {
            min_us: us(h.min()),
            p50_us: us(h.value_at_quantile(0.5)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// One stream's results.
#[derive(Clone, Debug, Serialize)]
pub struct StreamReport {
    /// Name from the profile.
    pub name: String,
    /// Frames sent.
    pub tx: u64,
    /// Distinct frames received.
    pub rx: u64,
    /// Frames sent and never received.
    pub lost: u64,
    /// lost / tx, in percent.
    pub loss_pct: f64,
    /// Frames received twice or more.
    pub duplicates: u64,
    /// Frames received after a later one.
    pub reordered: u64,
    /// One-way latency.
    pub latency: Latency,
}

/// A run's results.
#[derive(Clone, Debug, Serialize)]
pub struct GenReport {
    /// What generated the load.
    pub backend: String,
    /// Seconds the senders ran.
    pub seconds: f64,
    /// Rate asked for, packets per second (0: unpaced).
    pub offered_pps: f64,
    /// Frames sent, all streams.
    pub tx_packets: u64,
    /// Distinct frames received, all streams.
    pub rx_packets: u64,
    /// Send rate achieved, Mpps.
    pub tx_mpps: f64,
    /// Receive rate, Mpps.
    pub rx_mpps: f64,
    /// False when no rx queue was given: only sending was measured.
    pub received: bool,
    /// Packets the schedule asked for that the generator did not send (it fell behind: a busy
    /// machine, or a rate above what it can generate): the offered rate was not reached.
    pub skipped: u64,
    /// Frames the generator's own tx queue refused (its ring was full): not sent, so not counted
    /// as loss of the device under test.
    pub tx_refused: u64,
    /// Per stream.
    pub streams: Vec<StreamReport>,
}

impl GenReport {
    /// Frames lost over all streams.
    pub fn lost(&self) -> u64 {
        self.streams.iter().map(|s| s.lost).sum()
    }

    /// A table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<16} {:>12} {:>12} {:>10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}\n",
            "stream",
            "tx",
            "rx",
            "loss %",
            "dup",
            "reorder",
            "min us",
            "p50 us",
            "p99 us",
            "max us"
        );
        for s in self.streams.iter().filter(|_| !self.received) {
            out += &format!("{:<16} {:>12} {:>12}\n", s.name, s.tx, "(no rx port)");
        }
        for s in self.streams.iter().filter(|_| self.received) {
            out += &format!(
                "{:<16} {:>12} {:>12} {:>10.4} {:>8} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
                s.name,
                s.tx,
                s.rx,
                s.loss_pct,
                s.duplicates,
                s.reordered,
                s.latency.min_us,
                s.latency.p50_us,
                s.latency.p99_us,
                s.latency.max_us
            );
        }
        out += &format!(
            "sent {:.3} Mpps, received {:.3} Mpps over {:.2} s (generator: {})\n",
            self.tx_mpps, self.rx_mpps, self.seconds, self.backend
        );
        if self.tx_refused > 0 {
            out += &format!(
                "warning: the generator's tx queue refused {} frames (ring full): they were not sent\n",
                self.tx_refused
            );
        }
        // A few packets short at the very end (the last burst meets the deadline) is not worth a
        // warning; a generator that fell behind is.
        if self.skipped * 1000 > self.tx_packets {
            out += &format!(
                "warning: the generator fell behind and skipped {} packets: the offered rate was not reached\n",
                self.skipped
            );
        }
        out
    }
}

/// Sends `burst`-sized bursts at `pps`, or as fast as the queue takes them without a rate.
struct Pacer {
    start: u64,
    ns_per_pkt: f64,
    sent: u64,
}

impl Pacer {
    fn new(pps: Option<f64>) -> Self {
        Pacer {
            start: clock::now_ns(),
            ns_per_pkt: pps.map_or(0.0, |p| 1e9 / p),
            sent: 0,
        }
    }

    /// True when the next packet is not due yet: the caller is about to pause.
    fn due_later(&self) -> bool {
        self.ns_per_pkt != 0.0
            && clock::now_ns() < self.start + (self.sent as f64 * self.ns_per_pkt) as u64
    }

    /// Waits until the next packet is due. Behind schedule it returns at once, so a short stall
    /// (the scheduler, a full ring) is caught up and the average rate holds; more than 50 ms behind,
    /// it re-anchors instead, so a long stall does not turn into a flood above the rate.
    fn wait(&mut self, stop: &AtomicBool) {
        if self.ns_per_pkt == 0.0 {
            return;
        }
        let due = self.start + (self.sent as f64 * self.ns_per_pkt) as u64;
        loop {
            let now = clock::now_ns();
            if now >= due {
                if now - due > 50_000_000 {
                    self.start = now - (self.sent as f64 * self.ns_per_pkt) as u64;
                }
                return;
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if due - now > 200_000 {
                std::thread::sleep(Duration::from_nanos((due - now) / 2));
            } else if due - now > 2_000 {
                // Let a receiver or router on the same core run (a busy spin would starve it).
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[derive(Default)]
struct Shared {
    sent: AtomicU64,
    received: AtomicU64,
}

/// What a run takes from the profile and the options, whatever sends.
struct Plan {
    nstreams: usize,
    /// Stream ids: one per stream and sender.
    ids: usize,
    /// Sum of the streams' weights.
    weights: u32,
    pps: Option<f64>,
    seconds: Option<f64>,
    count: Option<u64>,
}

impl Plan {
    fn new(profile: &Profile, senders: usize, opts: &RunOpts) -> Result<Self, Error> {
        let nstreams = profile.streams.len();
        if senders * nstreams > usize::from(u16::MAX) {
            return Err(Error::Usage(format!(
                "{senders} tx queues x {nstreams} streams exceed 65535 stream ids"
            )));
        }
        let weights: u32 = profile.streams.iter().map(|s| s.weight).sum();
        let mean = profile
            .streams
            .iter()
            .map(|s| s.size.mean() * f64::from(s.weight))
            .sum::<f64>()
            / f64::from(weights);
        let seconds = opts.seconds.or(profile.duration);
        let count = if seconds.is_some() {
            None
        } else {
            profile.count
        };
        if seconds.is_none() && count.is_none() {
            return Err(Error::Usage(
                "give a duration (profile `duration` or --seconds) or a profile `count`".into(),
            ));
        }
        Ok(Plan {
            nstreams,
            ids: senders * nstreams,
            weights,
            pps: opts.rate.or(profile.rate).map(|r| r.pps(mean)),
            seconds,
            count,
        })
    }
}

type RxThread = JoinHandle<Result<(Vec<StreamRx>, Rx), Error>>;

/// The receiving half of a run: one thread per rx queue counting per stream id.
struct Receivers {
    threads: Vec<RxThread>,
    stop: Arc<AtomicBool>,
}

impl Receivers {
    /// Pinned to the cores of `opts` from `first_core` on.
    fn spawn(
        rx: Vec<Rx>,
        ids: usize,
        first_core: usize,
        shared: &Arc<Shared>,
        opts: &RunOpts,
    ) -> Result<Self, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, mut q) in rx.into_iter().enumerate() {
            let (stop, shared) = (Arc::clone(&stop), Arc::clone(shared));
            let core = opts.cores.get(first_core + i).copied();
            threads.push(poll::spawn(
                format!("gen-rx{i}"),
                core,
                move || -> Result<(Vec<StreamRx>, Rx), Error> {
                    let pool = Pool::new(PoolConfig::default())?;
                    let mut stats = vec![StreamRx::default(); ids];
                    poll::run(
                        std::slice::from_mut(&mut q),
                        &pool,
                        32,
                        IdlePolicy::default(),
                        &stop,
                        |_, burst| {
                            let now = clock::now_ns();
                            let mut n = 0;
                            for p in burst.drain() {
                                if let Some(sig) = stream::signature(p.data())
                                    && let Some(s) = stats.get_mut(usize::from(sig.stream))
                                {
                                    s.record(sig.seq, p.len(), now.saturating_sub(sig.tx_ns));
                                    n += 1;
                                }
                            }
                            shared.received.fetch_add(n, Ordering::Relaxed);
                        },
                    );
                    Ok((stats, q))
                },
            )?);
        }
        Ok(Receivers { threads, stop })
    }

    /// Once the senders are done: waits for frames still in flight through the device (until the
    /// count stops growing, at most 2 s), stops the receivers and merges their counts.
    fn finish(self, ids: usize, shared: &Shared) -> Result<(Vec<StreamRx>, Vec<Rx>), Error> {
        let mut prev = u64::MAX;
        let drain_end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < drain_end {
            std::thread::sleep(Duration::from_millis(100));
            let r = shared.received.load(Ordering::Relaxed);
            if r == prev || r >= shared.sent.load(Ordering::Relaxed) {
                break;
            }
            prev = r;
        }
        self.stop.store(true, Ordering::Relaxed);
        let mut per_id = vec![StreamRx::default(); ids];
        let mut rxs = Vec::new();
        for h in self.threads {
            let (stats, q) = join(h, "receiver")??;
            for (acc, s) in per_id.iter_mut().zip(&stats) {
                acc.merge(s);
            }
            rxs.push(q);
        }
        Ok((per_id, rxs))
    }

    /// Stops the receivers once the senders are done, and reports the run.
    fn report(
        self,
        profile: &Profile,
        plan: &Plan,
        sent: &Sent,
        shared: &Shared,
        backend: &str,
    ) -> Result<(GenReport, Vec<Rx>), Error> {
        let (per_id, rxs) = self.finish(plan.ids, shared)?;
        let report = report(profile, plan, sent, &per_id, !rxs.is_empty(), backend);
        Ok((report, rxs))
    }
}

/// Joins a thread of the run; a panic there is an error of the run, not of the caller.
fn join<T>(h: JoinHandle<T>, what: &str) -> Result<T, Error> {
    h.join()
        .map_err(|_| Error::Usage(format!("a {what} thread panicked")))
}

/// Waits for the sender threads, printing rates once a second when asked.
fn watch<T>(senders: &[JoinHandle<T>], shared: &Shared, opts: &RunOpts, started: Instant) {
    let mut last = (Instant::now(), 0u64, 0u64);
    while senders.iter().any(|s| !s.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if opts.progress && last.0.elapsed() >= Duration::from_secs(1) {
            let (s, r) = (
                shared.sent.load(Ordering::Relaxed),
                shared.received.load(Ordering::Relaxed),
            );
            let dt = last.0.elapsed().as_secs_f64();
            eprintln!(
                "  {:>6.1} s  tx {:>8.3} Mpps  rx {:>8.3} Mpps  missing so far {}",
                started.elapsed().as_secs_f64(),
                (s - last.1) as f64 / dt / 1e6,
                (r - last.2) as f64 / dt / 1e6,
                s.saturating_sub(r)
            );
            last = (Instant::now(), s, r);
        }
    }
}

/// What the senders did, for the report.
struct Sent {
    /// Frames per stream id.
    per_id: Vec<u64>,
    skipped: u64,
    refused: u64,
    secs: f64,
}

/// The report of a run: `per_id` received and `sent` by stream id, stream `i` of sender `q`
/// having id `q * nstreams + i`.
fn report(
    profile: &Profile,
    plan: &Plan,
    sent: &Sent,
    per_id: &[StreamRx],
    received: bool,
    backend: &str,
) -> GenReport {
    let mut streams = Vec::new();
    for (i, spec) in profile.streams.iter().enumerate() {
        let mut got = StreamRx::default();
        let mut tx = 0;
        for id in (i..plan.ids).step_by(plan.nstreams) {
            got.merge(&per_id[id]);
            tx += sent.per_id[id];
        }
        let lost = tx.saturating_sub(got.unique());
        streams.push(StreamReport {
            name: spec.name.clone(),
            tx,
            rx: got.unique(),
            lost,
            loss_pct: if tx == 0 {
                0.0
            } else {
                lost as f64 * 100.0 / tx as f64
            },
            duplicates: got.duplicates,
            reordered: got.reordered,
            latency: Latency::of(&got.latency),
        });
    }
    let tx_packets: u64 = streams.iter().map(|s| s.tx).sum();
    let rx_packets: u64 = streams.iter().map(|s| s.rx).sum();
    GenReport {
        backend: backend.to_string(),
        seconds: sent.secs,
        offered_pps: plan.pps.unwrap_or(0.0),
        tx_packets,
        rx_packets,
        tx_mpps: tx_packets as f64 / sent.secs / 1e6,
        received,
        skipped: sent.skipped,
        tx_refused: sent.refused,
        rx_mpps: rx_packets as f64 / sent.secs / 1e6,
        streams,
    }
}

/// Runs `profile` from the `tx` queues to the `rx` queues; returns the report and the queues.
pub fn run(
    profile: &Profile,
    tx: Vec<Tx>,
    rx: Vec<Rx>,
    opts: &RunOpts,
) -> Result<(GenReport, Vec<Tx>, Vec<Rx>), Error> {
    if tx.is_empty() {
        return Err(Error::Usage(
            "the generator needs at least one tx queue".into(),
        ));
    }
    let nq = tx.len();
    let plan = Plan::new(profile, nq, opts)?;
    let (nstreams, pps, seconds, count) = (plan.nstreams, plan.pps, plan.seconds, plan.count);
    // Weighted round robin over the streams, at most 1024 slots.
    let scale = (f64::from(plan.weights) / 1024.0).max(1.0);
    let schedule: Vec<usize> = profile
        .streams
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            std::iter::repeat_n(i, ((f64::from(s.weight) / scale).ceil() as usize).max(1))
        })
        .collect();

    let shared = Arc::new(Shared::default());
    let receivers = Receivers::spawn(rx, plan.ids, nq, &shared, opts)?;

    let started = Instant::now();
    let mut senders = Vec::new();
    for (qi, mut q) in tx.into_iter().enumerate() {
        let mut streams: Vec<Stream> = profile
            .streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Stream::new(
                    (qi * nstreams + i) as u16,
                    s,
                    0x9e37_79b9 ^ (qi * nstreams + i) as u64,
                )
            })
            .collect();
        let quota: Vec<u64> = (0..nstreams)
            .map(|_| {
                count.map_or(u64::MAX, |c| {
                    c / nq as u64 + u64::from((qi as u64) < c % nq as u64)
                })
            })
            .collect();
        let (stop, shared, schedule) = (
            Arc::clone(&opts.stop),
            Arc::clone(&shared),
            schedule.clone(),
        );
        let (burst_size, q_pps) = (opts.burst, pps.map(|p| p / nq as f64));
        let core = opts.cores.get(qi).copied();
        senders.push(poll::spawn(
            format!("gen-tx{qi}"),
            core,
            move || -> Result<(Vec<u64>, u64, u64, Tx), Error> {
                let pool = Pool::new(PoolConfig {
                    frame_size: 16384,
                    frames: 4096,
                    ..Default::default()
                })?;
                let mut sent = vec![0u64; streams.len()];
                let mut burst = Burst::new(burst_size);
                let mut pacer = Pacer::new(q_pps);
                // Counted from here, not from the spawn: a thread can start late on a busy machine.
                let deadline = seconds.map(|s| pacer.start + (s * 1e9) as u64);
                let budget = q_pps.zip(seconds).map(|(pps, secs)| (pps * secs) as u64);
                let mut slot = 0usize;
                let mut in_burst = [0usize; brick_io::MAX_BURST];
                let mut refused = 0u64;
                'run: while !stop.load(Ordering::Relaxed) {
                    if pacer.due_later() {
                        // Nothing may wait unsent in a tx queue that batches its kicks.
                        q.flush();
                    }
                    pacer.wait(&stop);
                    let now = clock::now_ns();
                    if deadline.is_some_and(|d| now >= d) {
                        break;
                    }
                    let mut tried = 0;
                    // A paced run sends exactly rate x duration: the last burst is cut short.
                    let room = budget.map_or(burst_size as u64, |b| {
                        b.saturating_sub(pacer.sent).min(burst_size as u64)
                    });
                    if room == 0 {
                        break;
                    }
                    while burst.room() != 0 && (burst.len() as u64) < room {
                        let s = schedule[slot];
                        slot = (slot + 1) % schedule.len();
                        if sent[s] >= quota[s] {
                            tried += 1;
                            if tried > schedule.len() {
                                if burst.is_empty() {
                                    break 'run;
                                }
                                break;
                            }
                            continue;
                        }
                        let Some(mut p) = pool.alloc() else { break };
                        if streams[s].fill(&mut p, now).is_some() {
                            in_burst[burst.len()] = s;
                            sent[s] += 1;
                            let _ = burst.push(p);
                        }
                    }
                    let n = burst.len();
                    let ok = q.tx_burst(&mut burst);
                    // Frames our own tx queue refused (a full ring drops the tail of a burst) were not
                    // sent: they must not count as loss of the device under test.
                    for &s in &in_burst[ok..n] {
                        sent[s] -= 1;
                    }
                    refused += (n - ok) as u64;
                    pacer.sent += n as u64;
                    shared.sent.fetch_add(ok as u64, Ordering::Relaxed);
                }
                q.flush();
                // What the schedule asked for and was never sent: the generator fell behind.
                let skipped = match budget {
                    Some(b) if !stop.load(Ordering::Relaxed) => b.saturating_sub(pacer.sent),
                    _ => 0,
                };
                Ok((sent, skipped, refused, q))
            },
        )?);
    }

    watch(&senders, &shared, opts, started);
    let secs = started.elapsed().as_secs_f64();
    let mut sent = Sent {
        per_id: vec![0; plan.ids],
        skipped: 0,
        refused: 0,
        secs,
    };
    let mut txs = Vec::new();
    for (qi, h) in senders.into_iter().enumerate() {
        let (per_stream, late, refused, q) = join(h, "sender")??;
        sent.per_id[qi * nstreams..(qi + 1) * nstreams].copy_from_slice(&per_stream);
        sent.skipped += late;
        sent.refused += refused;
        txs.push(q);
    }
    let (report, rxs) = receivers.report(profile, &plan, &sent, &shared, &opts.backend)?;
    Ok((report, txs, rxs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1000 frames at 10 us, 10 at 1 ms: the median is near 10 us, p99.9 and max near 1 ms.
    #[test]
    fn sink_latency_percentiles_come_from_the_buckets() {
        let mut latency = vec![0u64; brick_io::backend::af_xdp::live::LATENCY_BUCKETS];
        let bucket_of = |ns: u64| {
            (0..latency.len())
                .find(|&i| brick_io::backend::af_xdp::live::latency_bucket(i).1 > ns)
                .unwrap()
        };
        let (fast, slow) = (bucket_of(10_000), bucket_of(1_000_000));
        latency[fast] = 1000;
        latency[slow] = 10;
        let l = Latency::of_sink(&SinkCounts {
            frames: 1010,
            latency,
        });
        let near = |v: f64, want: f64| (v - want).abs() <= want * 0.07;
        assert!(near(l.min_us, 10.0) && near(l.p50_us, 10.0), "{l:?}");
        assert!(
            near(l.p99_us, 10.0),
            "rank 1000 of 1010 is still fast: {l:?}"
        );
        assert!(near(l.p999_us, 1000.0) && near(l.max_us, 1000.0), "{l:?}");
        let empty = Latency::of_sink(&SinkCounts {
            frames: 5,
            latency: vec![0; 4],
        });
        assert_eq!(empty.max_us, 0.0);
    }
}
