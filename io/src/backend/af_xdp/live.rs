//! XDP live frames: the fastest sender on one core, and a sink that counts and drops.
//!
//! [`LiveFrames`] asks the kernel to run a small XDP program on copies of one frame and to send
//! each copy out of an interface (`BPF_PROG_TEST_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`, Linux
//! 5.18 or later), as xdp-trafficgen does: no socket, no skb, no copy from user space per frame,
//! so one core lays out several Mpps (6.4 measured here) where skb-based senders stop near 1 Mpps
//! (trafgen: 1.25). The frames come from
//! a page pool and are recycled with whatever the last writer left in them (a forwarder's MACs,
//! a decremented TTL), so the program rewrites the whole 42-byte Ethernet/IPv4/UDP header and the
//! 4 bytes after it from the template every time, then stamps a sequence number (its low bits
//! added to the template's UDP source port, so the load spreads over `flows` flows) and a
//! CLOCK_MONOTONIC timestamp. Bytes 42..58 are the traffic generator's test signature (stream
//! id and magic from the template, then sequence number and timestamp), so its receiver counts
//! loss, reordering and latency of live frames as of any other stream. The program redirects
//! with `bpf_redirect(ifindex)`. It also paces itself when asked ([`LiveFrames::set_rate`]): a
//! frame whose departure time has not come is dropped before it is written, so frames leave one
//! interval apart, without bursts and without sleeping. On veth the receiving peer needs NAPI for
//! the redirect: a native XDP program on it or `ethtool -K PEER gro on`. Frames the redirect
//! loses are not reported by the kernel; count at the receiver.
//!
//! [`DropSink`] attaches a program that counts every frame (except ARP, passed to the kernel so
//! the host still answers for its address) and drops it: a receiver that costs the core almost
//! nothing, for forwarding benchmarks. It also times the frames that carry the generator's
//! signature: the kernel's clock minus the stamp goes into a log-linear histogram in the map
//! ([`SinkCounts`], buckets at most 6.25 % wide), so a benchmark gets one-way latency of every
//! frame without a receiving core of its own. As an XDP program it gives a veth the NAPI that live
//! frames need to arrive; but veth then copies every socket buffer that a sender built with
//! less than XDP's headroom (AF_XDP copy-mode and AF_PACKET transmits, not the kernel's own
//! forwarding) into a page before the program runs, on the sending core: a cost that lands on a
//! router under test and not on the kernel. At tc ingress ([`DropSink::attach_tc`]) it sees the
//! socket buffer as it comes, whoever built it.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::bpf::{
    self, ADD64_K, Asm, BPF_MAP_TYPE_ARRAY, BPF_PSEUDO_MAP_FD, CALL, EXIT, FN_MAP_LOOKUP_ELEM,
    Insn, JEQ_K, JGT_X, JNE_K, LD_DW, LDX_H, LDX_W, MD_DATA, MD_DATA_END, MOV64_K, MOV64_X, STX_W,
    XDP_PASS, XdpAttach, insn,
};
use crate::Error;
use crate::backend::sys;

const BPF_PROG_TEST_RUN: u32 = 10;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
const XDP_DROP: i32 = 1;
const FN_KTIME_GET_NS: i32 = 5;
const FN_REDIRECT: i32 = 23;
const FN_SKB_LOAD_BYTES: i32 = 26;
/// Where the tc sink copies frame bytes 12..58: byte `o` at `fp + o - STACK_COPY`, so that the
/// stamp (at 50) sits in an 8-byte aligned slot.
const STACK_COPY: i32 = 58;
const TC_ACT_OK: i32 = 0;
const TC_ACT_SHOT: i32 = 2;
/// Offsets of `data` and `data_end` in `struct __sk_buff`.
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;

// Opcodes beyond those of the steering program (linux/bpf.h).
const ST_W: u8 = 0x62; // BPF_ST | BPF_MEM | BPF_W: store an immediate
const ST_H: u8 = 0x6a;
const STX_H: u8 = 0x6b;
const STX_DW: u8 = 0x7b;
const LDX_DW: u8 = 0x79;
const ADD64_X: u8 = 0x0f;
const JGE_X: u8 = 0x3d;
const AND64_K: u8 = 0x57;
const ATOMIC_DW: u8 = 0xdb; // BPF_STX | BPF_ATOMIC | BPF_DW
const ATOMIC_ADD: i32 = 0x00;
const ATOMIC_FETCH_ADD: i32 = 0x01; // BPF_ADD | BPF_FETCH
const END_BE: u8 = 0xdc; // BPF_ALU | BPF_END | BPF_TO_BE
const LDX_B: u8 = 0x71;
const JLT_K: u8 = 0xa5;
const SUB64_X: u8 = 0x1f;
const LSH64_K: u8 = 0x67;
const RSH64_K: u8 = 0x77;
const RSH64_X: u8 = 0x7f;

