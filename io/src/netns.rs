//! Network namespaces and veth pairs for tests, benchmarks and the virtual rack: real Linux hosts
//! on one machine.
//!
//! A [`Netns`] is deleted when dropped, also while a failing test unwinds, so no namespace
//! outlives the test that made it. Setup goes through `ip` (iproute2): it is not a fast path, and
//! `ip` is what an operator would type to reproduce it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

use crate::Error;

/// True when running as root (namespaces, veth and packet sockets need it).
pub fn is_root() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: plain syscall without arguments.
    let uid = unsafe { libc::geteuid() };
    uid == 0
}

/// Runs `ip` (or another command) and turns a failure into an error carrying its stderr.
#[cold]
pub fn sh(cmd: &str, args: &[&str]) -> Result<String, Error> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| Error::os(format!("run {cmd}"), e))?;
    if !out.status.success() {
        return Err(Error::Config(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `f` on a new thread that has entered the named namespace (`ip netns add NAME`), and
/// returns its result. Sockets made in `f` stay in the namespace when used from other threads
/// afterwards.
#[cold]
pub fn enter<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
    let path = format!("/run/netns/{name}");
    let file = File::open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Config(format!(
            "no network namespace {name:?} (see `ip netns list`)"
        )),
        _ => Error::os(format!("open {path}"), e),
    })?;
    std::thread::scope(|s| {
        s.spawn(|| {
            #[allow(unsafe_code)]
            // SAFETY: `file` is an open namespace fd; setns only changes this thread.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if r < 0 {
                return Err(Error::last_os(format!("setns {path}")));
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Runs `f` in the named namespace ([`enter`]), or here when there is none.
#[cold]
pub fn within<T: Send>(name: Option<&str>, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
    match name {
        Some(ns) => enter(ns, f),
        None => Ok(f()),
    }
}

/// A named network namespace that is deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace (replacing a stale one of the same name) with its loopback up.
    #[cold]
    pub fn new(name: &str) -> Result<Self, Error> {
        let _ = sh("ip", &["netns", "del", name]);
        sh("ip", &["netns", "add", name])?;
        let ns = Netns { name: name.into() };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    #[cold]
    pub fn exec(&self, argv: &[&str]) -> Result<String, Error> {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(argv);
        sh("ip", &args)
    }

    /// Runs `f` inside the namespace (see [`enter`]).
    #[cold]
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
        enter(&self.name, f)
    }

    /// Creates a veth pair `self:if_here` <-> `peer:if_there` with `queues` rx/tx queues on each
    /// end, IPv6 off (so the kernel sends nothing on its own), both ends up.
    #[cold]
    pub fn veth(
        &self,
        if_here: &str,
        peer: &Netns,
        if_there: &str,
        queues: usize,
    ) -> Result<(), Error> {
        let q = queues.to_string();
        sh(
            "ip",
            &[
                "link",
                "add",
                if_here,
                "netns",
                &self.name,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
                "type",
                "veth",
                "peer",
                "name",
                if_there,
                "netns",
                &peer.name,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
            ],
        )?;
        for (ns, ifname) in [(self, if_here), (peer, if_there)] {
            ns.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{ifname}.disable_ipv6=1"),
            ])?;
            ns.exec(&["ip", "link", "set", ifname, "up"])?;
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh("ip", &["netns", "del", &self.name]);
    }
}
