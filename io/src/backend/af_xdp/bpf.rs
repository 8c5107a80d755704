//! The XDP program that steers frames into the port's sockets, assembled here and loaded with
//! plain `bpf()` system calls (no BPF toolchain, no libbpf), and its attachment to the interface.
//!
//! Steering rule, per frame, on the interface's receive path:
//!
//! 1. IPv4 whose destination is one of the port's *host addresses* (the `hosts` map, filled from
//!    [`AfXdpConfig::host_ipv4`](super::AfXdpConfig::host_ipv4)) goes to the kernel: ping, ssh
//!    and the routing daemons of the host keep working on a port that Brick polls.
//! 2. So does ARP whose target is a host address (requests for it, replies to the host's own
//!    requests): the host keeps resolving its neighbours. Other ARP belongs to the port's user:
//!    a router answers for its own addresses and resolves its next hops.
//! 3. Everything else is redirected to the XDP socket bound to the rx queue it arrived on
//!    (`bpf_redirect_map(xsks, rx_queue_index, XDP_PASS)`); a queue without a socket passes the
//!    frame to the kernel (the fallback action in the flags of the helper).
//!
//! Attachment is a bpf_link (`BPF_LINK_CREATE`, attach type `BPF_XDP`): the kernel detaches the
//! program when the last descriptor of the link closes, so a killed process leaves nothing
//! attached. A program attached the legacy way (netlink `IFLA_XDP`, e.g. by `ip link set xdp`)
//! blocks a link; it is detached first, so programs never stack.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::Error;

// bpf() commands, map and program types, attach type (linux/bpf.h).
const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_LOOKUP_ELEM: u32 = 1;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_PROG_LOAD: u32 = 5;
const BPF_LINK_CREATE: u32 = 28;
const BPF_MAP_TYPE_HASH: u32 = 1;
pub(crate) const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
pub(crate) const BPF_PROG_TYPE_XDP: u32 = 6;
/// A tc classifier, run on socket buffers (here at tcx ingress).
pub(crate) const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_TCX_INGRESS: u32 = 46;
const BPF_XDP: u32 = 37;
pub(super) const BPF_PSEUDO_MAP_FD: u8 = 1;

// XDP attach flags and actions (linux/if_link.h, linux/bpf.h).
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
pub(super) const XDP_PASS: i32 = 2;

// Helpers called by the program.
pub(super) const FN_MAP_LOOKUP_ELEM: i32 = 1;
const FN_REDIRECT_MAP: i32 = 51;

/// Keys of the XSKMAP: rx queue indices below this.
pub(crate) const MAX_QUEUES: u32 = 64;
/// Entries of the host address map.
pub(crate) const MAX_HOSTS: u32 = 64;

/// One BPF instruction, `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    pub(super) code: u8,
    regs: u8,
    pub(super) off: i16,
    imm: i32,
}

