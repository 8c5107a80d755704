//! Preallocated frame pools and the [`Packet`] handle.
//!
//! A [`Pool`] owns one contiguous, page-aligned region cut into `frames` buffers of `frame_size`
//! bytes (the layout an AF_XDP UMEM wants). Buffers are handed out as [`Packet`]s and come back
//! when a packet is dropped, so a buffer can never be freed twice: the handle is move-only and its
//! `Drop` is the only way back into the free list.
//!
//! A pool belongs to one thread (it is neither `Send` nor `Sync`, and neither are its packets), which
//! is what lets allocation and free be a push and pop on a plain stack. Frames cross threads only
//! as bytes on a wire (a mem cable ring, a kernel ring), never as handles, so no core ever touches
//! another core's pool.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::fmt;
use std::ptr::NonNull;
use std::rc::Rc;

use crate::Error;

/// Default size of one frame buffer, headroom included.
pub const DEFAULT_FRAME_SIZE: usize = 2048;
/// Default room kept in front of received data, for encapsulation headers pushed later.
pub const DEFAULT_HEADROOM: usize = 128;
/// Default number of frames in a pool.
pub const DEFAULT_FRAMES: u32 = 8192;

/// Shape of a [`Pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Number of frame buffers.
    pub frames: u32,
    /// Bytes per frame buffer, headroom included (256..=65536).
    pub frame_size: usize,
    /// Bytes kept free in front of the data of a newly allocated packet.
    pub headroom: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            frames: DEFAULT_FRAMES,
            frame_size: DEFAULT_FRAME_SIZE,
            headroom: DEFAULT_HEADROOM,
        }
    }
}

impl PoolConfig {
    #[cold]
    fn validate(&self) -> Result<Layout, Error> {
        let bad = |reason: String| Err(Error::Config(format!("pool: {reason}")));
        if self.frames == 0 {
            return bad("frames must be at least 1".into());
        }
        if !(256..=65536).contains(&self.frame_size) {
            return bad(format!(
                "frame_size {} is outside 256..=65536",
                self.frame_size
            ));
        }
        if self.headroom + 64 > self.frame_size {
            return bad(format!(
                "headroom {} leaves less than 64 bytes of a {} byte frame",
                self.headroom, self.frame_size
            ));
        }
        let bytes = (self.frames as usize)
            .checked_mul(self.frame_size)
            .ok_or_else(|| Error::Config("pool: frames * frame_size overflows".into()))?;
        Layout::from_size_align(bytes, 4096)
            .map_err(|e| Error::Config(format!("pool: {bytes} bytes: {e}")))
    }
}

// ===== impl Pool =====

/// A thread-local pool of fixed-size frame buffers. Cloning gives another handle to the same pool.
#[derive(Clone)]
pub struct Pool {
    inner: Rc<PoolInner>,
}

struct PoolInner {
    base: NonNull<u8>,
    layout: Layout,
    frame_size: u32,
    headroom: u16,
    frames: u32,
    /// Indices of free frames, used as a stack so the most recently freed (cache-hot) frame is
    /// reused first.
    free: FreeStack,
    exhausted: Cell<u64>,
}

