//! Per-queue counters: one writer (the thread that owns the queue), any number of readers.
//!
//! The owner adds a burst's totals with a plain load and store (no locked instruction, since nobody
//! else writes); readers sum the queues of a port, or of a core, whenever they like. Each queue's
//! block sits on its own cache lines so two cores never write the same line.

use std::fmt;
use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// Why a queue dropped a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum DropReason {
    /// No free frame in the pool to receive into.
    PoolExhausted,
    /// The tx ring (or the far end of a mem cable) had no free slot.
    TxFull,
    /// Larger than the port's MTU (tx) or than a pool frame (rx).
    Oversize,
    /// A zero-length frame.
    Empty,
    /// Refused by the kernel or the file (bad format, write error).
    Rejected,
    /// Dropped by the kernel before we saw it (ring overflow reported by the socket).
    KernelDrop,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 6] = [
        DropReason::PoolExhausted,
        DropReason::TxFull,
        DropReason::Oversize,
        DropReason::Empty,
        DropReason::Rejected,
        DropReason::KernelDrop,
    ];

    /// The label used in metrics and on the terminal.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::PoolExhausted => "pool_exhausted",
            DropReason::TxFull => "tx_full",
            DropReason::Oversize => "oversize",
            DropReason::Empty => "empty",
            DropReason::Rejected => "rejected",
            DropReason::KernelDrop => "kernel_drop",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const REASONS: usize = DropReason::ALL.len();

/// The live counters of one queue (rx and tx side of the same index share a block).
#[derive(Debug, Default)]
pub struct QueueStats {
    rx_packets: CachePadded<AtomicU64>,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    drops: [AtomicU64; REASONS],
}

/// Adds `v` to a counter that only the calling thread writes.
#[inline]
fn bump(c: &AtomicU64, v: u64) {
    if v != 0 {
        c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
    }
}

impl QueueStats {
    /// Counts received packets and bytes. Only the queue's owner calls this.
    #[inline]
    pub fn add_rx(&self, packets: u64, bytes: u64) {
        bump(&self.rx_packets, packets);
        bump(&self.rx_bytes, bytes);
    }

    /// Counts sent packets and bytes. Only the queue's owner calls this.
    #[inline]
    pub fn add_tx(&self, packets: u64, bytes: u64) {
        bump(&self.tx_packets, packets);
        bump(&self.tx_bytes, bytes);
    }

    /// Counts dropped frames. Only the queue's owner calls this.
    #[inline]
    pub fn add_drop(&self, why: DropReason, n: u64) {
        bump(&self.drops[why as usize], n);
    }

    /// Adds a burst's drops, one count per reason in [`DropReason::ALL`] order.
    #[inline]
    pub fn add_drops(&self, drops: &[u64; REASONS]) {
        for (why, &n) in DropReason::ALL.iter().zip(drops) {
            self.add_drop(*why, n);
        }
    }

    /// A consistent-enough copy for reporting (each counter is read atomically).
    pub fn snapshot(&self) -> Snapshot {
        let ld = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            rx_packets: ld(&self.rx_packets),
            rx_bytes: ld(&self.rx_bytes),
            tx_packets: ld(&self.tx_packets),
            tx_bytes: ld(&self.tx_bytes),
            drops: std::array::from_fn(|i| ld(&self.drops[i])),
        }
    }
}

/// Plain counter values, summed over any set of queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received (Ethernet frame without FCS).
    pub rx_bytes: u64,
    /// Packets handed to the wire.
    pub tx_packets: u64,
    /// Bytes handed to the wire.
    pub tx_bytes: u64,
    drops: [u64; REASONS],
}

impl Snapshot {
    /// Frames dropped for `why`.
    pub fn drops(&self, why: DropReason) -> u64 {
        self.drops[why as usize]
    }

    /// Frames dropped for any reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// `(reason, count)` for every reason with a non-zero count.
    pub fn nonzero_drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.drops(r)))
            .filter(|&(_, n)| n != 0)
    }
}

impl AddAssign for Snapshot {
    fn add_assign(&mut self, o: Snapshot) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        for (a, b) in self.drops.iter_mut().zip(o.drops) {
            *a += b;
        }
    }
}

impl std::iter::Sum for Snapshot {
    fn sum<I: Iterator<Item = Snapshot>>(it: I) -> Snapshot {
        let mut s = Snapshot::default();
        for x in it {
            s += x;
        }
        s
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rx {} pkts {} B, tx {} pkts {} B",
            self.rx_packets, self.rx_bytes, self.tx_packets, self.tx_bytes
        )?;
        for (r, n) in self.nonzero_drops() {
            write!(f, ", drop {r} {n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn single_writer_counts_are_exact_and_readable_from_another_thread() {
        let s = Arc::new(QueueStats::default());
        let w = Arc::clone(&s);
        std::thread::spawn(move || {
            for _ in 0..100_000 {
                w.add_rx(2, 128);
                w.add_drop(DropReason::TxFull, 1);
            }
        })
        .join()
        .unwrap();
        let snap = s.snapshot();
        assert_eq!((snap.rx_packets, snap.rx_bytes), (200_000, 12_800_000));
        assert_eq!(snap.drops(DropReason::TxFull), 100_000);
        assert_eq!(snap.total_drops(), 100_000);
        let sum: Snapshot = [snap, snap].into_iter().sum();
        assert_eq!(sum.rx_packets, 400_000);
        assert_eq!(
            sum.to_string(),
            "rx 400000 pkts 25600000 B, tx 0 pkts 0 B, drop tx_full 200000"
        );
    }
}