pub(super) const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// A program under construction whose jumps name labels: longer programs stay readable, and no
/// offset is counted by hand.
#[derive(Debug, Default)]
pub(super) struct Asm {
    insns: Vec<Insn>,
    labels: Vec<(&'static str, usize)>,
    jumps: Vec<(usize, &'static str)>,
}

impl Asm {
    /// Appends one instruction.
    pub(super) fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) -> &mut Self {
        self.insns.push(insn(code, dst, src, off, imm));
        self
    }

    /// Appends a jump to `to`, a label placed before or after.
    pub(super) fn jump(
        &mut self,
        code: u8,
        dst: u8,
        src: u8,
        imm: i32,
        to: &'static str,
    ) -> &mut Self {
        self.jumps.push((self.insns.len(), to));
        self.op(code, dst, src, 0, imm)
    }

    /// Names the next instruction.
    pub(super) fn label(&mut self, name: &'static str) -> &mut Self {
        self.labels.push((name, self.insns.len()));
        self
    }

    /// The program, every jump resolved. A label jumped to but never placed, or placed twice,
    /// is a bug in the program's source, found by the first test that builds it.
    pub(super) fn finish(mut self) -> Vec<Insn> {
        for (i, (name, _)) in self.labels.iter().enumerate() {
            assert!(
                !self.labels[..i].iter().any(|l| l.0 == *name),
                "BPF label {name} is placed twice"
            );
        }
        for &(at, to) in &self.jumps {
            let target = self
                .labels
                .iter()
                .find(|l| l.0 == to)
                .unwrap_or_else(|| panic!("BPF label {to} is never placed"))
                .1;
            self.insns[at].off = (target as i64 - at as i64 - 1) as i16;
        }
        self.insns
    }
}

// Opcodes used below (linux/bpf_common.h, linux/bpf.h).
pub(super) const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
pub(super) const MOV64_K: u8 = 0xb7;
pub(super) const ADD64_K: u8 = 0x07;
pub(super) const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub(super) const LDX_H: u8 = 0x69;
pub(super) const STX_W: u8 = 0x63;
pub(super) const LD_DW: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW (two slots)
pub(super) const JGT_X: u8 = 0x2d;
pub(super) const JEQ_K: u8 = 0x15;
pub(super) const JA: u8 = 0x05;
pub(super) const JNE_K: u8 = 0x55;
pub(super) const CALL: u8 = 0x85;
pub(super) const EXIT: u8 = 0x95;

// Offsets in `struct xdp_md`.
pub(super) const MD_DATA: i16 = 0;
pub(super) const MD_DATA_END: i16 = 4;
const MD_RX_QUEUE: i16 = 16;

/// The program (see the module doc), with the two map descriptors patched in.
pub(crate) fn program(xsks: RawFd, hosts: RawFd) -> [Insn; 30] {
    // EtherTypes as a little-endian u16 load of the big-endian field sees them.
    let arp = i32::from(u16::from_le_bytes([0x08, 0x06]));
    let ipv4 = i32::from(u16::from_le_bytes([0x08, 0x00]));
    [
        /* 0 */ insn(MOV64_X, 6, 1, 0, 0), // r6 = ctx
        /* 1 */ insn(LDX_W, 2, 6, MD_DATA, 0), // r2 = data
        /* 2 */ insn(LDX_W, 3, 6, MD_DATA_END, 0), // r3 = data_end
        /* 3 */ insn(MOV64_X, 4, 2, 0, 0),
        /* 4 */ insn(ADD64_K, 4, 0, 0, 34), // r4 = data + Ethernet + IPv4 header
        /* 5 */ insn(JGT_X, 4, 3, 11, 0), // too short to classify: -> 17 redirect
        /* 6 */ insn(LDX_H, 4, 2, 12, 0), // r4 = EtherType
        /* 7 */ insn(JEQ_K, 4, 0, 17, arp), // ARP -> 25
        /* 8 */ insn(JNE_K, 4, 0, 8, ipv4), // not IPv4 -> 17 redirect
        /* 9 */ insn(LDX_W, 4, 2, 30, 0), // r4 = IPv4 destination
        /* 10 */ insn(STX_W, 10, 4, -4, 0), // key on the stack
        /* 11 */ insn(MOV64_X, 2, 10, 0, 0),
        /* 12 */ insn(ADD64_K, 2, 0, 0, -4), // r2 = &key
        /* 13 */ insn(LD_DW, 1, BPF_PSEUDO_MAP_FD, 0, hosts),
        /* 14 */ insn(0, 0, 0, 0, 0),
        /* 15 */ insn(CALL, 0, 0, 0, FN_MAP_LOOKUP_ELEM),
        /* 16 */ insn(JNE_K, 0, 0, 6, 0), // a host address -> 23 pass
        /* 17 */ insn(LDX_W, 2, 6, MD_RX_QUEUE, 0), // r2 = rx queue index
        /* 18 */ insn(LD_DW, 1, BPF_PSEUDO_MAP_FD, 0, xsks),
        /* 19 */ insn(0, 0, 0, 0, 0),
        /* 20 */ insn(MOV64_K, 3, 0, 0, XDP_PASS), // fallback when no socket
        /* 21 */ insn(CALL, 0, 0, 0, FN_REDIRECT_MAP),
        /* 22 */ insn(EXIT, 0, 0, 0, 0),
        /* 23 */ insn(MOV64_K, 0, 0, 0, XDP_PASS),
        /* 24 */ insn(EXIT, 0, 0, 0, 0),
        /* 25 */ insn(MOV64_X, 4, 2, 0, 0),
        /* 26 */ insn(ADD64_K, 4, 0, 0, 42), // r4 = data + Ethernet + ARP for IPv4
        /* 27 */ insn(JGT_X, 4, 3, -11, 0), // short ARP: -> 17 redirect
        /* 28 */ insn(LDX_W, 4, 2, 38, 0), // r4 = ARP target protocol address
        /* 29 */ insn(JA, 0, 0, -20, 0), // -> 10 look it up
    ]
}

/// `bpf(cmd, attr, sizeof attr)`; returns the non-negative result (often a new descriptor).
pub(crate) fn bpf<T>(cmd: u32, attr: &mut T) -> io::Result<i32> {
    #[allow(unsafe_code)]
    // SAFETY: `attr` is a live, fully initialised `repr(C)` prefix of `union bpf_attr` for `cmd`
    // (the kernel zero-extends shorter attrs); the kernel reads at most `size_of::<T>()` bytes and
    // writes only fields of that command.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            (attr as *mut T).cast::<libc::c_void>(),
            std::mem::size_of::<T>() as libc::c_long,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}

pub(crate) fn owned(fd: i32) -> OwnedFd {
    #[allow(unsafe_code)]
    // SAFETY: `fd` was just returned by bpf() as a new descriptor that nothing else owns.
    unsafe {
        OwnedFd::from_raw_fd(fd)
    }
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

fn name16(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, c) in n[..15].iter_mut().zip(s.bytes()) {
        *d = c;
    }
    n
}

pub(crate) fn map_create(
    map_type: u32,
    value_size: u32,
    entries: u32,
    name: &str,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size: 4,
        value_size,
        max_entries: entries,
        map_name: name16(name),
        ..Default::default()
    };
    bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// `map[key] = value` for a map of u32 keys and values.
pub(crate) fn map_update(map: &OwnedFd, key: u32, value: u32) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: (&raw const key) as u64,
        value: (&raw const value) as u64,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// `map[key]` for a map of u32 keys whose values are `N` u64s.
pub(crate) fn map_lookup_u64s<const N: usize>(map: &OwnedFd, key: u32) -> io::Result<[u64; N]> {
    let mut value = [0u64; N];
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: (&raw const key) as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
    Ok(value)
}

/// `map[key] = value` for a map of u32 keys whose values are `N` u64s.
pub(crate) fn map_update_u64s<const N: usize>(
    map: &OwnedFd,
    key: u32,
    value: &[u64; N],
) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: (&raw const key) as u64,
        value: value.as_ptr() as u64,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// The loaded program and its maps.
#[derive(Debug)]
pub(crate) struct Program {
    pub(crate) prog: OwnedFd,
    /// XSKMAP: rx queue index -> XDP socket.
    pub(crate) xsks: OwnedFd,
    /// IPv4 addresses (network order) whose frames go to the kernel.
    pub(crate) _hosts: OwnedFd,
}

fn prog_load(
    prog_type: u32,
    name: &str,
    insns: &[Insn],
    log: Option<&mut Vec<u8>>,
) -> io::Result<OwnedFd> {
    let license = c"Dual MIT/GPL";
    let (log_level, log_size, log_buf) = match log {
        Some(l) => (1, l.len() as u32, l.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        prog_name: name16(name),
        ..Default::default()
    };
    bpf(BPF_PROG_LOAD, &mut attr).map(owned)
}

/// Creates the maps and loads the program; `what` prefixes errors.
#[cold]
pub(crate) fn load(what: &str, hosts: &[std::net::Ipv4Addr]) -> Result<Program, Error> {
    if hosts.len() > MAX_HOSTS as usize {
        return Err(Error::Config(format!(
            "{what}: at most {MAX_HOSTS} host addresses (got {})",
            hosts.len()
        )));
    }
    let xsks = map_create(BPF_MAP_TYPE_XSKMAP, 4, MAX_QUEUES, "brick_xsks")
        .map_err(|e| bpf_error(what, "create the XSKMAP", e))?;
    let host_map = map_create(BPF_MAP_TYPE_HASH, 4, MAX_HOSTS, "brick_hosts")
        .map_err(|e| bpf_error(what, "create the host address map", e))?;
    for a in hosts {
        map_update(&host_map, u32::from_ne_bytes(a.octets()), 1)
            .map_err(|e| bpf_error(what, "add a host address", e))?;
    }
    let insns = program(xsks.as_raw_fd(), host_map.as_raw_fd());
    let prog = load_program(what, BPF_PROG_TYPE_XDP, "brick_xsk", &insns)?;
    Ok(Program {
        prog,
        xsks,
        _hosts: host_map,
    })
}

/// Loads a program of `prog_type`; on failure the error carries the verifier's log.
#[cold]
pub(crate) fn load_program(
    what: &str,
    prog_type: u32,
    name: &str,
    insns: &[Insn],
) -> Result<OwnedFd, Error> {
    prog_load(prog_type, name, insns, None)
        .or_else(|_| {
            // Load again with the verifier's log, only to say why.
            let mut log = vec![0u8; 64 * 1024];
            prog_load(prog_type, name, insns, Some(&mut log)).map_err(|e| {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let verifier = String::from_utf8_lossy(&log[..end]).trim().to_string();
                (e, verifier)
            })
        })
        .map_err(|(e, verifier)| {
            bpf_error(
                what,
                &format!("load the BPF program (verifier: {verifier})"),
                e,
            )
        })
}

#[cold]
pub(crate) fn bpf_error(what: &str, doing: &str, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => Error::Permission {
            what: format!("{what}: {doing}"),
            hint: "loading XDP programs needs root, or CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW",
        },
        Some(libc::ENOSYS) | Some(libc::EINVAL) if doing.starts_with("create the XSKMAP") => {
            Error::Os {
                what: format!(
                    "{what}: {doing}: this kernel has no BPF XSKMAP (needs Linux >= 4.18 with \
                     CONFIG_BPF_SYSCALL and CONFIG_XDP_SOCKETS)"
                ),
                source: e,
            }
        }
        _ => Error::Os {
            what: format!("{what}: {doing}"),
            source: e,
        },
    }
}

/// The program attached to an interface through a bpf_link; detached when dropped.
#[derive(Debug)]
pub(crate) struct Attachment {
    /// Keeps the program loaded and attached; closing it detaches.
    _link: OwnedFd,
    pub(crate) program: Program,
    /// Attached in the driver (native XDP) rather than in the generic skb path.
    pub(crate) native: bool,
}

/// Which XDP attach modes to try, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum XdpAttach {
    /// Native (driver) XDP, falling back to generic XDP if the driver has none.
    #[default]
    Auto,
    /// Native XDP only.
    Native,
    /// Generic (skb) XDP only.
    Generic,
}