/// Bytes of the frame the generator rewrites or stamps: the template (46), the sequence number
/// (4) and the timestamp (8).
pub const MIN_LIVE_FRAME: usize = 58;

/// Bytes copied from the template into every frame: the Ethernet/IPv4/UDP header and the first
/// word of the payload.
const TEMPLATE: usize = 46;

/// Where the generator stamps the low 32 bits of its sequence number (big-endian), followed by
/// the timestamp (nanoseconds, big-endian).
pub const SEQ_AT: usize = 46;

/// Where the signature's magic sits in an IPv4/UDP frame without options, and its value: the
/// sink times only frames that carry it.
pub const MAGIC_AT: usize = 44;
/// The traffic generator's signature magic.
pub const SIGNATURE_MAGIC: u16 = 0xb51c;

/// `test` of `union bpf_attr` for `BPF_PROG_TEST_RUN`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    // Explicit: the kernel refuses non-zero bytes past `batch_size`.
    _pad: u32,
}

/// `struct xdp_md` as the context of a test run.
#[repr(C)]
#[derive(Default)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

/// Runs `prog` on `frame` `repeat` times (`BPF_PROG_TEST_RUN`) with `(flags, batch size)`;
/// returns the last verdict.
fn test_run(
    prog: &OwnedFd,
    frame: &[u8],
    ctx: Option<&XdpMd>,
    repeat: u32,
    (flags, batch_size): (u32, u32),
) -> std::io::Result<u32> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat,
        ctx_size_in: ctx.map_or(0, |_| std::mem::size_of::<XdpMd>() as u32),
        ctx_in: ctx.map_or(0, |c| (c as *const XdpMd) as u64),
        flags,
        batch_size,
        ..TestRunAttr::default()
    };
    bpf::bpf(BPF_PROG_TEST_RUN, &mut attr).map(|_| attr.retval)
}

