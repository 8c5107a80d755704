//! One XDP socket: its UMEM (frame memory shared with the kernel) and its four rings.
//!
//! The UMEM of a queue is split in two fixed halves: rx frames circulate fill ring -> rx ring ->
//! fill ring, tx frames circulate free list -> tx ring -> completion ring -> free list. The rx half
//! of the queue owns the fill and rx rings, the tx half the tx and completion rings, so the two
//! halves can live on different threads without sharing a cache line they write.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::bpf::Attachment;
use crate::backend::sys::{self, setsockopt};
use crate::error::Error;

/// `XDP_MAX_TX_SKB_BUDGET` (linux/if_xdp.h, Linux >= 6.17).
const XDP_MAX_TX_SKB_BUDGET: i32 = 9;

/// Bytes per UMEM frame (aligned chunk mode: a power of two, 2048..=4096).
pub(crate) const FRAME: usize = 2048;

/// An anonymous mapping, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    #[cold]
    fn new(len: usize, fd: Option<(&OwnedFd, u64)>) -> std::io::Result<Self> {
        let (flags, raw, off) = match fd {
            Some((fd, off)) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd.as_raw_fd(), off),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            ),
        };
        #[allow(unsafe_code)]
        // SAFETY: a fresh mapping of `len` bytes at an address the kernel chooses; the offset is
        // one the socket defines for its rings (or 0 for anonymous memory).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                raw,
                off as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self {
            ptr: NonNull::new(p.cast()).expect("mmap returned a non-null mapping"),
            len,
        })
    }

    #[inline]
    pub(crate) fn at(&self, off: usize) -> *mut u8 {
        self.ptr.as_ptr().wrapping_add(off)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing uses any more.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len)
        };
    }
}

/// One ring shared with the kernel: producer and consumer indices, flags, descriptors.
#[derive(Debug)]
pub(crate) struct Ring {
    map: Mapping,
    producer: usize,
    consumer: usize,
    flags: usize,
    desc: usize,
    pub(crate) size: u32,
}

impl Ring {
    #[cold]
    fn map(
        fd: &OwnedFd,
        off: &libc::xdp_ring_offset,
        pgoff: u64,
        size: u32,
        desc_size: usize,
    ) -> std::io::Result<Self> {
        let len = off.desc as usize + size as usize * desc_size;
        Ok(Self {
            map: Mapping::new(len, Some((fd, pgoff)))?,
            producer: off.producer as usize,
            consumer: off.consumer as usize,
            flags: off.flags as usize,
            desc: off.desc as usize,
            size,
        })
    }

    #[inline]
    fn word(&self, off: usize) -> &AtomicU32 {
        #[allow(unsafe_code)]
        // SAFETY: `off` is one of the producer/consumer/flags offsets the kernel gave for this
        // mapping: 4-byte aligned, inside it, alive as long as `self`; the kernel accesses these
        // words concurrently, which is what atomics are for.
        unsafe {
            AtomicU32::from_ptr(self.map.at(off).cast())
        }
    }

    /// The producer index.
    #[inline]
    pub(crate) fn producer(&self) -> &AtomicU32 {
        self.word(self.producer)
    }

    /// The consumer index.
    #[inline]
    pub(crate) fn consumer(&self) -> &AtomicU32 {
        self.word(self.consumer)
    }

    /// True when the kernel asks to be woken up (`XDP_RING_NEED_WAKEUP`).
    #[inline]
    pub(crate) fn needs_wakeup(&self) -> bool {
        self.word(self.flags).load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// The address of descriptor slot `idx` (masked to the ring).
    #[inline]
    pub(crate) fn slot(&self, idx: u32, desc_size: usize) -> *mut u8 {
        self.map
            .at(self.desc + (idx & (self.size - 1)) as usize * desc_size)
    }
}

/// Frame counts of one socket (each a power of two: it is also the size of its rings).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    pub(crate) rx: u32,
    pub(crate) tx: u32,
}

