//! A single-producer single-consumer ring of fixed-size byte slots.
//!
//! This is the wire of a mem cable: the producer copies a frame into the next slot, the consumer
//! copies it out into its own pool, so the two cores share nothing but the ring. Each slot holds
//! a frame in a data area that is a whole number of cache lines, and its `len << 32 | hash` in a
//! separate array of 8-byte words: a 64-byte frame then costs one cache line transfer between the
//! cores plus an eighth of a header line, not two lines.
//!
//! A frame of up to one line (with its padding, see [`crate::Packet::padded`]) is copied as one
//! fixed 64-byte move, with ordinary stores. Streaming (non-temporal) stores, used before, skip
//! the fetch of a line the consumer last held but send it to memory, so the consumer's read of it
//! comes from DRAM; since a one-queue cable stopped hashing on the producer's side they cost
//! 0.65x (docs/benchmarks.md, docs/decisions.md).
//!
//! Indices run free (they wrap at `usize::MAX`, far beyond any run) and are masked on use. Each
//! side keeps a private copy of the other's index and re-reads the shared one only when the copy
//! says the ring is full (producer) or holds fewer frames than a burst asks for (consumer), and
//! it publishes its own index once per burst, not per frame: that is what makes it several times
//! faster than a general MPMC queue (see docs/decisions.md).

use std::alloc::{self, Layout};
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use crate::Error;
use crate::pool::SMALL;

struct Shared {
    base: NonNull<u8>,
    layout: Layout,
    /// Offset of the header words, behind the data slots.
    hdrs: usize,
    stride: usize,
    mask: usize,
    max_frame: usize,
    /// Next slot the consumer will read; written by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// Next slot the producer will write; written by the producer only.
    tail: CachePadded<AtomicUsize>,
}

// SAFETY: the region is written only by the single producer in slots the consumer has released
// (head, Acquire) and read only by the single consumer in slots the producer has published (tail,
// Acquire/Release); `Producer` and `Consumer` are not `Clone`, so there is one of each.
#[allow(unsafe_code)]
unsafe impl Send for Shared {}
// SAFETY: see `Send`: the index protocol keeps producer and consumer on disjoint slots.
#[allow(unsafe_code)]
unsafe impl Sync for Shared {}

impl Shared {
    #[inline]
    fn slot(&self, idx: usize) -> *mut u8 {
        self.base
            .as_ptr()
            .wrapping_add((idx & self.mask) * self.stride)
    }

    #[inline]
    fn hdr(&self, idx: usize) -> *mut u64 {
        self.base
            .as_ptr()
            .wrapping_add(self.hdrs + (idx & self.mask) * 8)
            .cast()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: allocated in `ring` with this layout; both halves are gone (this is the last Arc).
        unsafe {
            alloc::dealloc(self.base.as_ptr(), self.layout)
        };
    }
}

/// Creates a ring of `slots` slots (rounded up to a power of two) for frames of up to `max_frame`
/// bytes.
#[cold]
pub fn ring(slots: usize, max_frame: usize) -> Result<(Producer, Consumer), Error> {
    if !(2..=1 << 20).contains(&slots) || !(1..=65535).contains(&max_frame) {
        return Err(Error::Config(format!(
            "ring: {slots} slots of {max_frame} bytes (want 2..=1048576 slots, 1..=65535 bytes)"
        )));
    }
    let slots = slots.next_power_of_two();
    let stride = max_frame.next_multiple_of(64);
    let layout = Layout::from_size_align(slots * stride + slots * 8, 64)
        .map_err(|e| Error::Config(format!("ring: {e}")))?;
    #[allow(unsafe_code)]
    // SAFETY: the layout has a non-zero size (slots >= 2, stride >= 64).
    let raw = unsafe { alloc::alloc_zeroed(layout) };
    let base = NonNull::new(raw)
        .ok_or_else(|| Error::Config(format!("ring: cannot allocate {} bytes", layout.size())))?;
    let shared = Arc::new(Shared {
        base,
        layout,
        hdrs: slots * stride,
        stride,
        mask: slots - 1,
        max_frame,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
    });
    Ok((
        Producer {
            ring: Arc::clone(&shared),
            tail: 0,
            head_seen: 0,
        },
        Consumer {
            ring: shared,
            head: 0,
            tail_seen: 0,
        },
    ))
}

// ===== impl Producer =====

/// The writing end.
pub struct Producer {
    ring: Arc<Shared>,
    tail: usize,
    head_seen: usize,
}

impl Producer {
    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// Largest frame a slot holds.
    pub fn max_frame(&self) -> usize {
        self.ring.max_frame
    }

