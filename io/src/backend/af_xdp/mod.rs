//! AF_XDP ports: one XDP socket per queue, frames steered into them by an XDP program.
//!
//! - [`xsk`]: a socket with its own UMEM (frame memory registered with the kernel) and its four
//!   rings: fill and rx for receiving, tx and completion for sending.
//! - [`bpf`]: the steering program, assembled in Rust and loaded with `bpf()` (no BPF toolchain),
//!   attached through a bpf_link so that it dies with the process.
//!
//! The data path, per burst:
//!
//! - rx: read up to a burst of descriptors from the rx ring, copy each frame into the pool, hand
//!   the same UMEM frames straight back on the fill ring; one `recvfrom` only if the kernel set
//!   `XDP_RING_NEED_WAKEUP` on the fill ring (zero-copy drivers do when they ran dry).
//! - tx: take back what the completion ring returns, copy the burst into free UMEM frames, publish
//!   them on the tx ring, and one `sendto` only if the kernel set `XDP_RING_NEED_WAKEUP` on the tx
//!   ring (in copy mode it always does: the `sendto` is what transmits).
//!
//! The backend asks for zero-copy first where the program runs in the driver, and falls back to
//! copy mode; it attaches native (driver) XDP first and falls back to generic (skb) XDP.
//! [`Port::mode`] says what it got, e.g. `af_xdp copy native`.
//!
//! Needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF). See docs/decisions.md, "AF_XDP".

mod bpf;
pub mod live;
mod xsk;

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use self::bpf::XdpAttach;
use self::xsk::{Bind, FRAME, Sizes, Socket};
use super::sys;
use super::tx_reject;
use crate::burst::Burst;
use crate::error::Error;
use crate::flow;
use crate::pool::Pool;
use crate::port::{Port, RxQueue, TxQueue, Wake};
use crate::stats::{DropReason, QueueStats};

/// Whether to ask for zero-copy sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// Zero-copy where the driver offers it, copy mode otherwise.
    #[default]
    Auto,
    /// Zero-copy or an error.
    Require,
    /// Copy mode always.
    Never,
}

/// Bytes the kernel keeps in front of a received frame in copy mode (`XDP_PACKET_HEADROOM`).
const XDP_PACKET_HEADROOM: usize = 256;

/// Shape of an AF_XDP port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfXdpConfig {
    /// Sockets (queues): rx queues `first_queue..first_queue + queues` of the interface.
    pub queues: usize,
    /// The first rx queue of the interface to bind.
    pub first_queue: u32,
    /// Entries of each ring, and UMEM frames for each direction (a power of two).
    pub ring_size: u32,
    /// Zero-copy policy.
    pub zero_copy: ZeroCopy,
    /// Native or generic XDP.
    pub attach: XdpAttach,
    /// IPv4 addresses of the host on this interface: frames to them (and all ARP) go to the
    /// kernel instead of the port, so the host stays reachable on an interface Brick polls.
    pub host_ipv4: Vec<Ipv4Addr>,
}

impl Default for AfXdpConfig {
    fn default() -> Self {
        Self {
            queues: 1,
            first_queue: 0,
            ring_size: 8192,
            zero_copy: ZeroCopy::Auto,
            attach: XdpAttach::Auto,
            host_ipv4: Vec::new(),
        }
    }
}

/// What a port got from the kernel and the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpMode {
    /// Frames stay in the UMEM from the NIC's DMA on (no copy in the kernel).
    pub zero_copy: bool,
    /// The program runs in the driver (native XDP), not in the generic skb path.
    pub native: bool,
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let copy = if self.zero_copy { "zero-copy" } else { "copy" };
        let xdp = if self.native { "native" } else { "generic" };
        write!(f, "af_xdp {copy} {xdp}")
    }
}

impl XdpMode {
    /// Parses what [`XdpMode`]'s `Display` wrote (as [`Port::mode`] returns it).
    pub fn parse(s: &str) -> Option<Self> {
        let mut w = s.split(' ');
        if w.next()? != "af_xdp" {
            return None;
        }
        let zero_copy = match w.next()? {
            "zero-copy" => true,
            "copy" => false,
            _ => return None,
        };
        let native = match w.next()? {
            "native" => true,
            "generic" => false,
            _ => return None,
        };
        w.next().is_none().then_some(Self { zero_copy, native })
    }
}