/// Attaches `program` to `ifindex` with a bpf_link (see the module doc).
#[cold]
pub(crate) fn attach(
    what: &str,
    ifindex: u32,
    program: Program,
    mode: XdpAttach,
) -> Result<Attachment, Error> {
    let (link, native) = link(what, ifindex, &program.prog, mode)?;
    Ok(Attachment {
        _link: link,
        program,
        native,
    })
}

/// Attaches the program `prog` to `ifindex` with a bpf_link; returns the link (detaching when
/// closed) and whether the attachment is native.
#[cold]
pub(crate) fn link(
    what: &str,
    ifindex: u32,
    prog: &OwnedFd,
    mode: XdpAttach,
) -> Result<(OwnedFd, bool), Error> {
    let modes: &[u32] = match mode {
        XdpAttach::Auto => &[XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE],
        XdpAttach::Native => &[XDP_FLAGS_DRV_MODE],
        XdpAttach::Generic => &[XDP_FLAGS_SKB_MODE],
    };
    // A legacy program is detached at most once; then a link must succeed.
    let mut replaced_legacy = false;
    let mut last = None;
    for &flags in modes {
        loop {
            let mut attr = LinkCreateAttr {
                prog_fd: prog.as_raw_fd() as u32,
                target_ifindex: ifindex,
                attach_type: BPF_XDP,
                flags,
            };
            match bpf(BPF_LINK_CREATE, &mut attr) {
                Ok(fd) => return Ok((owned(fd), flags == XDP_FLAGS_DRV_MODE)),
                // A program is already attached: a legacy one is detached and the link retried
                // once; a link held by a live process cannot be detached from here.
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EEXIST))
                        && !replaced_legacy =>
                {
                    match detach_legacy(ifindex) {
                        Ok(()) => replaced_legacy = true,
                        Err(d) if d.raw_os_error() == Some(libc::EBUSY) => {
                            return Err(Error::Os {
                                what: format!(
                                    "{what}: attach XDP: the interface already has an XDP program \
                                     attached through a bpf_link of a running process (another \
                                     Brick port?); stop it, or see `ip link show` / \
                                     `bpftool net`"
                                ),
                                source: e,
                            });
                        }
                        Err(d) => return Err(bpf_error(what, "detach the legacy XDP program", d)),
                    }
                }
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
    }
    let e = last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL));
    Err(bpf_error(
        what,
        &format!("attach the XDP program with a bpf_link ({mode:?} mode; needs Linux >= 5.9)"),
        e,
    ))
}