/// One XDP socket bound to one queue of an interface, with its own UMEM.
#[derive(Debug)]
pub(crate) struct Socket {
    // Field order is drop order: the socket closes before its rings and memory are unmapped.
    pub(crate) fd: OwnedFd,
    pub(crate) rx: Ring,
    pub(crate) fill: Ring,
    pub(crate) tx: Ring,
    pub(crate) comp: Ring,
    pub(crate) umem: Mapping,
    pub(crate) sizes: Sizes,
    pub(crate) zero_copy: bool,
    /// Keeps the program attached while any queue of the port lives.
    pub(crate) _xdp: Arc<Attachment>,
}

// SAFETY: the mappings are shared with the kernel, and between the two halves of one queue only
// in disjoint parts: the rx half touches the fill and rx rings and the rx frames of the UMEM, the
// tx half the tx and completion rings and the tx frames. The kernel side is synchronised through
// the ring indices with acquire/release atomics.
#[allow(unsafe_code)]
unsafe impl Send for Socket {}
// SAFETY: see `Send`.
#[allow(unsafe_code)]
unsafe impl Sync for Socket {}

/// `sockaddr_xdp` flags to ask for.
pub(crate) enum Bind {
    ZeroCopy,
    Copy,
}

impl Socket {
    /// Creates the socket, registers its UMEM, maps the rings, fills the fill ring and binds to
    /// `queue` of `ifindex`.
    #[cold]
    pub(crate) fn open(
        ctx: &dyn Fn(&str) -> String,
        ifname: &str,
        ifindex: u32,
        queue: u32,
        sizes: Sizes,
        bind: Bind,
        xdp: Arc<Attachment>,
    ) -> Result<Self, Error> {
        #[allow(unsafe_code)]
        // SAFETY: plain syscall.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAFNOSUPPORT) {
                return Err(Error::Os {
                    what: ctx(
                        "socket(AF_XDP): this kernel has no XDP sockets (needs Linux >= 4.18 \
                         built with CONFIG_XDP_SOCKETS=y); use the af_packet backend instead",
                    ),
                    source: e,
                });
            }
            return Err(Error::os(ctx("socket(AF_XDP)"), e));
        }
        #[allow(unsafe_code)]
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let frames = (sizes.rx + sizes.tx) as usize;
        let umem = Mapping::new(frames * FRAME, None)
            .map_err(|e| Error::os(ctx("allocate the UMEM"), e))?;
        let reg = libc::xdp_umem_reg {
            addr: umem.at(0) as u64,
            len: umem.len() as u64,
            chunk_size: FRAME as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        sys::setsockopt_io(&fd, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg).map_err(|e| {
            Error::Os {
                what: ctx(&format!(
                    "register the UMEM ({} KiB): the kernel refused to pin it; raise the \
                     locked-memory limit (`ulimit -l`, LimitMEMLOCK= in systemd) or grant \
                     CAP_IPC_LOCK, or use smaller rings",
                    umem.len() / 1024
                )),
                source: e,
            }
        })?;
        for (opt, n, name) in [
            (libc::XDP_UMEM_FILL_RING, sizes.rx, "XDP_UMEM_FILL_RING"),
            (
                libc::XDP_UMEM_COMPLETION_RING,
                sizes.tx,
                "XDP_UMEM_COMPLETION_RING",
            ),
            (libc::XDP_RX_RING, sizes.rx, "XDP_RX_RING"),
            (libc::XDP_TX_RING, sizes.tx, "XDP_TX_RING"),
        ] {
            setsockopt(&fd, libc::SOL_XDP, opt, &n, &ctx(name))?;
        }
        // Linux >= 6.17: let one send() push the whole tx ring in copy mode instead of 32
        // frames; older kernels keep their batch of 32.
        let _ = sys::setsockopt_io(&fd, libc::SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &sizes.tx);
        #[allow(unsafe_code)]
        // SAFETY: all-zero is a valid `xdp_mmap_offsets`.
        let zero: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let off = sys::getsockopt(&fd, libc::SOL_XDP, libc::XDP_MMAP_OFFSETS, zero)
            .map_err(|e| Error::os(ctx("XDP_MMAP_OFFSETS"), e))?;
        let ring =
            |o, pg, n, d| Ring::map(&fd, o, pg, n, d).map_err(|e| Error::os(ctx("mmap ring"), e));
        let desc = std::mem::size_of::<libc::xdp_desc>();
        let rx = ring(&off.rx, libc::XDP_PGOFF_RX_RING as u64, sizes.rx, desc)?;
        let tx = ring(&off.tx, libc::XDP_PGOFF_TX_RING as u64, sizes.tx, desc)?;
        let fill = ring(&off.fr, libc::XDP_UMEM_PGOFF_FILL_RING, sizes.rx, 8)?;
        let comp = ring(&off.cr, libc::XDP_UMEM_PGOFF_COMPLETION_RING, sizes.tx, 8)?;

        // Hand every rx frame to the kernel before binding.
        for i in 0..sizes.rx {
            #[allow(unsafe_code)]
            // SAFETY: slot `i` of the fill ring (8-byte aligned `u64`s, `size` of them); nothing
            // reads it before the producer index is published below.
            unsafe {
                fill.slot(i, 8)
                    .cast::<u64>()
                    .write((i as usize * FRAME) as u64)
            };
        }
        fill.producer().store(sizes.rx, Ordering::Release);

        let flags = libc::XDP_USE_NEED_WAKEUP
            | match bind {
                Bind::ZeroCopy => libc::XDP_ZEROCOPY,
                Bind::Copy => libc::XDP_COPY,
            };
        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: `sa` is a live sockaddr_xdp of the size passed.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const sa).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                let have = sys::rx_queues(ifname)
                    .map_or("an unknown number of".to_string(), |n| n.to_string());
                return Err(Error::Os {
                    what: ctx(&format!(
                        "bind to rx queue {queue}: refused; the interface has {have} rx queues \
                         (see `ethtool -l {ifname}`; a veth gets more with `numrxqueues N \
                         numtxqueues N` when created)"
                    )),
                    source: e,
                });
            }
            return Err(Error::os(ctx(&format!("bind to rx queue {queue}")), e));
        }
        #[allow(unsafe_code)]
        // SAFETY: all-zero is a valid `xdp_options`.
        let zero: libc::xdp_options = unsafe { std::mem::zeroed() };
        let zero_copy = sys::getsockopt(&fd, libc::SOL_XDP, libc::XDP_OPTIONS, zero)
            .is_ok_and(|o| o.flags & libc::XDP_OPTIONS_ZEROCOPY != 0);
        super::bpf::map_update(&xdp.program.xsks, queue, fd.as_raw_fd() as u32).map_err(|e| {
            Error::os(
                ctx(&format!(
                    "insert the socket of queue {queue} into the XSKMAP"
                )),
                e,
            )
        })?;
        Ok(Self {
            fd,
            rx,
            fill,
            tx,
            comp,
            umem,
            sizes,
            zero_copy,
            _xdp: xdp,
        })
    }

    /// Kernel counters of this socket (`XDP_STATISTICS`).
    #[cold]
    pub(crate) fn kernel_stats(&self) -> Option<libc::xdp_statistics> {
        #[allow(unsafe_code)]
        // SAFETY: all-zero is a valid `xdp_statistics`.
        let zero: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        sys::getsockopt(&self.fd, libc::SOL_XDP, libc::XDP_STATISTICS, zero).ok()
    }

    /// Wakes the kernel's rx (fill ring) processing: `recvfrom(MSG_DONTWAIT)`.
    #[inline]
    pub(crate) fn wake_rx(&self) {
        #[allow(unsafe_code)]
        // SAFETY: a zero-length receive on our own socket, no buffer, no address.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }

    /// Wakes the kernel's tx processing: `sendto(MSG_DONTWAIT)`.
    #[inline]
    pub(crate) fn wake_tx(&self) {
        #[allow(unsafe_code)]
        // SAFETY: a zero-length send on our own socket; the kernel reads the tx ring.
        unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
    }
}