/// Opens `ifname` as a port of `cfg.queues` rx and tx queues: loads and attaches the steering
/// program, then binds one XDP socket per queue. The program is detached when the last queue of
/// the port is dropped (or the process dies).
#[cold]
pub fn open(ifname: &str, cfg: AfXdpConfig) -> Result<Port, Error> {
    let (rx, tx, mode) = open_queues(ifname, &cfg)?;
    let rx = rx
        .into_iter()
        .map(|q| Box::new(q) as Box<dyn RxQueue>)
        .collect();
    let tx = tx
        .into_iter()
        .map(|q| Box::new(q) as Box<dyn TxQueue>)
        .collect();
    let ctx = |what: &str| format!("af_xdp {ifname}: {what}");
    let mac = sys::hwaddr(ifname).map_err(|e| Error::os(ctx("SIOCGIFHWADDR"), e))?;
    let mtu = sys::mtu(ifname).map_err(|e| Error::os(ctx("SIOCGIFMTU"), e))?;
    Ok(Port::new(ifname, rx, tx)
        .with_mode(mode.to_string())
        .with_link(mac, mtu))
}

#[cold]
fn open_queues(
    ifname: &str,
    cfg: &AfXdpConfig,
) -> Result<(Vec<AfXdpRx>, Vec<AfXdpTx>, XdpMode), Error> {
    let last = cfg.first_queue as u64 + cfg.queues as u64;
    if !(1..=bpf::MAX_QUEUES as usize).contains(&cfg.queues)
        || last > u64::from(bpf::MAX_QUEUES)
        || !cfg.ring_size.is_power_of_two()
        || !(64..=16384).contains(&cfg.ring_size)
    {
        return Err(Error::Config(format!(
            "af_xdp {ifname}: queues 1..={m} within rx queues 0..{m}, ring_size a power of two \
             in 64..=16384 (got {cfg:?})",
            m = bpf::MAX_QUEUES
        )));
    }
    let ifindex = sys::ifindex(ifname)?;
    let ctx = |what: &str| format!("af_xdp {ifname}: {what}");
    // A received frame sits in one UMEM frame behind the kernel's XDP headroom.
    let mtu = sys::mtu(ifname).map_err(|e| Error::os(ctx("SIOCGIFMTU"), e))?;
    let max_frame = mtu + 14;
    if max_frame > FRAME - XDP_PACKET_HEADROOM {
        return Err(Error::Config(ctx(&format!(
            "MTU {mtu} is above the {} this backend receives (frames of {FRAME} B, no \
             multi-buffer); lower it with `ip link set {ifname} mtu 1500`",
            FRAME - XDP_PACKET_HEADROOM - 14
        ))));
    }
    let program = bpf::load(&ctx("XDP program"), &cfg.host_ipv4)?;
    let xdp = Arc::new(bpf::attach(
        &format!("af_xdp {ifname}"),
        ifindex,
        program,
        cfg.attach,
    )?);
    let sizes = Sizes {
        rx: cfg.ring_size,
        tx: cfg.ring_size,
    };
    let mut rx = Vec::with_capacity(cfg.queues);
    let mut tx = Vec::with_capacity(cfg.queues);
    let mut zero_copy = true;
    for q in 0..cfg.queues as u32 {
        let queue = cfg.first_queue + q;
        let open = |bind| Socket::open(&ctx, ifname, ifindex, queue, sizes, bind, Arc::clone(&xdp));
        let sock = match cfg.zero_copy {
            ZeroCopy::Never => open(Bind::Copy)?,
            ZeroCopy::Require => open(Bind::ZeroCopy)?,
            // Generic XDP never offers zero-copy; in the driver, try it first.
            ZeroCopy::Auto if !xdp.native => open(Bind::Copy)?,
            ZeroCopy::Auto => match open(Bind::ZeroCopy) {
                Ok(s) => s,
                Err(_) => open(Bind::Copy)?,
            },
        };
        zero_copy &= sock.zero_copy;
        let sock = Arc::new(sock);
        rx.push(AfXdpRx {
            sock: Arc::clone(&sock),
            rx_cons: 0,
            fill_prod: sizes.rx,
            kernel_drops: 0,
            bursts: 0,
            stats: Arc::default(),
        });
        let first_tx = u64::from(sizes.rx) * FRAME as u64;
        let free = (0..u64::from(sizes.tx))
            .map(|i| first_tx + i * FRAME as u64)
            .collect();
        tx.push(AfXdpTx {
            sock,
            tx_prod: 0,
            comp_cons: 0,
            free,
            max_frame,
            invalid: 0,
            stats: Arc::default(),
        });
    }
    let mode = XdpMode {
        zero_copy,
        native: xdp.native,
    };
    Ok((rx, tx, mode))
}