/// Attaches the tc program `prog` at `ifindex`'s ingress with a bpf_link (tcx, Linux 6.6 or
/// later); detached when the link is closed.
#[cold]
pub(crate) fn tcx_link(what: &str, ifindex: u32, prog: &OwnedFd) -> Result<OwnedFd, Error> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_TCX_INGRESS,
        flags: 0,
    };
    bpf(BPF_LINK_CREATE, &mut attr)
        .map(owned)
        .map_err(|e| bpf_error(what, "attach at tc ingress (tcx needs Linux >= 6.6)", e))
}

// ===== legacy (netlink) attachment =====

const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const NLA_F_NESTED: u16 = 1 << 15;

/// `RTM_SETLINK` with `IFLA_XDP { FD = fd, FLAGS = flags }`: attaches (`fd` a program) or
/// detaches (`fd` = -1) a program the legacy way. Waits for the kernel's answer.
#[cold]
pub(crate) fn netlink_xdp(ifindex: u32, fd: i32, flags: u32) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: plain syscall.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    let sock = owned(raw);
    // nlmsghdr (16) + ifinfomsg (16) + IFLA_XDP (4) + FD (8) + FLAGS (8)
    let mut msg = [0u8; 52];
    let len = msg.len() as u32;
    msg[0..4].copy_from_slice(&len.to_ne_bytes());
    msg[4..6].copy_from_slice(&libc::RTM_SETLINK.to_ne_bytes());
    let nl_flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    msg[6..8].copy_from_slice(&nl_flags.to_ne_bytes());
    msg[8..12].copy_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg[16] = libc::AF_UNSPEC as u8;
    msg[20..24].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    msg[32..34].copy_from_slice(&20u16.to_ne_bytes());
    msg[34..36].copy_from_slice(&(IFLA_XDP | NLA_F_NESTED).to_ne_bytes());
    msg[36..38].copy_from_slice(&8u16.to_ne_bytes());
    msg[38..40].copy_from_slice(&IFLA_XDP_FD.to_ne_bytes());
    msg[40..44].copy_from_slice(&fd.to_ne_bytes());
    msg[44..46].copy_from_slice(&8u16.to_ne_bytes());
    msg[46..48].copy_from_slice(&IFLA_XDP_FLAGS.to_ne_bytes());
    msg[48..52].copy_from_slice(&flags.to_ne_bytes());
    #[allow(unsafe_code)]
    // SAFETY: sends the live buffer `msg` of the length passed (to the kernel: no address).
    let r = unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ack = [0u8; 256];
    #[allow(unsafe_code)]
    // SAFETY: receives into the live buffer `ack` of the length passed.
    let n = unsafe { libc::recv(sock.as_raw_fd(), ack.as_mut_ptr().cast(), ack.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // NLMSG_ERROR: the header, then the (negative) errno; 0 is the ACK.
    if n >= 20 && u16::from_ne_bytes([ack[4], ack[5]]) == libc::NLMSG_ERROR as u16 {
        let err = i32::from_ne_bytes([ack[16], ack[17], ack[18], ack[19]]);
        if err != 0 {
            return Err(io::Error::from_raw_os_error(-err));
        }
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "unexpected netlink answer",
    ))
}