    /// Copies a frame into the next slot; `false` if the ring is full or the frame too large. The
    /// frame is visible to the consumer after the next [`Producer::publish`].
    #[inline]
    pub fn push(&mut self, hash: u32, frame: &[u8]) -> bool {
        self.push_padded(hash, frame.len(), frame)
    }

    /// Like [`Producer::push`] for the first `len` bytes of `padded`; a small frame whose buffer
    /// has [`SMALL`] bytes is written as one whole line (see the module doc and
    /// [`crate::Packet::padded`]).
    #[inline]
    pub fn push_padded(&mut self, hash: u32, len: usize, padded: &[u8]) -> bool {
        if len > self.ring.max_frame || len > padded.len() {
            return false;
        }
        if self.tail.wrapping_sub(self.head_seen) > self.ring.mask {
            self.head_seen = self.ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head_seen) > self.ring.mask {
                return false;
            }
        }
        let slot = self.ring.slot(self.tail);
        let small = len <= SMALL && padded.len() >= SMALL;
        #[allow(unsafe_code)]
        // SAFETY: `tail - head < capacity`, so the consumer has released this slot (its Release
        // store of head, seen by our Acquire load) and will not read it before we publish; the
        // slot is `stride >= max(max_frame, 64)` bytes long, 64-byte aligned (the region is, and
        // the stride is a multiple of 64), and `padded` holds the bytes copied (64 when `small`);
        // the header word is 8-byte aligned inside the region.
        unsafe {
            self.ring
                .hdr(self.tail)
                .write((len as u64) << 32 | u64::from(hash));
            if small {
                // One fixed-size move (four 16-byte loads and stores), not a call to `memcpy`.
                let line = padded.as_ptr().cast::<[u8; SMALL]>().read_unaligned();
                slot.cast::<[u8; SMALL]>().write(line);
            } else {
                std::ptr::copy_nonoverlapping(padded.as_ptr(), slot, len);
            }
        }
        self.tail = self.tail.wrapping_add(1);
        true
    }

    /// Makes every pushed frame visible to the consumer.
    #[inline]
    pub fn publish(&mut self) {
        self.ring.tail.store(self.tail, Ordering::Release);
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("tail", &self.tail)
            .finish()
    }
}

// ===== impl Consumer =====

/// The reading end.
pub struct Consumer {
    ring: Arc<Shared>,
    head: usize,
    tail_seen: usize,
}

impl Consumer {
    /// Hands the next frame to `f` as its hash, its bytes, and its bytes padded to at least
    /// [`SMALL`] with the rest of the slot (for [`crate::Pool::alloc_from_padded`]); `None` if the
    /// ring is empty. The slot is given back to the producer at the next [`Consumer::release`].
    pub fn pop<R>(&mut self, f: impl FnOnce(u32, &[u8], &[u8]) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut r = None;
        self.pop_burst(1, |hash, frame, padded| {
            r = f.take().map(|f| f(hash, frame, padded));
        });
        r
    }

    /// Hands up to `max` frames to `f`, one call each, as [`Consumer::pop`] does; returns how
    /// many. Reads the producer's index at most once, and the ring's shape once, not per frame.
    #[inline]
    pub fn pop_burst(&mut self, max: usize, mut f: impl FnMut(u32, &[u8], &[u8])) -> usize {
        let mut ready = self.tail_seen.wrapping_sub(self.head);
        if ready < max {
            self.tail_seen = self.ring.tail.load(Ordering::Acquire);
            ready = self.tail_seen.wrapping_sub(self.head);
        }
        let n = ready.min(max);
        let ring = &*self.ring;
        let (mask, stride, max_frame) = (ring.mask, ring.stride, ring.max_frame);
        let base = ring.base.as_ptr();
        let hdrs = base.wrapping_add(ring.hdrs).cast::<u64>();
        for k in 0..n {
            let i = self.head.wrapping_add(k) & mask;
            #[allow(unsafe_code)]
            // SAFETY: `head + k < tail`, so the producer wrote slot `i` before its Release store
            // of tail (seen by our Acquire load) and will not touch it until we release it; the
            // length was written by `push` and is at most `max_frame`, so `max(len, 64)` bytes
            // lie inside the slot (`stride >= max(max_frame, 64)`); the header word is 8-byte
            // aligned inside the region.
            unsafe {
                let hdr = hdrs.add(i).read();
                let len = ((hdr >> 32) as usize).min(max_frame);
                let padded = std::slice::from_raw_parts(base.add(i * stride), len.max(SMALL));
                f(hdr as u32, &padded[..len], padded);
            }
        }
        self.head = self.head.wrapping_add(n);
        n
    }

    /// Frames waiting, as far as this side knows (re-reads the producer's index).
    pub fn pending(&mut self) -> usize {
        self.tail_seen = self.ring.tail.load(Ordering::Acquire);
        self.tail_seen.wrapping_sub(self.head)
    }