/// Reads descriptor `idx` of an rx or tx ring.
#[inline]
fn read_desc(ring: &xsk::Ring, idx: u32) -> (u64, u32) {
    let p = ring.slot(idx, std::mem::size_of::<libc::xdp_desc>());
    #[allow(unsafe_code)]
    // SAFETY: `p` is a slot of the ring (16-byte descriptors, 8-byte aligned) that the kernel has
    // published to us and does not write until we advance the consumer index.
    let d = unsafe { p.cast::<libc::xdp_desc>().read() };
    (d.addr, d.len)
}

/// The UMEM frame holding `[addr, addr + len)`, if that range lies in one frame of
/// `[lo, hi)`; `Err(Some(frame))` if only the length is wrong, `Err(None)` if the address is.
#[inline]
fn frame_of(addr: u64, len: u32, lo: u64, hi: u64) -> Result<u64, Option<u64>> {
    if addr < lo || addr >= hi {
        return Err(None);
    }
    let frame = addr - addr % FRAME as u64;
    if addr - frame + u64::from(len) > FRAME as u64 {
        return Err(Some(frame));
    }
    Ok(frame)
}

// ===== impl AfXdpRx =====

#[derive(Debug)]
struct AfXdpRx {
    sock: Arc<Socket>,
    /// Our copy of the rx ring's consumer index.
    rx_cons: u32,
    /// Our copy of the fill ring's producer index.
    fill_prod: u32,
    /// Kernel drop counters as last read.
    kernel_drops: u64,
    /// Bursts polled (wrapping), to pace the reads of the kernel's counters.
    bursts: u32,
    stats: Arc<QueueStats>,
}

/// Bursts between two reads of the kernel's drop counters by a queue that never idles.
const KERNEL_STATS_EVERY: u32 = 4096;

impl AfXdpRx {
    /// Counts what the kernel dropped for this socket (no room on the rx ring, no frame on the
    /// fill ring) since the last look.
    #[cold]
    fn count_kernel_drops(&mut self) {
        if let Some(st) = self.sock.kernel_stats() {
            let total = st.rx_dropped + st.rx_ring_full;
            self.stats.add_drop(
                DropReason::KernelDrop,
                total.saturating_sub(self.kernel_drops),
            );
            self.kernel_drops = total;
        }
    }
}

impl RxQueue for AfXdpRx {
    fn rx_burst(&mut self, pool: &Pool, burst: &mut Burst) -> usize {
        // A busy poller never blocks (and never calls `arm`): look at the kernel's drop counters
        // every KERNEL_STATS_EVERY bursts, one getsockopt, so overload shows up while it lasts.
        self.bursts = self.bursts.wrapping_add(1);
        if self.bursts.is_multiple_of(KERNEL_STATS_EVERY) {
            self.count_kernel_drops();
        }
        let s = &*self.sock;
        let avail =
            s.rx.producer()
                .load(Ordering::Acquire)
                .wrapping_sub(self.rx_cons);
        let n = avail.min(burst.room() as u32);
        if n == 0 {
            if s.fill.needs_wakeup() {
                s.wake_rx();
            }
            return 0;
        }
        let (mut got, mut bytes) = (0u64, 0u64);
        let mut drops = [0u64; DropReason::ALL.len()];
        let rx_end = u64::from(s.sizes.rx) * FRAME as u64;
        let mut fill = self.fill_prod;
        // Free fill slots: never fewer than the frames we return, unless the kernel handed us a
        // frame twice; such a frame is then not returned again.
        let mut room = s.fill.size
            - fill
                .wrapping_sub(s.fill.consumer().load(Ordering::Acquire))
                .min(s.fill.size);
        for i in 0..n {
            let (addr, len) = read_desc(&s.rx, self.rx_cons.wrapping_add(i));
            let frame = match frame_of(addr, len, 0, rx_end) {
                Ok(frame) => {
                    #[allow(unsafe_code)]
                    // SAFETY: `[addr, addr + len)` lies in one rx frame of the UMEM (checked by
                    // `frame_of`), which the kernel handed to us and does not touch until we
                    // put it back on the fill ring below.
                    let data = unsafe {
                        std::slice::from_raw_parts(s.umem.at(addr as usize), len as usize)
                    };
                    match pool.alloc_from(data) {
                        Some(mut p) => {
                            p.meta.hash = flow::hash(data);
                            got += 1;
                            bytes += u64::from(len);
                            let _ = burst.push(p);
                        }
                        None if len == 0 => drops[DropReason::Empty as usize] += 1,
                        None if len as usize > pool.max_data() => {
                            drops[DropReason::Oversize as usize] += 1
                        }
                        None => drops[DropReason::PoolExhausted as usize] += 1,
                    }
                    Some(frame)
                }
                // A descriptor outside the rx frames: dropped, and its frame (if any) reused.
                Err(frame) => {
                    drops[DropReason::Rejected as usize] += 1;
                    frame
                }
            };
            if let (Some(frame), true) = (frame, room != 0) {
                room -= 1;
                #[allow(unsafe_code)]
                // SAFETY: a free slot of the fill ring (`room` counts the slots the kernel has
                // consumed and we have not refilled); the kernel reads it only after the producer
                // index is published below.
                unsafe {
                    s.fill.slot(fill, 8).cast::<u64>().write(frame)
                };
                fill = fill.wrapping_add(1);
            }
        }
        self.rx_cons = self.rx_cons.wrapping_add(n);
        s.rx.consumer().store(self.rx_cons, Ordering::Release);
        if fill != self.fill_prod {
            self.fill_prod = fill;
            s.fill.producer().store(fill, Ordering::Release);
            if s.fill.needs_wakeup() {
                s.wake_rx();
            }
        }
        self.stats.add_rx(got, bytes);
        self.stats.add_drops(&drops);
        got as usize
    }