impl Pool {
    /// Allocates the whole region up front; no allocation happens after this.
    #[cold]
    pub fn new(cfg: PoolConfig) -> Result<Self, Error> {
        let layout = cfg.validate()?;
        #[allow(unsafe_code)]
        // SAFETY: `layout` has a non-zero size (frames >= 1, frame_size >= 256), as `alloc_zeroed`
        // requires.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(raw).ok_or_else(|| {
            Error::Config(format!("pool: cannot allocate {} bytes", layout.size()))
        })?;
        Ok(Self {
            inner: Rc::new(PoolInner {
                base,
                layout,
                frame_size: cfg.frame_size as u32,
                headroom: cfg.headroom as u16,
                frames: cfg.frames,
                free: FreeStack::full(cfg.frames),
                exhausted: Cell::new(0),
            }),
        })
    }

    /// Takes a free frame, with `headroom` bytes in front of an empty data area. `None` when the
    /// pool is exhausted, which is counted in [`Pool::exhausted`].
    #[inline]
    pub fn alloc(&self) -> Option<Packet> {
        match self.inner.free.pop() {
            Some(idx) => Some(Packet {
                pool: Rc::clone(&self.inner),
                idx,
                off: self.inner.headroom,
                len: 0,
                meta: Meta::default(),
            }),
            None => {
                self.inner.exhausted.set(self.inner.exhausted.get() + 1);
                None
            }
        }
    }

    /// Allocates a packet and copies `data` into it; `None` if the pool is empty or `data` does not
    /// fit behind the headroom.
    #[inline]
    pub fn alloc_from(&self, data: &[u8]) -> Option<Packet> {
        if data.len() > self.max_data() {
            return None;
        }
        let mut p = self.alloc()?;
        p.append(data.len())?.copy_from_slice(data);
        Some(p)
    }

    /// Allocates a packet holding the first `len` bytes of `padded`. When `len` is at most 64 and
    /// `padded` has at least 64 bytes, it copies a fixed 64 bytes (an inline vector move instead of
    /// a call to `memcpy`); the bytes past `len` land in the frame's tailroom and are not part of
    /// the packet.
    #[inline]
    pub fn alloc_from_padded(&self, len: usize, padded: &[u8]) -> Option<Packet> {
        match padded.first_chunk::<SMALL>() {
            Some(line) if len <= SMALL => {
                let mut p = self.alloc()?;
                // A fresh frame holds `SMALL` bytes (`PoolConfig::validate`), so this cannot
                // fail; the chunk is then one fixed-size move.
                *p.append(SMALL)?.first_chunk_mut::<SMALL>()? = *line;
                p.len = len as u16;
                Some(p)
            }
            _ => self.alloc_from(padded.get(..len)?),
        }
    }

    /// Largest packet a fresh frame holds behind the headroom.
    #[inline]
    pub fn max_data(&self) -> usize {
        (self.inner.frame_size - u32::from(self.inner.headroom)) as usize
    }

    /// Bytes per frame buffer, headroom included.
    pub fn frame_size(&self) -> usize {
        self.inner.frame_size as usize
    }

    /// Total number of frames.
    pub fn capacity(&self) -> u32 {
        self.inner.frames
    }

    /// Frames currently free.
    pub fn available(&self) -> u32 {
        self.inner.free.len.get()
    }

    /// How many allocations failed because the pool was empty.
    pub fn exhausted(&self) -> u64 {
        self.inner.exhausted.get()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("frames", &self.inner.frames)
            .field("frame_size", &self.inner.frame_size)
            .field("available", &self.available())
            .field("exhausted", &self.exhausted())
            .finish()
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // Every packet holds an `Rc` to its pool, so the last reference is only dropped once all
        // frames are back: the region is never freed under a live packet.
        #[allow(unsafe_code)]
        // SAFETY: `base` came from `alloc_zeroed(self.layout)` and is freed exactly once, here.
        unsafe {
            alloc::dealloc(self.base.as_ptr(), self.layout)
        };
    }
}

// ===== impl Packet =====

/// What the receiving side learned about a packet besides its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Index of the port the packet arrived on.
    pub port: u16,
    /// Index of the rx queue within that port.
    pub queue: u16,
    /// Flow hash (the backend's RSS hash, or [`crate::flow::hash`] of the 5-tuple).
    pub hash: u32,
    /// Receive time in nanoseconds of [`crate::clock::now_ns`], taken once per burst.
    pub rx_ns: u64,
}

/// One frame buffer owned by exactly one handle. Its data lives in `[off, off + len)` of the frame;
/// the bytes in front of `off` are headroom for headers pushed later.
pub struct Packet {
    pool: Rc<PoolInner>,
    idx: u32,
    off: u16,
    len: u16,
    /// Receive-side metadata.
    pub meta: Meta,
}

const _: () = assert!(std::mem::size_of::<Packet>() == 32);

/// Frames up to this size are copied with one fixed-size move (see [`Pool::alloc_from_padded`]).
pub const SMALL: usize = 64;

