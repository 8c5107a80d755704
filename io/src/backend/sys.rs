//! Small wrappers over Linux calls that more than one kernel backend makes.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::Error;

/// `setsockopt(fd, level, name, val)`; `what` names the object and option in the error.
#[cold]
pub(crate) fn setsockopt<T>(
    fd: &OwnedFd,
    level: i32,
    name: i32,
    val: &T,
    what: &str,
) -> Result<(), Error> {
    setsockopt_io(fd, level, name, val).map_err(|e| Error::os(what, e))
}

/// [`setsockopt`] with the kernel's answer as it is.
#[cold]
pub(crate) fn setsockopt_io<T>(
    fd: &OwnedFd,
    level: i32,
    name: i32,
    val: &T,
) -> std::io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: `val` points to a live `T` of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `getsockopt(fd, level, name)` into a `T` that is valid when all-zero (a plain C struct).
pub(crate) fn getsockopt<T: Copy>(
    fd: &OwnedFd,
    level: i32,
    name: i32,
    zero: T,
) -> std::io::Result<T> {
    let mut v = zero;
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    #[allow(unsafe_code)]
    // SAFETY: `v` and `len` are live and `len` holds the size of `v`; the kernel writes at most
    // `len` bytes.
    let r = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&raw mut v).cast(), &mut len) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(v)
    }
}

/// The index of `ifname` in the calling thread's network namespace.
#[cold]
pub fn ifindex(ifname: &str) -> Result<u32, Error> {
    let missing = || Error::NoSuchInterface(ifname.to_string());
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
        return Err(missing());
    }
    let c = CString::new(ifname).map_err(|_| missing())?;
    #[allow(unsafe_code)]
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 { Err(missing()) } else { Ok(idx) }
}

/// An `ifreq` naming `ifname` (which [`ifindex`] has checked to fit).
fn ifreq(ifname: &str) -> libc::ifreq {
    #[allow(unsafe_code)]
    // SAFETY: all-zero is a valid `ifreq`.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    ifr
}

/// A datagram socket of the calling thread's namespace, for interface ioctls (not every socket
/// family answers them: AF_XDP does not).
#[cold]
fn ctl_socket() -> std::io::Result<OwnedFd> {
    #[allow(unsafe_code)]
    // SAFETY: plain syscall.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(unsafe_code)]
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The MTU of `ifname`.
#[cold]
pub(crate) fn mtu(ifname: &str) -> std::io::Result<usize> {
    let fd = ctl_socket()?;
    let mut ifr = ifreq(ifname);
    #[allow(unsafe_code)]
    // SAFETY: SIOCGIFMTU reads the name from and writes the MTU into the live `ifr`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFMTU, &raw mut ifr) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(unsafe_code)]
    // SAFETY: the kernel filled the `ifru_mtu` member of the union.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
    Ok(mtu.max(68) as usize)
}

/// The hardware (MAC) address of `ifname`.
#[cold]
pub(crate) fn hwaddr(ifname: &str) -> std::io::Result<[u8; 6]> {
    let fd = ctl_socket()?;
    let mut ifr = ifreq(ifname);
    #[allow(unsafe_code)]
    // SAFETY: SIOCGIFHWADDR reads the name from and writes a sockaddr into the live `ifr`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &raw mut ifr) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(unsafe_code)]
    // SAFETY: the kernel filled the `ifru_hwaddr` member of the union.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// `struct ethtool_channels` (linux/ethtool.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// The number of receive queues of `ifname` as the driver reports them (`ethtool -l`): rx plus
/// combined channels. `None` if the driver does not say.
#[cold]
pub(crate) fn rx_queues(ifname: &str) -> Option<u32> {
    let fd = ctl_socket().ok()?;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let mut ifr = ifreq(ifname);
    ifr.ifr_ifru.ifru_data = (&raw mut ch).cast();
    #[allow(unsafe_code)]
    // SAFETY: SIOCETHTOOL reads the command from and writes the answer into `ch`, which is live
    // and as large as the command's structure; `ifr` names the interface.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &raw mut ifr) };
    (r == 0).then_some(ch.rx_count + ch.combined_count)
}
