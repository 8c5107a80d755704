//! Fixed-capacity bursts of packets, the unit every queue moves.
//!
//! A [`Burst`] lives on the poller's stack (or in its context) for the life of the worker: its
//! storage is an inline array, so moving packets through it never allocates.

use arrayvec::ArrayVec;

use crate::pool::Packet;

/// Largest burst a queue moves at once.
pub const MAX_BURST: usize = 64;
/// Burst size when none is configured (RouteBricks' kp = 32).
pub const DEFAULT_BURST: usize = 32;

/// Up to `size` packets (`size <= MAX_BURST`).
#[derive(Debug)]
pub struct Burst {
    pkts: ArrayVec<Packet, MAX_BURST>,
    size: usize,
}

impl Default for Burst {
    fn default() -> Self {
        Self::new(DEFAULT_BURST)
    }
}

impl Burst {
    /// An empty burst that holds at most `size` packets, clamped to `1..=MAX_BURST`.
    pub fn new(size: usize) -> Self {
        Self {
            pkts: ArrayVec::new(),
            size: size.clamp(1, MAX_BURST),
        }
    }

    /// The configured burst size.
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Packets held.
    #[inline]
    pub fn len(&self) -> usize {
        self.pkts.len()
    }

    /// True when no packet is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    /// How many more packets fit.
    #[inline]
    pub fn room(&self) -> usize {
        self.size - self.pkts.len()
    }

    /// Adds a packet, or gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, p: Packet) -> Result<(), Packet> {
        if self.pkts.len() >= self.size {
            return Err(p);
        }
        self.pkts.push(p);
        Ok(())
    }

    /// The packets, in arrival order.
    #[inline]
    pub fn as_slice(&self) -> &[Packet] {
        &self.pkts
    }

    /// The packets, writable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Packet] {
        &mut self.pkts
    }

    /// Takes every packet out, in order, leaving the burst empty.
    #[inline]
    pub fn drain(&mut self) -> arrayvec::Drain<'_, Packet, MAX_BURST> {
        self.pkts.drain(..)
    }

    /// Keeps the packets for which `keep` is true, in order; the others are freed.
    #[inline]
    pub fn retain(&mut self, keep: impl FnMut(&mut Packet) -> bool) {
        self.pkts.retain(keep)
    }

    /// Frees every packet.
    #[inline]
    pub fn clear(&mut self) {
        self.pkts.clear()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::pool::{Pool, PoolConfig};

    #[test]
    fn size_is_clamped() {
        assert_eq!(Burst::new(0).size(), 1);
        assert_eq!(Burst::new(1000).size(), MAX_BURST);
        assert_eq!(Burst::default().size(), DEFAULT_BURST);
    }

    proptest! {
        /// A burst never holds more than its size, hands back what does not fit, keeps order, and
        /// every packet it frees returns to the pool.
        #[test]
        fn burst_bounds_and_order(size in 1usize..=MAX_BURST, n in 0usize..100, keep_mod in 1usize..5) {
            let pool = Pool::new(PoolConfig { frames: 128, ..Default::default() }).unwrap();
            let mut b = Burst::new(size);
            let mut refused = 0;
            for i in 0..n {
                let p = pool.alloc_from(&(i as u32).to_be_bytes()).unwrap();
                if let Err(p) = b.push(p) {
                    refused += 1;
                    drop(p);
                }
                prop_assert!(b.len() <= size);
                prop_assert_eq!(b.room(), size - b.len());
            }
            prop_assert_eq!(b.len() + refused, n);
            b.retain(|p| (u32::from_be_bytes(p.data().try_into().unwrap()) as usize).is_multiple_of(keep_mod));
            let seen: Vec<usize> = b.drain().map(|p| u32::from_be_bytes(p.data().try_into().unwrap()) as usize).collect();
            let want: Vec<usize> = (0..n.min(size)).filter(|i| i % keep_mod == 0).collect();
            prop_assert_eq!(seen, want);
            prop_assert!(b.is_empty());
            prop_assert_eq!(pool.available(), 128);
        }
    }
}