    fn wake(&self) -> Wake {
        use std::os::fd::AsRawFd;
        Wake::Fd(self.sock.fd.as_raw_fd())
    }

    fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }

    /// Before blocking: count what the kernel dropped meanwhile.
    fn arm(&mut self) {
        self.count_kernel_drops();
    }
}

// ===== impl AfXdpTx =====

#[derive(Debug)]
struct AfXdpTx {
    sock: Arc<Socket>,
    /// Our copy of the tx ring's producer index.
    tx_prod: u32,
    /// Our copy of the completion ring's consumer index.
    comp_cons: u32,
    /// UMEM addresses of the tx frames we own (capacity: all tx frames; never grows).
    free: Vec<u64>,
    /// Largest frame the interface sends: MTU + Ethernet header.
    max_frame: usize,
    /// The kernel's count of invalid tx descriptors, as last read.
    invalid: u64,
    stats: Arc<QueueStats>,
}

impl AfXdpTx {
    /// Takes back the frames the kernel has sent. Returns how many completions were bogus.
    #[inline]
    fn reap(&mut self) -> u64 {
        let s = &*self.sock;
        let n = s
            .comp
            .producer()
            .load(Ordering::Acquire)
            .wrapping_sub(self.comp_cons);
        if n == 0 {
            return 0;
        }
        let lo = u64::from(s.sizes.rx) * FRAME as u64;
        let hi = s.umem.len() as u64;
        // The free list never holds more than the tx frames: a bogus extra completion must not
        // hand a frame to two descriptors (the tx ring has exactly as many slots).
        let owned = s.sizes.tx as usize;
        let mut bad = 0;
        for i in 0..n {
            let p = s.comp.slot(self.comp_cons.wrapping_add(i), 8);
            #[allow(unsafe_code)]
            // SAFETY: a slot of the completion ring the kernel has published and does not write
            // until we advance the consumer index.
            let addr = unsafe { p.cast::<u64>().read() };
            match frame_of(addr, 0, lo, hi) {
                Ok(frame) if self.free.len() < owned => self.free.push(frame),
                _ => bad += 1,
            }
        }
        self.comp_cons = self.comp_cons.wrapping_add(n);
        s.comp.consumer().store(self.comp_cons, Ordering::Release);
        bad
    }
}

