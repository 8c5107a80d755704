//! Linux packet sockets with mmap rings: TPACKET_V3 for both directions, one socket per queue.
//!
//! - RX: a TPACKET_V3 block ring. The kernel fills a block with many frames and hands it over whole
//!   (when full, or after `retire_ms`), so a burst costs no syscall at all; the rx half copies
//!   frames into its pool and gives each block back once it is read.
//! - TX: a frame ring in the same mapping. `tx_burst` copies a burst into free slots, marks them
//!   `SEND_REQUEST` and kicks the kernel with one `send()` per burst. `PACKET_QDISC_BYPASS` skips
//!   the qdisc layer (as a NIC-owning poll-mode driver would); `PACKET_LOSS` makes the kernel skip a
//!   malformed slot instead of stalling the ring.
//! - N queues: N sockets in one `PACKET_FANOUT_HASH` group, so the kernel spreads flows over them
//!   by its flow hash (one flow, one queue). `PACKET_IGNORE_OUTGOING` keeps a port from receiving
//!   what it sends itself.
//!
//! Needs CAP_NET_RAW. See docs/decisions.md for why TPACKET_V3.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::sys::{self, setsockopt};
use super::tx_reject;
use crate::burst::Burst;
use crate::error::Error;
use crate::flow;
use crate::pool::Pool;
use crate::port::{Port, RxQueue, TxQueue, Wake};
use crate::stats::{DropReason, QueueStats};

/// Offset of the frame data in a TX slot: the kernel's `tp_hdrlen - sizeof(sockaddr_ll)`, i.e.
/// `TPACKET_ALIGN(sizeof(tpacket3_hdr))`.
const TX_DATA_OFF: usize = libc::TPACKET3_HDRLEN - std::mem::size_of::<libc::sockaddr_ll>();
const PAGE: usize = 4096;
/// `BLK_HDR_LEN`: the block descriptor, 8-byte aligned.
const BLOCK_HEADER: usize = 48;

/// Shape of an AF_PACKET port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// Sockets (queues) in the fanout group.
    pub queues: usize,
    /// Put the interface into promiscuous mode while the port is open.
    pub promisc: bool,
    /// Send straight to the driver, bypassing the qdisc.
    pub qdisc_bypass: bool,
    /// Bytes per RX block (a multiple of 4096; raised to hold one frame of the interface's MTU).
    /// The kernel hands a block over when it is full or `rx_retire_ms` after its first frame,
    /// so a small block keeps latency low at moderate rates: 8 KiB holds about 70 64-byte
    /// frames, 256 KiB some 2300 (through a Brick node at 300 kpps, median latency 0.23 ms
    /// against 0.87; docs/benchmarks.md).
    pub rx_block_size: usize,
    /// RX blocks per queue.
    pub rx_blocks: usize,
    /// Longest time the kernel holds a partly filled RX block, in ms.
    pub rx_retire_ms: u32,
    /// TX slots per queue.
    pub tx_frames: usize,
    /// Kick the kernel once at least this many frames wait on the TX ring (1: every burst, what a
    /// router wants). A generator raises it to move more frames per system call, and calls
    /// [`TxQueue::flush`](crate::TxQueue::flush) before it pauses, so nothing waits unsent.
    pub tx_kick: usize,
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        Self {
            queues: 1,
            promisc: false,
            qdisc_bypass: true,
            rx_block_size: 8 * 1024,
            rx_blocks: 512,
            rx_retire_ms: 1,
            tx_frames: 2048,
            tx_kick: 1,
        }
    }
}