/// Detaches legacy programs of both modes; EBUSY means a bpf_link holds the interface.
#[cold]
fn detach_legacy(ifindex: u32) -> io::Result<()> {
    for flags in [XDP_FLAGS_SKB_MODE, XDP_FLAGS_DRV_MODE] {
        netlink_xdp(ifindex, -1, flags)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insn_layout_is_the_kernels() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let i = insn(LDX_W, 2, 6, 16, 0);
        assert_eq!((i.code, i.regs, i.off), (0x61, 0x62, 16));
    }

    #[test]
    fn labels_resolve_backwards_and_forwards() {
        let mut a = Asm::default();
        a.label("top")
            .jump(JEQ_K, 1, 0, 0, "end")
            .op(MOV64_K, 0, 0, 0, 1)
            .jump(JA, 0, 0, 0, "top")
            .label("end")
            .op(EXIT, 0, 0, 0, 0);
        let p = a.finish();
        assert_eq!((p[0].off, p[2].off), (2, -3));
    }

    #[test]
    fn jumps_land_where_the_comments_say() {
        let p = program(3, 4);
        let target = |at: usize| (at as i64 + 1 + i64::from(p[at].off)) as usize;
        assert_eq!(target(5), 17);
        assert_eq!(target(7), 25);
        assert_eq!(target(8), 17);
        assert_eq!(target(16), 23);
        assert_eq!(target(27), 17);
        assert_eq!(target(29), 10);
        assert_eq!(p[22].code, EXIT);
        assert_eq!(p[24].code, EXIT);
    }
}