/// The generator program (see the module doc). `tpl` is the first [`TEMPLATE`] bytes of the
/// frame, `flows` a power of two. `state` is an array map of one value, four u64s: the sequence
/// number (frames sent), the time the next frame may leave, the interval between frames (0: as
/// fast as the core goes) and the number of frames after which it sends no more. A frame whose time has not come is dropped before it is
/// written, which paces the kernel's loop to the nanosecond without sleeping.
fn generator(state: RawFd, ifindex: u32, tpl: &[u8], flows: u16) -> [Insn; 56] {
    // A 32-bit immediate store writes the immediate's little-endian bytes.
    let w = |o: usize| i32::from_le_bytes([tpl[o], tpl[o + 1], tpl[o + 2], tpl[o + 3]]);
    let h = i32::from(u16::from_le_bytes([tpl[40], tpl[41]]));
    let sport = i32::from(u16::from_be_bytes([tpl[34], tpl[35]]));
    [
        /* 0 */ insn(MOV64_X, 6, 1, 0, 0), // r6 = ctx
        /* 1 */ insn(ST_W, 10, 0, -4, 0), // key 0 on the stack
        /* 2 */ insn(MOV64_X, 2, 10, 0, 0),
        /* 3 */ insn(ADD64_K, 2, 0, 0, -4), // r2 = &key
        /* 4 */ insn(LD_DW, 1, BPF_PSEUDO_MAP_FD, 0, state),
        /* 5 */ insn(0, 0, 0, 0, 0),
        /* 6 */ insn(CALL, 0, 0, 0, FN_MAP_LOOKUP_ELEM), // r0 = &state or NULL
        /* 7 */ insn(JEQ_K, 0, 0, 46, 0), // NULL -> 54 drop
        /* 8 */ insn(MOV64_X, 8, 0, 0, 0), // r8 = &state (kept across calls)
        /* 9 */ insn(CALL, 0, 0, 0, FN_KTIME_GET_NS),
        /* 10 */ insn(MOV64_X, 9, 0, 0, 0), // r9 = now
        /* 11 */ insn(LDX_DW, 1, 8, 8, 0), // r1 = next
        /* 12 */ insn(JGT_X, 1, 9, 41, 0), // not yet -> 54 drop
        /* 13 */ insn(LDX_DW, 2, 8, 16, 0), // r2 = interval
        /* 14 */ insn(ADD64_X, 1, 2, 0, 0), // next += interval
        /* 15 */ insn(JGE_X, 1, 9, 1, 0), // behind: no catching up in a burst
        /* 16 */ insn(MOV64_X, 1, 9, 0, 0), // next = now
        /* 17 */ insn(STX_DW, 8, 1, 8, 0),
        /* 18 */ insn(LDX_DW, 1, 8, 0, 0), // r1 = seq
        /* 19 */ insn(LDX_DW, 2, 8, 24, 0), // r2 = limit
        /* 20 */ insn(JGE_X, 1, 2, 33, 0), // all sent -> 54 drop
        /* 21 */ insn(LDX_W, 7, 6, MD_DATA, 0), // r7 = data
        /* 22 */ insn(LDX_W, 3, 6, MD_DATA_END, 0), // r3 = data_end
        /* 23 */ insn(MOV64_X, 4, 7, 0, 0),
        /* 24 */ insn(ADD64_K, 4, 0, 0, MIN_LIVE_FRAME as i32),
        /* 25 */ insn(JGT_X, 4, 3, 28, 0), // shorter than what we write -> 54 drop
        /* 26 */ insn(ST_W, 7, 0, 0, w(0)), // 26..37: the template
        /* 27 */ insn(ST_W, 7, 0, 4, w(4)),
        /* 28 */ insn(ST_W, 7, 0, 8, w(8)),
        /* 29 */ insn(ST_W, 7, 0, 12, w(12)),
        /* 30 */ insn(ST_W, 7, 0, 16, w(16)),
        /* 31 */ insn(ST_W, 7, 0, 20, w(20)),
        /* 32 */ insn(ST_W, 7, 0, 24, w(24)),
        /* 33 */ insn(ST_W, 7, 0, 28, w(28)),
        /* 34 */ insn(ST_W, 7, 0, 32, w(32)),
        /* 35 */ insn(ST_W, 7, 0, 36, w(36)),
        /* 36 */ insn(ST_H, 7, 0, 40, h),
        /* 37 */ insn(ST_W, 7, 0, 42, w(42)),
        /* 38 */ insn(MOV64_K, 1, 0, 0, 1),
        /* 39 */ insn(ATOMIC_DW, 8, 1, 0, ATOMIC_FETCH_ADD), // r1 = seq++
        /* 40 */ insn(MOV64_X, 2, 1, 0, 0),
        /* 41 */ insn(AND64_K, 2, 0, 0, i32::from(flows - 1)), // flow = seq % flows
        /* 42 */ insn(ADD64_K, 2, 0, 0, sport),
        /* 43 */ insn(END_BE, 2, 0, 0, 16),
        /* 44 */ insn(STX_H, 7, 2, 34, 0), // UDP source port = template's + flow
        /* 45 */ insn(END_BE, 1, 0, 0, 32),
        /* 46 */ insn(STX_W, 7, 1, SEQ_AT as i16, 0), // sequence number
        /* 47 */ insn(MOV64_X, 0, 9, 0, 0),
        /* 48 */ insn(END_BE, 0, 0, 0, 64),
        /* 49 */ insn(STX_DW, 7, 0, SEQ_AT as i16 + 4, 0), // timestamp
        /* 50 */ insn(MOV64_K, 1, 0, 0, ifindex as i32),
        /* 51 */ insn(MOV64_K, 2, 0, 0, 0),
        /* 52 */ insn(CALL, 0, 0, 0, FN_REDIRECT), // r0 = XDP_REDIRECT
        /* 53 */ insn(EXIT, 0, 0, 0, 0),
        /* 54 */ insn(MOV64_K, 0, 0, 0, XDP_DROP),
        /* 55 */ insn(EXIT, 0, 0, 0, 0),
    ]
}

/// Where a sink program runs: the context's layout and the verdicts differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hook {
    Xdp,
    /// tc ingress, on a `struct __sk_buff` whose data starts at the Ethernet header.
    Tc,
}

impl Hook {
    /// Offsets of the context's `data` and `data_end`.
    fn data(self) -> (i16, i16) {
        match self {
            Hook::Xdp => (MD_DATA, MD_DATA_END),
            Hook::Tc => (SKB_DATA, SKB_DATA_END),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hook::Xdp => "xdp",
            Hook::Tc => "tc",
        }
    }

    fn prog_type(self) -> u32 {
        match self {
            Hook::Xdp => bpf::BPF_PROG_TYPE_XDP,
            Hook::Tc => bpf::BPF_PROG_TYPE_SCHED_CLS,
        }
    }

    /// (drop, pass) verdicts.
    fn verdicts(self) -> (i32, i32) {
        match self {
            Hook::Xdp => (XDP_DROP, XDP_PASS),
            Hook::Tc => (TC_ACT_SHOT, TC_ACT_OK),
        }
    }
}

/// Buckets of the sink's latency histogram: one per nanosecond below 32 ns, then 16 per power of
/// two (each within 6.25 % of its low end) up to 2^64 ns; only the first 976 are ever used.
pub const LATENCY_BUCKETS: usize = 1024;
/// The sink's state: the histogram's buckets, then the frame count.
const SINK_STATE: usize = LATENCY_BUCKETS + 1;
const FRAMES_AT: i16 = 8 * LATENCY_BUCKETS as i16;