/// Opens `ifname` as a port of `cfg.queues` rx and tx queues.
#[cold]
pub fn open(ifname: &str, cfg: AfPacketConfig) -> Result<Port, Error> {
    if !(1..=64).contains(&cfg.queues)
        || !cfg.rx_block_size.is_multiple_of(PAGE)
        || cfg.rx_block_size < PAGE
        || cfg.rx_blocks < 2
        || cfg.tx_frames < 2
    {
        return Err(Error::Config(format!(
            "af_packet {ifname}: queues 1..=64, rx_block_size a multiple of {PAGE}, \
             at least 2 rx blocks and 2 tx frames (got {cfg:?})"
        )));
    }
    let ifindex = ifindex(ifname)?;
    let ctx = |what: &str| format!("af_packet {ifname}: {what}");
    let mtu = sys::mtu(ifname).map_err(|e| Error::os(ctx("SIOCGIFMTU"), e))?;
    // A frame never spans blocks: a block holds at least one of the largest (Ethernet and a
    // VLAN tag on the MTU) behind the block's header and the frame's (the kernel puts the MAC
    // header where the network header lands on a 16-byte boundary past `tp_hdrlen` + 16). The
    // kernel allocates a block in a power of two of pages; fewer, larger blocks keep the ring's
    // bytes.
    let netoff = (libc::TPACKET3_HDRLEN + 16).next_multiple_of(16);
    let need = (BLOCK_HEADER + netoff + mtu + 4)
        .next_power_of_two()
        .max(PAGE);
    let cfg = if need > cfg.rx_block_size {
        AfPacketConfig {
            rx_block_size: need,
            rx_blocks: (cfg.rx_blocks * cfg.rx_block_size / need).max(2),
            ..cfg
        }
    } else {
        cfg
    };
    let mut rx: Vec<Box<dyn RxQueue>> = Vec::with_capacity(cfg.queues);
    let mut tx: Vec<Box<dyn TxQueue>> = Vec::with_capacity(cfg.queues);
    let mut fanout_id = None;
    for q in 0..cfg.queues {
        let sock = Arc::new(Socket::open(ifname, ifindex, &cfg, q == 0 && cfg.promisc)?);
        if cfg.queues > 1 {
            fanout_id = Some(sock.join_fanout(fanout_id)?);
        }
        rx.push(Box::new(AfPacketRx {
            sock: Arc::clone(&sock),
            block: 0,
            left: 0,
            off: 0,
            stats: Arc::default(),
        }));
        tx.push(Box::new(AfPacketTx {
            sock,
            head: 0,
            unkicked: 0,
            kick_at: cfg.tx_kick.clamp(1, cfg.tx_frames / 2),
            stats: Arc::default(),
        }));
    }
    let mac = sys::hwaddr(ifname).map_err(|e| Error::os(ctx("SIOCGIFHWADDR"), e))?;
    Ok(Port::new(ifname, rx, tx).with_link(mac, mtu))
}

pub use super::sys::ifindex;

// ===== impl Socket =====

/// One packet socket and its mapping: the RX block ring, then the TX frame ring.
#[derive(Debug)]
struct Socket {
    fd: OwnedFd,
    name: String,
    map: NonNull<u8>,
    map_len: usize,
    rx_block_size: usize,
    rx_blocks: usize,
    tx_base: usize,
    tx_frame_size: usize,
    tx_frames: usize,
    /// Largest untagged frame the interface sends: MTU + Ethernet header.
    max_frame: usize,
}

// SAFETY: the mapping is shared with the kernel, not with other threads of ours except in the
// disjoint way the two halves use it: `AfPacketRx` touches only the RX region and `AfPacketTx`
// only the TX region, each owned by one thread; the kernel's side is synchronised through the
// status words with atomic acquire/release accesses.
#[allow(unsafe_code)]
unsafe impl Send for Socket {}
// SAFETY: see `Send`.
#[allow(unsafe_code)]
unsafe impl Sync for Socket {}

impl Socket {
    #[cold]
    fn open(
        ifname: &str,
        ifindex: u32,
        cfg: &AfPacketConfig,
        promisc: bool,
    ) -> Result<Self, Error> {
        let ctx = |what: &str| format!("af_packet {ifname}: {what}");
        // Protocol 0: receive nothing until the rings exist and `bind` names the interface.
        #[allow(unsafe_code)]
        // SAFETY: plain syscall.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(Error::last_os(ctx("socket(AF_PACKET)")));
        }
        #[allow(unsafe_code)]
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let mtu = sys::mtu(ifname).map_err(|e| Error::os(ctx("SIOCGIFMTU"), e))?;
        let max_frame = mtu + 14;
        let tx_frame_size = (TX_DATA_OFF + max_frame + 4).next_power_of_two().max(2048);
        let tx_block = tx_frame_size.max(PAGE);
        let tx_blocks = (cfg.tx_frames * tx_frame_size).div_ceil(tx_block);
        let tx_frames = tx_blocks * (tx_block / tx_frame_size);

        setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &(libc::tpacket_versions::TPACKET_V3 as i32),
            &ctx("TPACKET_V3"),
        )?;
        if cfg.qdisc_bypass {
            setsockopt(
                &fd,
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                &1i32,
                &ctx("PACKET_QDISC_BYPASS"),
            )?;
        }
        setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_LOSS,
            &1i32,
            &ctx("PACKET_LOSS"),
        )?;
        // Linux >= 4.20; without it a port also sees its own transmissions, which the fanout
        // group excludes anyway, so an older kernel only loses a safety net.
        let _ = setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &1i32,
            "",
        );
        let rx_req = libc::tpacket_req3 {
            tp_block_size: cfg.rx_block_size as u32,
            tp_block_nr: cfg.rx_blocks as u32,
            tp_frame_size: 2048,
            tp_frame_nr: (cfg.rx_block_size / 2048 * cfg.rx_blocks) as u32,
            tp_retire_blk_tov: cfg.rx_retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: libc::TP_FT_REQ_FILL_RXHASH,
        };
        setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            &rx_req,
            &ctx("PACKET_RX_RING"),
        )?;
        let tx_req = libc::tpacket_req3 {
            tp_block_size: tx_block as u32,
            tp_block_nr: tx_blocks as u32,
            tp_frame_size: tx_frame_size as u32,
            tp_frame_nr: tx_frames as u32,
            tp_retire_blk_tov: 0,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_TX_RING,
            &tx_req,
            &ctx("PACKET_TX_RING"),
        )?;

        let tx_base = cfg.rx_block_size * cfg.rx_blocks;
        let map_len = tx_base + tx_block * tx_blocks;
        #[allow(unsafe_code)]
        // SAFETY: maps the socket's rings, whose total size is exactly `map_len`.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::last_os(ctx("mmap rings")));
        }
        let sock = Socket {
            fd,
            name: ifname.to_string(),
            map: NonNull::new(p.cast()).expect("mmap returned a non-null mapping"),
            map_len,
            rx_block_size: cfg.rx_block_size,
            rx_blocks: cfg.rx_blocks,
            tx_base,
            tx_frame_size,
            tx_frames,
            max_frame,
        };

        #[allow(unsafe_code)]
        // SAFETY: all-zero is a valid `sockaddr_ll`.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as i32;
        #[allow(unsafe_code)]
        // SAFETY: `sll` is a live sockaddr_ll of the size passed.
        let r = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                (&raw const sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(Error::last_os(ctx("bind")));
        }
        if promisc {
            let mreq = libc::packet_mreq {
                mr_ifindex: ifindex as i32,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            setsockopt(
                &sock.fd,
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mreq,
                &ctx("promiscuous mode"),
            )?;
        }
        Ok(sock)
    }

    /// Joins (or, with `None`, creates) a hash fanout group; returns its id.
    #[cold]
    fn join_fanout(&self, id: Option<u16>) -> Result<u16, Error> {
        let flags = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;
        let what = format!("af_packet {}: PACKET_FANOUT", self.name);
        let Some(id) = id else {
            let arg = ((flags | libc::PACKET_FANOUT_FLAG_UNIQUEID) << 16) as i32;
            setsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg, &what)?;
            let v = sys::getsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, 0i32)
                .map_err(|e| Error::os(what, e))?;
            return Ok(v as u16);
        };
        let arg = (flags << 16 | u32::from(id)) as i32;
        setsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg, &what)?;
        Ok(id)
    }

    /// Frames the kernel dropped since the last call (the counter resets on read).
    #[cold]
    fn kernel_drops(&self) -> u64 {
        #[allow(unsafe_code)]
        // SAFETY: all-zero is a valid `tpacket_stats_v3`.
        let zero: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
        sys::getsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_STATISTICS, zero)
            .map_or(0, |st| u64::from(st.tp_drops))
    }

    /// Has the kernel send what waits on the TX ring (a zero-length send).
    fn kick(&self) {
        #[allow(unsafe_code)]
        // SAFETY: a zero-length send on our own socket; the kernel reads the TX ring.
        unsafe {
            libc::send(self.fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT)
        };
    }

    #[inline]
    fn at(&self, off: usize) -> *mut u8 {
        self.map.as_ptr().wrapping_add(off)
    }

    /// The status word at `off`, shared with the kernel.
    #[inline]
    fn status(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off.is_multiple_of(4) && off + 4 <= self.map_len);
        #[allow(unsafe_code)]
        // SAFETY: callers pass the offset of a `block_status` or `tp_status` field, which is
        // 4-byte aligned and inside the mapping, and lives as long as `self`; the kernel accesses
        // it atomically too.
        unsafe {
            AtomicU32::from_ptr(self.at(off).cast())
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: unmaps exactly the mapping made in `open`; both halves are gone (last Arc).
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len)
        };
    }
}