    /// Gives every popped slot back to the producer.
    #[inline]
    pub fn release(&mut self) {
        self.ring.head.store(self.head, Ordering::Release);
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.head)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bad_shapes_are_refused() {
        assert!(ring(1, 64).is_err());
        assert!(ring(16, 0).is_err());
        assert!(ring(16, 70_000).is_err());
        let (p, _) = ring(5, 64).unwrap();
        assert_eq!(p.capacity(), 8);
    }

    #[test]
    fn full_empty_and_oversize() {
        let (mut p, mut c) = ring(4, 16).unwrap();
        assert!(!p.push(0, &[0; 17]));
        for i in 0..4u8 {
            assert!(p.push(i.into(), &[i; 3]));
        }
        assert!(!p.push(9, &[9]), "full ring must refuse");
        assert_eq!(c.pop(|_, _, _| ()), None, "nothing published yet");
        p.publish();
        assert_eq!(c.pending(), 4);
        assert_eq!(c.pop(|h, b, _| (h, b.to_vec())), Some((0, vec![0; 3])));
        assert!(!p.push(9, &[9]), "not released yet");
        c.release();
        assert!(p.push(9, &[9]));
    }

    proptest! {
        /// Any interleaving of pushes, publishes, pops and releases behaves like a FIFO of
        /// capacity 8, across many wrap-arounds.
        #[test]
        fn behaves_like_a_bounded_fifo(ops in proptest::collection::vec((0u8..5, 0usize..6), 1..2000)) {
            let (mut p, mut c) = ring(8, 32).unwrap();
            let (mut pushed, mut published, mut popped, mut released) = (0usize, 0usize, 0usize, 0usize);
            let mut model: VecDeque<u32> = VecDeque::new();
            let mut next = 0u32;
            for (op, k) in ops {
                match op {
                    0 => {
                        let ok = p.push(next, &next.to_le_bytes()[..(next % 4 + 1) as usize]);
                        prop_assert_eq!(ok, pushed - released < 8);
                        if ok { model.push_back(next); pushed += 1; next += 1; }
                    }
                    1 => { p.publish(); published = pushed; }
                    2 => {
                        let got = c.pop(|h, b, _| { assert_eq!(b, &h.to_le_bytes()[..(h % 4 + 1) as usize]); h });
                        if popped < published {
                            prop_assert_eq!(got, model.pop_front());
                            popped += 1;
                        } else {
                            prop_assert_eq!(got, None);
                        }
                    }
                    3 => {
                        let mut got = Vec::new();
                        let n = c.pop_burst(k, |h, b, _| { assert_eq!(b, &h.to_le_bytes()[..(h % 4 + 1) as usize]); got.push(h) });
                        let want: Vec<u32> = model.drain(..k.min(published - popped)).collect();
                        prop_assert_eq!((n, got), (want.len(), want.clone()));
                        popped += want.len();
                    }
                    _ => { c.release(); released = popped; }
                }
            }
        }
    }

    /// A million frames across two threads arrive in order and whole: every third one of 8
    /// bytes in an 8-byte buffer (an ordinary copy), the others of 60 or 64 bytes in a 64-byte
    /// buffer (one fixed-size move, see the module doc), each filled with its sequence number,
    /// so a frame seen before its bytes fails.
    #[test]
    fn two_threads_keep_order() {
        const N: u64 = 1_000_000;
        let (mut p, mut c) = ring(256, 64).unwrap();
        let prod = std::thread::spawn(move || {
            let mut i = 0u64;
            while i < N {
                let mut k = 0;
                while k < 32 && i < N {
                    let frame: Vec<u8> = (0..8).flat_map(|_| i.to_le_bytes()).collect();
                    let len = [8, 60, 64][(i % 3) as usize];
                    let buf = if len == 8 { &frame[..8] } else { &frame[..] };
                    if !p.push_padded(i as u32, len, buf) {
                        break;
                    }
                    i += 1;
                    k += 1;
                }
                p.publish();
                if k == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut want = 0u64;
        while want < N {
            let mut got = 0;
            while let Some((h, len, whole)) = c.pop(|h, b, _| {
                let whole = b.chunks(8).all(|w| w == &want.to_le_bytes()[..w.len()]);
                (h, b.len(), whole)
            }) {
                assert_eq!((h, len), (want as u32, [8, 60, 64][(want % 3) as usize]));
                assert!(whole, "frame {want} seen before its bytes");
                want += 1;
                got += 1;
            }
            c.release();
            if got == 0 {
                std::thread::yield_now();
            }
        }
        prod.join().unwrap();
    }
}