/// The latency range of histogram bucket `i`, nanoseconds `[low, high)`. Buckets from 976 on
/// are never used (the range is empty there, at `u64::MAX`).
pub fn latency_bucket(i: usize) -> (u64, u64) {
    if i < 32 {
        return (i as u64, i as u64 + 1);
    }
    // The program's bucket is 16 msb - 64 + (latency >> (msb - 4)), the last term in 16..32.
    let q = i as u64 + 64;
    let msb = q / 16 - 1;
    let m = q - 16 * msb;
    let edge = |m: u64| u64::try_from(u128::from(m) << (msb - 4)).unwrap_or(u64::MAX);
    (edge(m), edge(m + 1))
}

/// The sink program: ARP to the kernel; everything else counted and dropped, and the frames that
/// carry the traffic generator's signature (IPv4 without options, UDP, the magic at 44) timed:
/// now minus their stamp goes into a log-linear histogram. The timestamp is CLOCK_MONOTONIC,
/// the clock of `bpf_ktime_get_ns` and of every Brick generator.
fn sink(hook: Hook, state: RawFd) -> Vec<Insn> {
    let (data, data_end) = hook.data();
    let (drop, pass) = hook.verdicts();
    // A little-endian u16 load of a big-endian field sees its bytes swapped.
    let field = |v: u16| i32::from(u16::from_le_bytes(v.to_be_bytes()));
    let mut a = Asm::default();
    a.op(MOV64_X, 6, 1, 0, 0) // r6 = ctx
        .op(LDX_W, 7, 1, data, 0) // r7 = data
        .op(LDX_W, 8, 1, data_end, 0) // r8 = data_end
        .op(MOV64_X, 2, 7, 0, 0)
        .op(ADD64_K, 2, 0, 0, 14)
        .jump(JGT_X, 2, 8, 0, "count") // a runt is counted too
        .op(LDX_H, 2, 7, 12, 0)
        .jump(JEQ_K, 2, 0, field(0x0806), "pass") // ARP
        .label("count")
        .op(ST_W, 10, 0, -4, 0) // key 0 on the stack
        .op(MOV64_X, 2, 10, 0, 0)
        .op(ADD64_K, 2, 0, 0, -4)
        .op(LD_DW, 1, BPF_PSEUDO_MAP_FD, 0, state)
        .op(0, 0, 0, 0, 0)
        .op(CALL, 0, 0, 0, FN_MAP_LOOKUP_ELEM)
        .jump(JEQ_K, 0, 0, 0, "drop")
        .op(MOV64_X, 9, 0, 0, 0) // r9 = &state
        .op(MOV64_K, 1, 0, 0, 1)
        .op(ATOMIC_DW, 9, 1, FRAMES_AT, ATOMIC_ADD);
    // Frame byte `o` is at `base + o - at`: in the packet, or copied to the stack.
    let (base, at) = match hook {
        Hook::Xdp => {
            a.op(MOV64_X, 2, 7, 0, 0)
                .op(ADD64_K, 2, 0, 0, MIN_LIVE_FRAME as i32)
                .jump(JGT_X, 2, 8, 0, "drop"); // too short to carry a stamp
            (7, 0)
        }
        Hook::Tc => {
            // A socket buffer may hold its payload in pages (AF_PACKET's transmit ring does):
            // copy bytes 12..58 to the stack, the stamp at an aligned slot (the verifier insists).
            a.op(MOV64_X, 1, 6, 0, 0)
                .op(MOV64_K, 2, 0, 0, 12)
                .op(MOV64_X, 3, 10, 0, 0)
                .op(ADD64_K, 3, 0, 0, 12 - STACK_COPY)
                .op(MOV64_K, 4, 0, 0, MIN_LIVE_FRAME as i32 - 12)
                .op(CALL, 0, 0, 0, FN_SKB_LOAD_BYTES)
                .jump(JNE_K, 0, 0, 0, "drop"); // too short to carry a stamp
            (10, STACK_COPY as i16)
        }
    };
    a.op(LDX_H, 2, base, 12 - at, 0)
        .jump(JNE_K, 2, 0, field(0x0800), "drop")
        .op(LDX_B, 2, base, 14 - at, 0)
        .jump(JNE_K, 2, 0, 0x45, "drop")
        .op(LDX_B, 2, base, 23 - at, 0)
        .jump(JNE_K, 2, 0, 17, "drop")
        .op(LDX_H, 2, base, MAGIC_AT as i16 - at, 0)
        .jump(JNE_K, 2, 0, field(SIGNATURE_MAGIC), "drop")
        .op(CALL, 0, 0, 0, FN_KTIME_GET_NS) // r0 = now
        .op(LDX_DW, 1, base, SEQ_AT as i16 + 4 - at, 0)
        .op(END_BE, 1, 0, 0, 64) // r1 = stamp
        .op(MOV64_K, 2, 0, 0, 0)
        .jump(JGT_X, 1, 0, 0, "bucket") // stamped after now (another clock): 0
        .op(MOV64_X, 2, 0, 0, 0)
        .op(SUB64_X, 2, 1, 0, 0) // r2 = latency
        .label("bucket")
        .op(MOV64_X, 3, 2, 0, 0) // r3 = bucket: the latency itself below 32
        .jump(JLT_K, 2, 0, 32, "add")
        .op(MOV64_K, 4, 0, 0, 0) // r4 = the latency's most significant bit
        .op(MOV64_X, 5, 2, 0, 0);
    for shift in [32, 16, 8, 4, 2, 1] {
        a.op(MOV64_X, 1, 5, 0, 0)
            .op(RSH64_K, 1, 0, 0, shift)
            .op(JEQ_K, 1, 0, 2, 0) // nothing that high: skip the next two
            .op(MOV64_X, 5, 1, 0, 0)
            .op(ADD64_K, 4, 0, 0, shift);
    }
    a.op(MOV64_X, 1, 4, 0, 0)
        .op(ADD64_K, 1, 0, 0, -4)
        .op(RSH64_X, 3, 1, 0, 0) // the latency's top 5 bits: 16..32
        .op(LSH64_K, 4, 0, 0, 4)
        .op(ADD64_X, 3, 4, 0, 0)
        .op(ADD64_K, 3, 0, 0, -64) // 16 msb - 64 + top bits: on from the first 32
        .label("add")
        .op(AND64_K, 3, 0, 0, LATENCY_BUCKETS as i32 - 1) // in bounds, for the verifier
        .op(LSH64_K, 3, 0, 0, 3)
        .op(MOV64_X, 1, 9, 0, 0)
        .op(ADD64_X, 1, 3, 0, 0)
        .op(MOV64_K, 2, 0, 0, 1)
        .op(ATOMIC_DW, 1, 2, 0, ATOMIC_ADD)
        .label("drop")
        .op(MOV64_K, 0, 0, 0, drop)
        .op(EXIT, 0, 0, 0, 0)
        .label("pass")
        .op(MOV64_K, 0, 0, 0, pass)
        .op(EXIT, 0, 0, 0, 0);
    a.finish()
}

