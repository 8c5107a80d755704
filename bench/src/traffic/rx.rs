//! What the receiver counts per stream: packets, bytes, duplicates, reordering and latency.
//!
//! Sequence numbers are 32-bit on the wire and extended to 64 bits against the highest seen, so
//! they may wrap. A window of the last 4096 sequence numbers tells a duplicate from a late
//! (reordered) frame; a frame older than the window counts as reordered. Loss is what the
//! generator sent minus the distinct frames received.

use hdrhistogram::Histogram;

const WINDOW: u64 = 4096;
const WORDS: usize = (WINDOW / 64) as usize;

/// Receive-side counters of one stream.
#[derive(Debug, Clone)]
pub struct StreamRx {
    /// Frames received, duplicates included.
    pub packets: u64,
    /// Bytes received (without FCS).
    pub bytes: u64,
    /// Frames received a second time.
    pub duplicates: u64,
    /// Frames that arrived after a frame with a higher sequence number.
    pub reordered: u64,
    /// One-way latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// One past the highest (extended) sequence number seen; 0 before the first frame.
    next: u64,
    seen: [u64; WORDS],
}

impl Default for StreamRx {
    fn default() -> Self {
        Self {
            packets: 0,
            bytes: 0,
            duplicates: 0,
            reordered: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("valid histogram bounds"),
            next: 0,
            seen: [0; WORDS],
        }
    }
}

impl StreamRx {
    fn bit(&mut self, seq: u64) -> (&mut u64, u64) {
        let i = (seq % WINDOW) as usize;
        (&mut self.seen[i / 64], 1 << (i % 64))
    }

    /// Counts one frame.
    #[inline]
    pub fn record(&mut self, seq: u32, bytes: usize, latency_ns: u64) {
        self.packets += 1;
        self.bytes += bytes as u64;
        let _ = self.latency.record(latency_ns.max(1));
        let ext = if self.packets == 1 {
            u64::from(seq)
        } else {
            let delta = i64::from(seq.wrapping_sub(self.next as u32) as i32);
            (self.next as i64 + delta).max(0) as u64
        };
        if ext >= self.next || self.packets == 1 {
            // New highest: forget what the window held for the numbers skipped over.
            let from = if self.packets == 1 { ext } else { self.next };
            if ext - from >= WINDOW {
                self.seen = [0; WORDS];
            } else {
                for s in from..ext {
                    let (w, m) = self.bit(s);
                    *w &= !m;
                }
            }
            let (w, m) = self.bit(ext);
            *w |= m;
            self.next = ext + 1;
        } else if self.next - ext > WINDOW {
            self.reordered += 1;
        } else {
            let (w, m) = self.bit(ext);
            if *w & m != 0 {
                self.duplicates += 1;
            } else {
                *w |= m;
                self.reordered += 1;
            }
        }
    }

    /// Distinct frames received.
    pub fn unique(&self) -> u64 {
        self.packets - self.duplicates
    }

    /// Adds another queue's counts for the same stream (sequence state stays per queue).
    pub fn merge(&mut self, o: &StreamRx) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.duplicates += o.duplicates;
        self.reordered += o.reordered;
        let _ = self.latency.add(&o.latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[u32]) -> StreamRx {
        let mut s = StreamRx::default();
        for &q in seqs {
            s.record(q, 60, 1000);
        }
        s
    }

    #[test]
    fn in_order_without_loss() {
        let s = run(&(0..10_000).collect::<Vec<_>>());
        assert_eq!(
            (s.packets, s.unique(), s.duplicates, s.reordered),
            (10_000, 10_000, 0, 0)
        );
    }

    #[test]
    fn loss_is_a_gap() {
        let s = run(&[0, 1, 2, 5, 6, 9]);
        assert_eq!((s.unique(), s.duplicates, s.reordered), (6, 0, 0));
        assert_eq!(10 - s.unique(), 4, "sent 10, 4 lost");
    }

    #[test]
    fn duplicates_and_reordering_are_told_apart() {
        let s = run(&[0, 1, 3, 2, 2, 4, 4, 1, 5]);
        assert_eq!((s.packets, s.duplicates, s.reordered), (9, 3, 1));
        assert_eq!(s.unique(), 6);
    }

    #[test]
    fn very_late_frames_count_as_reordered() {
        let mut seqs: Vec<u32> = (0..10_000).collect();
        seqs.push(3);
        let s = run(&seqs);
        assert_eq!((s.duplicates, s.reordered), (0, 1));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let start = u32::MAX - 5;
        let seqs: Vec<u32> = (0..12u32).map(|i| start.wrapping_add(i)).collect();
        let mut s = run(&seqs);
        assert_eq!((s.unique(), s.duplicates, s.reordered), (12, 0, 0));
        s.record(start.wrapping_add(11), 60, 1);
        s.record(start.wrapping_add(2), 60, 1);
        assert_eq!(s.duplicates, 2);
    }

    #[test]
    fn latency_and_merge() {
        let mut a = StreamRx::default();
        let mut b = StreamRx::default();
        for i in 1..=100u64 {
            a.record(i as u32, 100, i * 1000);
            b.record(i as u32, 100, 500_000);
        }
        a.merge(&b);
        assert_eq!((a.packets, a.bytes), (200, 20_000));
        assert_eq!(a.latency.min(), 1000);
        assert!(a.latency.max() >= 499_000);
    }
}