// Offsets inside `tpacket_block_desc` and `tpacket3_hdr` (linux/if_packet.h).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST: usize = 16;
const PKT_NEXT: usize = 0;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_STATUS: usize = 20;
const PKT_MAC: usize = 24;
const PKT_RXHASH: usize = 28;

// ===== impl AfPacketRx =====

#[derive(Debug)]
struct AfPacketRx {
    sock: Arc<Socket>,
    /// Block being read.
    block: usize,
    /// Frames left in it (0: the block is not ours yet).
    left: u32,
    /// Offset of the next frame within the block.
    off: usize,
    stats: Arc<QueueStats>,
}

impl AfPacketRx {
    #[inline]
    fn read_u32(&self, at: usize) -> u32 {
        #[allow(unsafe_code)]
        // SAFETY: `at + 4 <= map_len` is checked by the caller (`at` lies in a block the kernel
        // has handed to us, so it does not change under us); unaligned read for safety.
        unsafe {
            self.sock.at(at).cast::<u32>().read_unaligned()
        }
    }

    fn release_block(&mut self) {
        let base = self.block * self.sock.rx_block_size;
        self.sock
            .status(base + BLOCK_STATUS)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.block = (self.block + 1) % self.sock.rx_blocks;
        self.left = 0;
    }
}

impl RxQueue for AfPacketRx {
    fn rx_burst(&mut self, pool: &Pool, burst: &mut Burst) -> usize {
        let (mut got, mut bytes) = (0u64, 0u64);
        let mut drops = [0u64; DropReason::ALL.len()];
        let bsize = self.sock.rx_block_size;
        while burst.room() != 0 {
            let base = self.block * bsize;
            if self.left == 0 {
                let status = self
                    .sock
                    .status(base + BLOCK_STATUS)
                    .load(Ordering::Acquire);
                if status & libc::TP_STATUS_USER == 0 {
                    break;
                }
                if status & libc::TP_STATUS_LOSING != 0 {
                    drops[DropReason::KernelDrop as usize] += self.sock.kernel_drops();
                }
                self.left = self.read_u32(base + BLOCK_NUM_PKTS);
                self.off = self.read_u32(base + BLOCK_FIRST) as usize;
                if self.left == 0 {
                    self.release_block();
                    continue;
                }
            }
            // Everything below stays inside the block even if the kernel's offsets were wrong.
            if self.off + PKT_RXHASH + 4 > bsize {
                drops[DropReason::Rejected as usize] += u64::from(self.left);
                self.release_block();
                continue;
            }
            let hdr = base + self.off;
            let snap = self.read_u32(hdr + PKT_SNAPLEN) as usize;
            let wire = self.read_u32(hdr + PKT_LEN) as usize;
            let mac = (self.read_u32(hdr + PKT_MAC) & 0xffff) as usize;
            let next = self.read_u32(hdr + PKT_NEXT) as usize;
            let rxhash = self.read_u32(hdr + PKT_RXHASH);
            if self.off + mac + snap > bsize {
                drops[DropReason::Rejected as usize] += 1;
            } else if snap < wire || snap > pool.max_data() {
                drops[DropReason::Oversize as usize] += 1;
            } else {
                #[allow(unsafe_code)]
                // SAFETY: `[hdr + mac, hdr + mac + snap)` lies inside a block the kernel handed us
                // (checked just above) and is not written until we release the block.
                let frame = unsafe { std::slice::from_raw_parts(self.sock.at(hdr + mac), snap) };
                match pool.alloc_from(frame) {
                    Some(mut p) => {
                        p.meta.hash = if rxhash != 0 {
                            rxhash
                        } else {
                            flow::hash(frame)
                        };
                        bytes += snap as u64;
                        got += 1;
                        let _ = burst.push(p);
                    }
                    None if snap == 0 => drops[DropReason::Empty as usize] += 1,
                    None => drops[DropReason::PoolExhausted as usize] += 1,
                }
            }
            self.left -= 1;
            if self.left == 0 || next == 0 {
                self.release_block();
            } else {
                self.off += next;
            }
        }
        self.stats.add_rx(got, bytes);
        self.stats.add_drops(&drops);
        got as usize
    }

    fn wake(&self) -> Wake {
        Wake::Fd(self.sock.fd.as_raw_fd())
    }

    fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

// ===== impl AfPacketTx =====

#[derive(Debug)]
struct AfPacketTx {
    sock: Arc<Socket>,
    /// Next slot to fill.
    head: usize,
    /// Frames queued since the last kick.
    unkicked: usize,
    /// Kick when `unkicked` reaches this.
    kick_at: usize,
    stats: Arc<QueueStats>,
}

impl AfPacketTx {
    fn kick(&mut self) {
        self.unkicked = 0;
        self.sock.kick();
    }
}

impl TxQueue for AfPacketTx {
    fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        let (mut sent, mut bytes) = (0u64, 0u64);
        let mut drops = [0u64; DropReason::ALL.len()];
        let fs = self.sock.tx_frame_size;
        let mut kicked = false;
        for p in burst.drain() {
            let data = p.data();
            let tagged = data.len() > 14 && matches!(data[12..14], [0x81, 0x00] | [0x88, 0xa8]);
            let max = self.sock.max_frame + if tagged { 4 } else { 0 };
            if let Some(why) = tx_reject(data.len(), max) {
                drops[why as usize] += 1;
                continue;
            }
            let slot = self.sock.tx_base + self.head * fs;
            let status = self.sock.status(slot + PKT_STATUS);
            let mut s = status.load(Ordering::Acquire);
            if s & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING) != 0 && !kicked {
                // Ring full of queued frames: let the kernel drain what it can, once per burst.
                self.sock.kick();
                self.unkicked = 0;
                kicked = true;
                s = status.load(Ordering::Acquire);
            }
            if s & (libc::TP_STATUS_SEND_REQUEST | libc::TP_STATUS_SENDING) != 0 {
                drops[DropReason::TxFull as usize] += 1;
                continue;
            }
            if s & libc::TP_STATUS_WRONG_FORMAT != 0 {
                // The kernel refused the frame that last used this slot.
                drops[DropReason::Rejected as usize] += 1;
            }
            #[allow(unsafe_code)]
            // SAFETY: the slot is `fs >= TX_DATA_OFF + max_frame + 4` bytes inside the TX ring,
            // and its status says the kernel is not using it; header fields are 4-byte aligned.
            unsafe {
                let base = self.sock.at(slot);
                base.add(PKT_NEXT).cast::<u32>().write(0);
                base.add(PKT_SNAPLEN).cast::<u32>().write(data.len() as u32);
                base.add(PKT_LEN).cast::<u32>().write(data.len() as u32);
                std::ptr::copy_nonoverlapping(data.as_ptr(), base.add(TX_DATA_OFF), data.len());
            }
            status.store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
            self.head = (self.head + 1) % self.sock.tx_frames;
            sent += 1;
            bytes += data.len() as u64;
        }
        self.unkicked += sent as usize;
        if self.unkicked >= self.kick_at {
            self.kick();
        }
        self.stats.add_tx(sent, bytes);
        self.stats.add_drops(&drops);
        sent as usize
    }

    fn flush(&mut self) {
        if self.unkicked != 0 {
            self.kick();
        }
    }

    fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_interface_is_named() {
        for name in ["brick-nope0", "", "a-name-far-too-long-for-linux"] {
            let e = open(name, AfPacketConfig::default()).unwrap_err();
            assert!(
                matches!(e, Error::NoSuchInterface(ref n) if n == name),
                "{e}"
            );
            assert!(e.to_string().contains(&format!("{name:?}")), "{e}");
        }
    }

    #[test]
    fn bad_config_is_refused() {
        let cfg = AfPacketConfig {
            rx_block_size: 1000,
            ..Default::default()
        };
        let e = open("lo", cfg).unwrap_err().to_string();
        assert!(
            e.contains("af_packet lo") && e.contains("rx_block_size"),
            "{e}"
        );
    }

    #[test]
    fn layout_matches_the_kernel_headers() {
        assert_eq!(TX_DATA_OFF, 48);
        assert_eq!(
            std::mem::offset_of!(libc::tpacket3_hdr, tp_status),
            PKT_STATUS
        );
        assert_eq!(std::mem::offset_of!(libc::tpacket3_hdr, tp_mac), PKT_MAC);
        assert_eq!(
            std::mem::offset_of!(libc::tpacket3_hdr, tp_snaplen),
            PKT_SNAPLEN
        );
        assert_eq!(std::mem::offset_of!(libc::tpacket3_hdr, tp_len), PKT_LEN);
        assert_eq!(std::mem::offset_of!(libc::tpacket3_hdr, hv1), PKT_RXHASH);
        assert_eq!(
            std::mem::offset_of!(libc::tpacket_block_desc, hdr),
            BLOCK_STATUS
        );
    }
}