impl TxQueue for AfXdpTx {
    fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        let mut drops = [0u64; DropReason::ALL.len()];
        drops[DropReason::Rejected as usize] += self.reap();
        let (mut sent, mut bytes) = (0u64, 0u64);
        let s = Arc::clone(&self.sock);
        let desc = std::mem::size_of::<libc::xdp_desc>();
        for p in burst.drain() {
            let data = p.data();
            let tagged = data.len() > 14 && matches!(data[12..14], [0x81, 0x00] | [0x88, 0xa8]);
            let max = self.max_frame + if tagged { 4 } else { 0 };
            if let Some(why) = tx_reject(data.len(), max) {
                drops[why as usize] += 1;
                continue;
            }
            // Every tx frame we own has a tx ring slot: the ring is as long as there are frames.
            let Some(frame) = self.free.pop() else {
                drops[DropReason::TxFull as usize] += 1;
                continue;
            };
            #[allow(unsafe_code)]
            // SAFETY: `frame` is a tx frame of the UMEM that we own (from the free list) and
            // `data.len() <= FRAME`; the tx ring slot at `tx_prod` is free since at most as many
            // frames as slots are in flight; the kernel reads neither before the producer index
            // is published below.
            unsafe {
                std::ptr::copy_nonoverlapping(data.as_ptr(), s.umem.at(frame as usize), data.len());
                s.tx.slot(self.tx_prod, desc)
                    .cast::<libc::xdp_desc>()
                    .write(libc::xdp_desc {
                        addr: frame,
                        len: data.len() as u32,
                        options: 0,
                    });
            }
            self.tx_prod = self.tx_prod.wrapping_add(1);
            sent += 1;
            bytes += data.len() as u64;
        }
        if sent != 0 {
            s.tx.producer().store(self.tx_prod, Ordering::Release);
        }
        // Kick also when nothing new was queued but frames still wait on the ring (a kernel
        // that sends only part of the ring per call, or an EAGAIN): otherwise no completions come
        // back, the free list stays empty, and every later burst is dropped as tx_full.
        if s.tx.consumer().load(Ordering::Acquire) != self.tx_prod && s.tx.needs_wakeup() {
            s.wake_tx();
        }
        self.stats.add_tx(sent, bytes);
        self.stats.add_drops(&drops);
        sent as usize
    }

    /// Kicks the kernel if frames wait on the tx ring, takes back completions, and counts the
    /// descriptors the kernel refused.
    fn flush(&mut self) {
        let s = Arc::clone(&self.sock);
        if s.tx.consumer().load(Ordering::Acquire) != self.tx_prod {
            s.wake_tx();
        }
        let bad = self.reap();
        let invalid = s
            .kernel_stats()
            .map_or(self.invalid, |st| st.tx_invalid_descs);
        self.stats.add_drop(
            DropReason::Rejected,
            bad + invalid.saturating_sub(self.invalid),
        );
        self.invalid = invalid;
    }

    fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::Netns;

    /// Namespaces `{tag}{pid}a` and `..b` joined by v0 <-> v1, one queue.
    fn veth_pair(tag: &str) -> (Netns, Netns) {
        let tag = format!("{tag}{}", std::process::id() % 100_000);
        let a = Netns::new(&format!("{tag}a")).unwrap();
        let b = Netns::new(&format!("{tag}b")).unwrap();
        a.veth("v0", &b, "v1", 1).unwrap();
        (a, b)
    }

    #[test]
    fn frame_of_keeps_descriptors_inside_their_frame() {
        let f = FRAME as u64;
        assert_eq!(frame_of(256, 60, 0, 4 * f), Ok(0));
        assert_eq!(frame_of(f + 256, 1500, 0, 4 * f), Ok(f));
        assert_eq!(frame_of(f + 256, 1900, 0, 4 * f), Err(Some(f)));
        assert_eq!(frame_of(4 * f, 60, 0, 4 * f), Err(None));
        assert_eq!(frame_of(u64::MAX - 10, 60, 0, 4 * f), Err(None));
        assert_eq!(frame_of(f, 0, 2 * f, 4 * f), Err(None));
        assert_eq!(frame_of(3 * f, 0, 2 * f, 4 * f), Ok(3 * f));
    }

    #[test]
    fn mode_round_trips_through_its_text() {
        for zero_copy in [false, true] {
            for native in [false, true] {
                let m = XdpMode { zero_copy, native };
                assert_eq!(XdpMode::parse(&m.to_string()), Some(m));
            }
        }
        assert_eq!(XdpMode::parse("af_packet"), None);
        assert_eq!(
            XdpMode {
                zero_copy: false,
                native: true
            }
            .to_string(),
            "af_xdp copy native"
        );
    }

    /// Input: descriptors the kernel never wrote (an address past the UMEM, a length past its
    /// frame), placed on a live socket's rx ring. Output: both dropped as `Rejected`, no packet,
    /// no panic; the fill ring is not overfilled.
    #[test]
    fn malformed_rx_descriptors_are_dropped_and_counted() {
        if !crate::netns::is_root() {
            eprintln!("skipped malformed_rx_descriptors_are_dropped_and_counted: needs root");
            return;
        }
        let (a, _b) = veth_pair("bkxd");
        let (mut rx, _tx, _) = a
            .enter(|| open_queues("v0", &AfXdpConfig::default()))
            .unwrap()
            .unwrap();
        let q = &mut rx[0];
        let s = Arc::clone(&q.sock);
        let desc = std::mem::size_of::<libc::xdp_desc>();
        let prod = s.rx.producer().load(Ordering::Acquire);
        for (k, d) in [(s.umem.len() as u64 + 256, 60), (256, FRAME as u32)]
            .into_iter()
            .enumerate()
        {
            #[allow(unsafe_code)]
            // SAFETY: a slot of the rx ring that the kernel has not published (no traffic flows
            // on this veth); written before the producer index below, as the kernel would.
            unsafe {
                s.rx.slot(prod.wrapping_add(k as u32), desc)
                    .cast::<libc::xdp_desc>()
                    .write(libc::xdp_desc {
                        addr: d.0,
                        len: d.1,
                        options: 0,
                    })
            };
        }
        s.rx.producer()
            .store(prod.wrapping_add(2), Ordering::Release);
        let pool = Pool::new(crate::PoolConfig::default()).unwrap();
        let mut burst = Burst::new(32);
        assert_eq!(q.rx_burst(&pool, &mut burst), 0);
        let st = q.stats.snapshot();
        assert_eq!(st.drops(DropReason::Rejected), 2, "{st}");
        assert_eq!(st.rx_packets, 0);
        assert_eq!(
            q.fill_prod, s.sizes.rx,
            "fill ring was full: nothing returned"
        );
        assert_eq!(q.rx_burst(&pool, &mut burst), 0, "ring consumed");
        // The wake-up a zero-copy driver asks for (copy mode on veth never does): harmless here.
        s.wake_rx();
        assert_eq!(q.rx_burst(&pool, &mut burst), 0);
    }

    /// Input: a program attached the legacy way (netlink, generic mode, as `ip link set xdp`
    /// would) on the interface. Output: opening the port replaces it, exactly one program is
    /// attached, and none once the port is gone.
    #[test]
    fn a_legacy_program_is_replaced_not_stacked() {
        if !crate::netns::is_root() {
            eprintln!("skipped a_legacy_program_is_replaced_not_stacked: needs root");
            return;
        }
        let (a, _b) = veth_pair("bkxl");
        let show = || a.exec(&["ip", "-d", "link", "show", "dev", "v0"]).unwrap();
        a.enter(|| {
            use std::os::fd::AsRawFd;
            let p = bpf::load("test", &[]).unwrap();
            let ifindex = sys::ifindex("v0").unwrap();
            bpf::netlink_xdp(ifindex, p.prog.as_raw_fd(), bpf::XDP_FLAGS_SKB_MODE).unwrap();
        })
        .unwrap();
        let before = show();
        assert!(before.contains("xdpgeneric"), "{before}");
        assert_eq!(before.matches("prog/xdp id").count(), 1, "{before}");
        let (rx, tx, mode) = a
            .enter(|| open_queues("v0", &AfXdpConfig::default()))
            .unwrap()
            .unwrap();
        assert!(mode.native);
        let during = show();
        assert!(!during.contains("xdpgeneric"), "{during}");
        assert_eq!(during.matches("prog/xdp id").count(), 1, "{during}");
        drop((rx, tx));
        let after = show();
        assert_eq!(after.matches("prog/xdp id").count(), 0, "{after}");
    }

    #[test]
    fn bad_config_is_refused() {
        let cfg = AfXdpConfig {
            ring_size: 1000,
            ..Default::default()
        };
        let e = open("lo", cfg).unwrap_err().to_string();
        assert!(e.contains("af_xdp lo") && e.contains("ring_size"), "{e}");
        let e = open("brick-nope0", AfXdpConfig::default()).unwrap_err();
        assert!(matches!(e, Error::NoSuchInterface(_)), "{e}");
    }
}