/// An array map of one value of `N` u64s.
fn state_map<const N: usize>(what: &str) -> Result<OwnedFd, Error> {
    bpf::map_create(BPF_MAP_TYPE_ARRAY, 8 * N as u32, 1, "brick_state")
        .map_err(|e| bpf::bpf_error(what, "create the state map", e))
}

fn read_state<const N: usize>(what: &str, map: &OwnedFd) -> Result<[u64; N], Error> {
    bpf::map_lookup_u64s(map, 0).map_err(|e| bpf::bpf_error(what, "read the state map", e))
}

/// A live-frame sender out of one interface (see the module doc). Runs in the network namespace
/// of the thread that calls [`LiveFrames::send`], which must hold the interface.
#[derive(Debug)]
pub struct LiveFrames {
    what: String,
    prog: OwnedFd,
    counter: OwnedFd,
    frame: Vec<u8>,
}

impl LiveFrames {
    /// A sender of copies of `frame` (Ethernet/IPv4/UDP, at least [`MIN_LIVE_FRAME`] bytes) out
    /// of `ifname`, spread over `flows` UDP source ports (a power of two) from the frame's own.
    /// The UDP checksum is left as the frame has it: give 0 (none), as the stamped fields change
    /// every frame.
    #[cold]
    pub fn new(ifname: &str, frame: &[u8], flows: u16) -> Result<Self, Error> {
        let what = format!("xdp live frames out of {ifname}");
        if frame.len() < MIN_LIVE_FRAME || !flows.is_power_of_two() {
            return Err(Error::Config(format!(
                "{what}: a frame of at least {MIN_LIVE_FRAME} bytes and a power-of-two number \
                 of flows (got {} bytes, {flows} flows)",
                frame.len()
            )));
        }
        let ifindex = sys::ifindex(ifname)?;
        let counter = state_map::<4>(&what)?;
        bpf::map_update_u64s(&counter, 0, &[0, 0, 0, u64::MAX])
            .map_err(|e| bpf::bpf_error(&what, "set up the state map", e))?;
        let insns = generator(counter.as_raw_fd(), ifindex, &frame[..TEMPLATE], flows);
        let prog = bpf::load_program(&what, bpf::BPF_PROG_TYPE_XDP, "brick_gen", &insns)?;
        Ok(LiveFrames {
            what,
            prog,
            counter,
            frame: frame.to_vec(),
        })
    }