/// A LIFO of free frame indices with a slot for every frame of the pool, so a push always fits.
/// `Cell`s, not a `RefCell<Vec>`: no borrow flag and no growth check on the per-packet path.
struct FreeStack {
    slots: Box<[Cell<u32>]>,
    len: Cell<u32>,
}

impl FreeStack {
    fn full(frames: u32) -> Self {
        FreeStack {
            slots: (0..frames).rev().map(Cell::new).collect(),
            len: Cell::new(frames),
        }
    }

    #[inline]
    fn pop(&self) -> Option<u32> {
        let n = self.len.get().checked_sub(1)?;
        let v = self.slots.get(n as usize)?.get();
        self.len.set(n);
        Some(v)
    }

    #[inline]
    fn push(&self, idx: u32) {
        let n = self.len.get();
        // Every frame is either free or held by exactly one packet, so there is always a slot.
        if let Some(s) = self.slots.get(n as usize) {
            s.set(idx);
            self.len.set(n + 1);
        }
    }
}

impl Packet {
    #[inline]
    fn frame_ptr(&self) -> *mut u8 {
        let at = self.idx as usize * self.pool.frame_size as usize;
        // `wrapping_add` keeps this safe code; `at` is in bounds since idx < frames.
        self.pool.base.as_ptr().wrapping_add(at)
    }

    /// The packet's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        #[allow(unsafe_code)]
        // SAFETY: `off + len <= frame_size` is kept by every method that changes them, so the
        // range lies in frame `idx`, which this handle owns alone until it is dropped; the shared
        // borrow of `self` keeps it from being written through `data_mut` meanwhile.
        unsafe {
            std::slice::from_raw_parts(self.frame_ptr().add(self.off.into()), self.len.into())
        }
    }

    /// The packet's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        #[allow(unsafe_code)]
        // SAFETY: as in `data`, and the exclusive borrow of `self` makes this the only reference.
        unsafe {
            std::slice::from_raw_parts_mut(self.frame_ptr().add(self.off.into()), self.len.into())
        }
    }

    /// The data followed by as much of the tailroom as makes at least [`SMALL`] bytes, when the
    /// frame has them: the source of a fixed-size copy of a small frame.
    #[inline]
    pub fn padded(&self) -> &[u8] {
        let room = self.len().max(SMALL).min(self.len() + self.tailroom());
        #[allow(unsafe_code)]
        // SAFETY: `off + room <= frame_size` (room is at most len + tailroom), so the range lies in
        // frame `idx`, owned by this handle; the shared borrow of `self` excludes writers.
        unsafe {
            std::slice::from_raw_parts(self.frame_ptr().add(self.off.into()), room)
        }
    }

    /// Length of the data.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len.into()
    }

    /// Free bytes in front of the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.off.into()
    }

    /// Free bytes behind the data.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.pool.frame_size as usize - usize::from(self.off) - usize::from(self.len)
    }

    /// Grows the data by `n` bytes at the end and returns them; `None` if the frame has no room.
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        let old = self.len();
        self.len += n as u16;
        Some(&mut self.data_mut()[old..])
    }

    /// Grows the data by `n` bytes at the front (into the headroom) and returns them.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.headroom() {
            return None;
        }
        self.off -= n as u16;
        self.len += n as u16;
        Some(&mut self.data_mut()[..n])
    }

    /// Removes `n` bytes from the front, e.g. a decapsulated header; `false` if shorter than `n`.
    #[inline]
    pub fn strip(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.off += n as u16;
        self.len -= n as u16;
        true
    }

    /// Cuts the data to `len` bytes; `false` (and unchanged) if it is shorter already.
    #[inline]
    pub fn truncate(&mut self, len: usize) -> bool {
        if len > self.len() {
            return false;
        }
        self.len = len as u16;
        true
    }
}

impl Drop for Packet {
    #[inline]
    fn drop(&mut self) {
        self.pool.free.push(self.idx);
    }
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("frame", &self.idx)
            .field("len", &self.len)
            .field("headroom", &self.off)
            .field("meta", &self.meta)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn small() -> Pool {
        Pool::new(PoolConfig {
            frames: 8,
            frame_size: 256,
            headroom: 32,
        })
        .unwrap()
    }

    #[test]
    fn exhaustion_is_counted_not_fatal() {
        let pool = small();
        let held: Vec<_> = (0..8).map(|_| pool.alloc().unwrap()).collect();
        assert_eq!(pool.available(), 0);
        assert!(pool.alloc().is_none());
        assert!(pool.alloc().is_none());
        assert_eq!(pool.exhausted(), 2);
        drop(held);
        assert_eq!(pool.available(), 8);
        assert!(pool.alloc().is_some());
    }

    #[test]
    fn bad_config_is_refused() {
        for cfg in [
            PoolConfig {
                frames: 0,
                ..Default::default()
            },
            PoolConfig {
                frame_size: 100,
                ..Default::default()
            },
            PoolConfig {
                frame_size: 256,
                headroom: 200,
                frames: 1,
            },
        ] {
            let err = Pool::new(cfg).unwrap_err().to_string();
            assert!(err.starts_with("config: pool:"), "{err}");
        }
    }

    #[test]
    fn headroom_and_tailroom() {
        let pool = small();
        let mut p = pool.alloc().unwrap();
        assert_eq!((p.headroom(), p.len(), p.tailroom()), (32, 0, 224));
        p.append(100).unwrap().fill(7);
        assert!(p.append(125).is_none());
        p.prepend(14).unwrap().fill(1);
        assert_eq!((p.headroom(), p.len(), p.tailroom()), (18, 114, 124));
        assert!(p.prepend(19).is_none());
        assert_eq!(
            &p.data()[..15],
            &[1; 14].iter().chain(&[7]).copied().collect::<Vec<_>>()[..]
        );
        assert!(p.strip(14));
        assert!(p.data().iter().all(|&b| b == 7));
        assert!(p.truncate(60) && !p.truncate(61));
        assert_eq!(p.len(), 60);
        assert!(pool.alloc_from(&[0; 225]).is_none());
        assert_eq!(pool.alloc_from(&[9; 224]).unwrap().data(), &[9; 224]);
    }

    #[test]
    fn pool_outlives_its_handle_while_packets_live() {
        let p = {
            let pool = small();
            pool.alloc_from(b"still here").unwrap()
        };
        assert_eq!(p.data(), b"still here");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(u8),
        Free(usize),
        Grow(usize, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<u8>().prop_map(Op::Alloc),
            any::<usize>().prop_map(Op::Free),
            (any::<usize>(), 0u8..64).prop_map(|(i, n)| Op::Grow(i, n)),
        ]
    }

    proptest! {
        /// Live packets never share a frame, frees return every frame, and the counts add up.
        #[test]
        fn live_packets_never_alias(ops in proptest::collection::vec(op(), 1..400)) {
            let pool = small();
            let mut live: Vec<(Packet, u8)> = Vec::new();
            let mut failed = 0;
            for op in ops {
                match op {
                    Op::Alloc(tag) => match pool.alloc() {
                        Some(mut p) => {
                            p.append(16).unwrap().fill(tag);
                            live.push((p, tag));
                        }
                        None => failed += 1,
                    },
                    Op::Free(i) if !live.is_empty() => {
                        live.swap_remove(i % live.len());
                    }
                    Op::Grow(i, n) if !live.is_empty() => {
                        let k = i % live.len();
                        let (p, tag) = &mut live[k];
                        if let Some(b) = p.append(n.into()) { b.fill(*tag) }
                    }
                    _ => {}
                }
                prop_assert_eq!(pool.available() as usize + live.len(), 8);
                prop_assert_eq!(pool.exhausted(), failed);
                let mut frames = HashMap::new();
                for (p, tag) in &live {
                    prop_assert!(p.data().iter().all(|b| b == tag));
                    prop_assert!(frames.insert(p.idx, ()).is_none());
                }
            }
            drop(live);
            prop_assert_eq!(pool.available(), 8);
        }
    }
}