    /// Sends `repeat` frames in batches of `batch` (1..=256) in one system call. A signal
    /// ends the call early (not an error). Each call costs tens of milliseconds of set-up (the
    /// kernel builds and tears down a page pool): measured here, 16k frames per call gave 0.46
    /// Mpps and 1M frames per call 4.5-6.2 Mpps: make each call last a good part of a second.
    pub fn send(&self, repeat: u32, batch: u32) -> Result<(), Error> {
        let md = XdpMd {
            data_end: self.frame.len() as u32,
            ..XdpMd::default()
        };
        let live = (BPF_F_TEST_XDP_LIVE_FRAMES, batch.clamp(1, 256));
        match test_run(&self.prog, &self.frame, Some(&md), repeat, live) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            Err(e) => Err(bpf::bpf_error(
                &self.what,
                "run the program in live-frame mode (needs Linux >= 5.18)",
                e,
            )),
        }
    }

    /// Frames the program has laid out so far (sent or lost by the redirect).
    pub fn generated(&self) -> Result<u64, Error> {
        Ok(read_state::<4>(&self.what, &self.counter)?[0])
    }

    /// Paces the following frames to `pps` per second (0: as fast as the core goes); call it
    /// while no [`LiveFrames::send`] runs.
    pub fn set_rate(&self, pps: f64) -> Result<(), Error> {
        let [seq, _, _, limit] = read_state::<4>(&self.what, &self.counter)?;
        let interval = if pps > 0.0 { (1e9 / pps) as u64 } else { 0 };
        self.write_state([seq, 0, interval, limit], "set the rate")
    }

    /// Stops laying out frames once `total` have been, over the sender's life: a count met
    /// exactly whatever the calls' sizes.
    pub fn set_limit(&self, total: u64) -> Result<(), Error> {
        let [seq, next, interval, _] = read_state::<4>(&self.what, &self.counter)?;
        self.write_state([seq, next, interval, total], "set the frame limit")
    }

    fn write_state(&self, state: [u64; 4], what: &str) -> Result<(), Error> {
        bpf::map_update_u64s(&self.counter, 0, &state)
            .map_err(|e| bpf::bpf_error(&self.what, what, e))
    }
}

/// What a [`DropSink`] has counted, at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkCounts {
    /// Frames counted (and dropped).
    pub frames: u64,
    /// Frames per latency bucket ([`latency_bucket`]): those that carried the generator's
    /// signature, timed from their stamp to the sink.
    pub latency: Vec<u64>,
}

impl SinkCounts {
    /// What was counted after `earlier` up to this.
    pub fn since(&self, earlier: &SinkCounts) -> SinkCounts {
        SinkCounts {
            frames: self.frames.wrapping_sub(earlier.frames),
            latency: (self.latency.iter().zip(&earlier.latency))
                .map(|(a, b)| a.wrapping_sub(*b))
                .collect(),
        }
    }

    /// Frames timed: those that carried the generator's signature.
    pub fn timed(&self) -> u64 {
        self.latency.iter().sum()
    }

    /// `(low ns, high ns, frames)` of every bucket that holds a frame, lowest first.
    pub fn latency_buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        (self.latency.iter().enumerate())
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let (low, high) = latency_bucket(i);
                (low, high, *n)
            })
    }
}

/// A receiver that counts and drops every frame but ARP, and times the frames of Brick's
/// generators (see the module doc); detached when dropped.
#[derive(Debug)]
pub struct DropSink {
    what: String,
    _link: OwnedFd,
    state: OwnedFd,
    /// An XDP program attached natively (in the driver); false in the generic skb path and at
    /// tc ingress.
    pub native: bool,
}

impl DropSink {
    /// Attaches to `ifname` as an XDP program, in the calling thread's network namespace.
    #[cold]
    pub fn attach(ifname: &str) -> Result<Self, Error> {
        Self::attach_as(ifname, Hook::Xdp)
    }

    /// The same sink at `ifname`'s tc ingress (tcx), in the calling thread's namespace: no
    /// XDP on the interface, so nothing copies a frame before it is counted.
    #[cold]
    pub fn attach_tc(ifname: &str) -> Result<Self, Error> {
        Self::attach_as(ifname, Hook::Tc)
    }

    fn attach_as(ifname: &str, hook: Hook) -> Result<Self, Error> {
        let what = format!("{} drop sink on {ifname}", hook.name());
        let ifindex = sys::ifindex(ifname)?;
        let (state, prog) = load_sink(&what, hook)?;
        let (link, native) = match hook {
            Hook::Tc => (bpf::tcx_link(&what, ifindex, &prog)?, false),
            Hook::Xdp => bpf::link(&what, ifindex, &prog, XdpAttach::Auto)?,
        };
        Ok(DropSink {
            what,
            _link: link,
            state,
            native,
        })
    }

    /// Frames counted (and dropped) so far.
    pub fn count(&self) -> Result<u64, Error> {
        Ok(self.counts()?.frames)
    }

    /// Frames counted so far, and the latency histogram of those timed.
    pub fn counts(&self) -> Result<SinkCounts, Error> {
        let state = read_state::<SINK_STATE>(&self.what, &self.state)?;
        Ok(SinkCounts {
            frames: state[LATENCY_BUCKETS],
            latency: state[..LATENCY_BUCKETS].to_vec(),
        })
    }
}

/// The sink's state map and program, loaded but not attached.
fn load_sink(what: &str, hook: Hook) -> Result<(OwnedFd, OwnedFd), Error> {
    let state = state_map::<SINK_STATE>(what)?;
    let insns = sink(hook, state.as_raw_fd());
    let prog = bpf::load_program(what, hook.prog_type(), "brick_sink", &insns)?;
    Ok((state, prog))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::{Netns, is_root};
    use crate::testframe;

    #[test]
    fn layouts_are_the_kernels() {
        assert_eq!(std::mem::size_of::<TestRunAttr>(), 80);
        assert_eq!(std::mem::size_of::<XdpMd>(), 24);
    }

    #[test]
    fn jumps_land_where_the_comments_say() {
        let g = generator(3, 1, &[0; TEMPLATE], 8);
        let target = |p: &[Insn], at: usize| (at as i64 + 1 + i64::from(p[at].off)) as usize;
        assert_eq!(
            (
                target(&g, 7),
                target(&g, 12),
                target(&g, 20),
                target(&g, 25)
            ),
            (54, 54, 54, 54)
        );
        assert_eq!(target(&g, 15), 17);
        assert_eq!((g[53].code, g[55].code), (EXIT, EXIT));
    }

    /// The buckets follow each other without gap or overlap up to 2^64 ns, each at most 1/16
    /// of its low end wide from 32 ns on.
    #[test]
    fn latency_buckets_tile_the_line() {
        let mut next = 0;
        for i in 0..976 {
            let (low, high) = latency_bucket(i);
            assert_eq!(low, next, "bucket {i}");
            assert!(high > low);
            if i >= 32 {
                assert!((high - low) * 16 <= low, "bucket {i}: {low}..{high}");
            }
            next = high;
        }
        assert_eq!(next, u64::MAX);
    }

    /// Root: both sink programs, run once per frame by the kernel: ARP passes uncounted, a
    /// frame without the signature is counted and not timed, and a stamped frame lands in the
    /// bucket of its age.
    #[test]
    fn sink_counts_and_times_stamped_frames() {
        if !is_root() {
            eprintln!("skipped sink_counts_and_times_stamped_frames: needs root (BPF)");
            return;
        }
        for hook in [Hook::Xdp, Hook::Tc] {
            let (state, prog) = load_sink("test sink", hook).unwrap();
            let (drop, pass) = hook.verdicts();
            let counts = || read_state::<SINK_STATE>("test", &state).unwrap();
            let run = |f: &[u8]| test_run(&prog, f, None, 1, (0, 0)).unwrap() as i32;
            let mut arp = vec![0u8; 60];
            arp[12..14].copy_from_slice(&[0x08, 0x06]);
            assert_eq!(run(&arp), pass, "{hook:?}");
            assert_eq!(counts()[LATENCY_BUCKETS], 0);
            let mut frame = vec![0u8; 64];
            crate::testframe::build(&mut frame, 0, 0);
            assert_eq!(run(&frame), drop);
            let c = counts();
            assert_eq!(c[LATENCY_BUCKETS], 1);
            assert_eq!(c[..LATENCY_BUCKETS].iter().sum::<u64>(), 0, "untimed");
            frame[MAGIC_AT..MAGIC_AT + 2].copy_from_slice(&SIGNATURE_MAGIC.to_be_bytes());
            for age in [20_000u64, 3_000_000, 500_000_000] {
                let before = counts();
                let stamp = crate::clock::now_ns() - age;
                frame[SEQ_AT + 4..SEQ_AT + 12].copy_from_slice(&stamp.to_be_bytes());
                let t0 = crate::clock::now_ns();
                assert_eq!(run(&frame), drop);
                let t1 = crate::clock::now_ns();
                let after = counts();
                let hit: Vec<usize> = (0..LATENCY_BUCKETS)
                    .filter(|&i| after[i] != before[i])
                    .collect();
                let [i] = hit[..] else {
                    panic!("{hook:?}, age {age}: buckets {hit:?}")
                };
                // The program read its clock between t0 and t1.
                let (low, high) = latency_bucket(i);
                let (least, most) = (t0 - stamp, t1 - stamp);
                assert!(
                    low <= most && high > least,
                    "{hook:?}: {least}..={most} ns in bucket {i}, {low}..{high}"
                );
            }
            let stamp = crate::clock::now_ns() + 1_000_000_000;
            frame[SEQ_AT + 4..SEQ_AT + 12].copy_from_slice(&stamp.to_be_bytes());
            let before = counts()[0];
            run(&frame);
            assert_eq!(
                counts()[0],
                before + 1,
                "a stamp from the future counts as 0"
            );
            assert_eq!(counts()[LATENCY_BUCKETS], 5);
            let all = SinkCounts {
                frames: 5,
                latency: counts()[..LATENCY_BUCKETS].to_vec(),
            };
            assert_eq!(all.timed(), 4, "the stamped frames, not the plain one");
        }
    }

    /// Root: 100k live frames into a veth whose peer counts them with the drop sink: the
    /// generator's counter says 100k, and (nearly) all of them arrive.
    #[test]
    fn live_frames_reach_a_sink_on_the_peer() {
        if !is_root() {
            eprintln!("skipped live_frames_reach_a_sink_on_the_peer: needs root (XDP)");
            return;
        }
        let (a, b) = (Netns::new("blfa").unwrap(), Netns::new("blfb").unwrap());
        a.veth("blfa0", &b, "blfb0", 1).unwrap();
        let sink = b.enter(|| DropSink::attach("blfb0")).unwrap().unwrap();
        assert!(sink.native, "veth offers native XDP");
        let mut frame = vec![0u8; 64];
        testframe::build(&mut frame, 0, 0);
        let sent = a
            .enter(|| {
                let g = LiveFrames::new("blfa0", &frame, 4)?;
                g.send(100_000, 64)?;
                g.generated()
            })
            .unwrap()
            .unwrap();
        assert_eq!(sent, 100_000);
        let mut got = 0;
        for _ in 0..50 {
            got = sink.count().unwrap();
            if got == sent {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(got > 0, "nothing arrived: is the peer's NAPI on?");
        eprintln!("live frames: {sent} generated, {got} received by the sink");
        assert!(got as f64 >= 0.99 * sent as f64, "{got} of {sent}");

        // Paced at 200 kpps, a call of 2^20 frames lasts about as long as 200k frames take.
        let (sent, secs) = a
            .enter(|| {
                let g = LiveFrames::new("blfa0", &frame, 4)?;
                g.set_rate(200_000.0)?;
                let t = std::time::Instant::now();
                while t.elapsed().as_secs_f64() < 0.5 {
                    g.send(1 << 22, 64)?;
                }
                Ok::<_, Error>((g.generated()?, t.elapsed().as_secs_f64()))
            })
            .unwrap()
            .unwrap();
        let rate = sent as f64 / secs;
        eprintln!("paced live frames: {rate:.0} pps for 200000 asked");
        assert!((150_000.0..=210_000.0).contains(&rate), "{rate} pps");
    }

    /// Root: the tc sink on a veth counts, times and drops 1000 frames an AF_PACKET port sends
    /// from the peer, and lets ARP through to its host (the peer resolves its address).
    #[test]
    fn tc_sink_counts_socket_frames_and_passes_arp() {
        if !is_root() {
            eprintln!("skipped tc_sink_counts_socket_frames_and_passes_arp: needs root (tcx)");
            return;
        }
        let tag = format!("btcs{}", std::process::id() % 100_000);
        let (a, b) = (
            Netns::new(&format!("{tag}a")).unwrap(),
            Netns::new(&format!("{tag}b")).unwrap(),
        );
        a.veth("v0", &b, "v1", 1).unwrap();
        a.exec(&["ip", "addr", "add", "10.9.0.1/24", "dev", "v0"])
            .unwrap();
        b.exec(&["ip", "addr", "add", "10.9.0.2/24", "dev", "v1"])
            .unwrap();
        let sink = b.enter(|| DropSink::attach_tc("v1")).unwrap().unwrap();
        let port = a
            .enter(|| crate::backend::af_packet::open("v0", Default::default()))
            .unwrap()
            .unwrap();
        let (_, mut tx) = port.split();
        let pool = crate::Pool::new(crate::PoolConfig::default()).unwrap();
        let mut frame = vec![0u8; 64];
        for seq in 0..1000 {
            testframe::build(&mut frame, 1, seq);
            frame[MAGIC_AT..MAGIC_AT + 2].copy_from_slice(&SIGNATURE_MAGIC.to_be_bytes());
            let stamp = crate::clock::now_ns().to_be_bytes();
            frame[SEQ_AT + 4..SEQ_AT + 12].copy_from_slice(&stamp);
            let mut burst = crate::Burst::new(1);
            burst.push(pool.alloc_from(&frame).unwrap()).unwrap();
            while tx[0].tx_burst(&mut burst) == 0 {}
        }
        tx[0].flush();
        let mut got = 0;
        for _ in 0..50 {
            got = sink.count().unwrap();
            if got >= 1000 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(got, 1000);
        // The transmit ring's socket buffers keep the payload in pages: timed all the same.
        let timed: u64 = sink.counts().unwrap().latency_buckets().map(|b| b.2).sum();
        assert_eq!(timed, 1000);
        // The echo request itself is dropped by the sink; the ARP before it is not.
        let _ = a.exec(&["ping", "-c", "1", "-W", "1", "10.9.0.2"]);
        let neigh = a.exec(&["ip", "neigh", "show", "10.9.0.2"]).unwrap();
        assert!(neigh.contains("lladdr"), "ARP was answered: {neigh}");
    }
}
