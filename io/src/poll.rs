//! The poll loop: a worker polls the rx queues it owns in bursts, and shares the CPU politely when
//! they stay empty.
//!
//! Idle policies:
//! - `busy`: spin forever (a dedicated core, lowest latency).
//! - `adaptive` (default): spin while traffic flows; after `spin` empty rounds yield the CPU; after
//!   `spin + yield` empty rounds block on the queues' fds (kernel sockets, or the eventfd doorbell
//!   of a mem cable) for at most `block`.
//! - `interrupt`: block after every empty round.
//!
//! Blocking is race-free: before blocking, the loop arms every queue's wake-up and polls once more,
//! so a frame that arrives between the last poll and the block either is seen by that poll or
//! rings the doorbell.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::thread::JoinHandle;
use std::time::Duration;
use std::{fmt, thread};

use crate::Error;
use crate::burst::Burst;
use crate::pool::Pool;
use crate::port::{Rx, Wake};

/// Tuning of the `adaptive` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adaptive {
    /// Empty rounds spent spinning before yielding.
    pub spin: u32,
    /// Further empty rounds spent yielding before blocking.
    pub yields: u32,
    /// Longest single block.
    pub block: Duration,
}

impl Default for Adaptive {
    fn default() -> Self {
        Self {
            spin: 2_000,
            yields: 200,
            block: Duration::from_millis(10),
        }
    }
}

/// What a worker does when its queues are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Never give up the core.
    Busy,
    /// Spin, then yield, then block (see the module doc).
    Adaptive(Adaptive),
    /// Block as soon as a round finds nothing, for at most the given time.
    Interrupt(Duration),
}

impl Default for IdlePolicy {
    fn default() -> Self {
        IdlePolicy::Adaptive(Adaptive::default())
    }
}

impl FromStr for IdlePolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "busy" => Ok(IdlePolicy::Busy),
            "adaptive" => Ok(IdlePolicy::default()),
            "interrupt" => Ok(IdlePolicy::Interrupt(Adaptive::default().block)),
            _ => Err(Error::Config(format!(
                "idle policy {s:?}: expected busy, adaptive or interrupt"
            ))),
        }
    }
}

impl fmt::Display for IdlePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdlePolicy::Busy => "busy",
            IdlePolicy::Adaptive(_) => "adaptive",
            IdlePolicy::Interrupt(_) => "interrupt",
        })
    }
}

/// Where the idle state machine stands after an empty round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleStep {
    /// Spun or yielded; poll again.
    Poll,
    /// Wake-ups are armed; poll once more, then call [`Idle::block`] if still empty.
    Armed,
}

/// The idle state machine of one worker.
#[derive(Debug)]
pub struct Idle {
    policy: IdlePolicy,
    empty_rounds: u32,
    /// Rounds that ended in a block; for tests and reports.
    pub blocks: u64,
}

impl Idle {
    /// A fresh state machine.
    pub fn new(policy: IdlePolicy) -> Self {
        Self {
            policy,
            empty_rounds: 0,
            blocks: 0,
        }
    }

    /// A round found work.
    #[inline]
    pub fn busy(&mut self) {
        self.empty_rounds = 0;
    }

    /// A round found nothing: spin, yield or arm the queues' wake-ups.
    #[inline]
    pub fn empty(&mut self, rx: &mut [Rx]) -> IdleStep {
        self.empty_rounds = self.empty_rounds.saturating_add(1);
        let (spin, yields) = match self.policy {
            IdlePolicy::Busy => {
                std::hint::spin_loop();
                return IdleStep::Poll;
            }
            IdlePolicy::Adaptive(a) => (a.spin, a.yields),
            IdlePolicy::Interrupt(_) => (0, 0),
        };
        if self.empty_rounds <= spin {
            std::hint::spin_loop();
            IdleStep::Poll
        } else if self.empty_rounds <= spin + yields {
            thread::yield_now();
            IdleStep::Poll
        } else {
            for q in rx.iter_mut() {
                q.arm();
            }
            IdleStep::Armed
        }
    }

    /// Blocks until a queue's fd or one of `extra` (doorbells) is readable, or the policy's
    /// timeout passes.
    #[cold]
    pub fn block(&mut self, rx: &[Rx], extra: &[Wake]) {
        let timeout = match self.policy {
            IdlePolicy::Busy => return,
            IdlePolicy::Adaptive(a) => a.block,
            IdlePolicy::Interrupt(t) => t,
        };
        self.blocks += 1;
        let mut fds = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; 64];
        let mut n = 0;
        for w in rx.iter().map(Rx::wake).chain(extra.iter().copied()) {
            if let (Wake::Fd(fd), Some(slot)) = (w, fds.get_mut(n)) {
                slot.fd = fd;
                n += 1;
            }
        }
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        #[allow(unsafe_code)]
        // SAFETY: `fds[..n]` is an initialised pollfd array that outlives the call.
        unsafe {
            libc::poll(fds.as_mut_ptr(), n as libc::nfds_t, ms)
        };
    }
}

/// Polls `rx` until `stop` is set, handing each non-empty burst to `process` with the index of the
/// queue it came from. `process` must leave the burst empty (send, free or keep the packets).
pub fn run(
    rx: &mut [Rx],
    pool: &Pool,
    burst_size: usize,
    policy: IdlePolicy,
    stop: &AtomicBool,
    mut process: impl FnMut(usize, &mut Burst),
) -> Idle {
    let mut burst = Burst::new(burst_size);
    let mut idle = Idle::new(policy);
    let mut armed = false;
    while !stop.load(Ordering::Relaxed) {
        let mut work = 0;
        for (i, q) in rx.iter_mut().enumerate() {
            let n = q.rx_burst(pool, &mut burst);
            if n != 0 {
                work += n;
                process(i, &mut burst);
                burst.clear();
            }
        }
        if work != 0 {
            idle.busy();
            armed = false;
        } else if armed {
            idle.block(rx, &[]);
            armed = false;
        } else {
            armed = idle.empty(rx) == IdleStep::Armed;
        }
    }
    idle
}

// ===== impl Doorbell =====

/// Wakes a consumer that sleeps on an eventfd, costing the producer a syscall only when the
/// consumer has announced that it is about to sleep.
#[derive(Debug)]
pub struct Doorbell {
    waiting: AtomicBool,
    efd: OwnedFd,
}

impl Doorbell {
    /// A doorbell with its eventfd.
    #[cold]
    pub fn new() -> Result<Self, Error> {
        #[allow(unsafe_code)]
        // SAFETY: plain syscall with constant flags.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last_os("eventfd"));
        }
        #[allow(unsafe_code)]
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let efd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            waiting: AtomicBool::new(false),
            efd,
        })
    }

    /// The fd the consumer polls.
    pub fn fd(&self) -> Wake {
        Wake::Fd(self.efd.as_raw_fd())
    }

    /// Consumer: about to sleep. Drains old rings so the next poll(2) only wakes on a new one.
    pub fn arm(&self) {
        let mut v = 0u64;
        #[allow(unsafe_code)]
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd.
        unsafe {
            libc::read(self.efd.as_raw_fd(), (&raw mut v).cast(), 8)
        };
        self.waiting.store(true, Ordering::SeqCst);
    }

    /// Producer: new frames are published; wake the consumer if it armed the doorbell.
    #[inline]
    pub fn ring(&self) {
        // Orders the producer's publish before the load of `waiting`, pairing with the consumer's
        // SeqCst store in `arm` before its last poll.
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::AcqRel) {
            let one = 1u64;
            #[allow(unsafe_code)]
            // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
            unsafe {
                libc::write(self.efd.as_raw_fd(), (&raw const one).cast(), 8)
            };
        }
    }
}

// ===== core pinning =====

/// The cores this process may run on.
pub fn cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Checks that `core` exists.
#[cold]
pub fn check_core(core: usize) -> Result<(), Error> {
    let available = cores();
    if available.contains(&core) {
        Ok(())
    } else {
        Err(Error::NoSuchCore { core, available })
    }
}

/// How a worker thread is scheduled against the other threads of its core, among them the
/// kernel's receive work for its ports (a NAPI thread or ksoftirqd).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Priority {
    /// As the process is.
    #[default]
    Inherit,
    /// The normal scheduler at this nice value (-20..=19): below 0 the worker gets the larger
    /// share of a core it shares with threads at 0.
    Nice(i32),
    /// `SCHED_FIFO` at this priority (1..=99): the worker runs whenever it has work, ahead of
    /// every normal thread of its core, and the kernel's receive work runs only while the worker
    /// sleeps, so it never takes frames the worker has no time for. Such a worker must sleep as
    /// soon as its queues are empty.
    Realtime(u8),
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Priority::Inherit => f.write_str("inherited"),
            Priority::Nice(n) => write!(f, "nice {n}"),
            Priority::Realtime(p) => write!(f, "SCHED_FIFO {p}"),
        }
    }
}

/// Sets the calling thread's scheduling; lowering the nice value and realtime scheduling need
/// root or CAP_SYS_NICE.
#[cold]
pub fn set_priority(priority: Priority) -> Result<(), Error> {
    #[allow(unsafe_code)]
    // SAFETY: plain system calls on the calling thread; `param` outlives the call.
    let r = unsafe {
        let tid = libc::gettid();
        match priority {
            Priority::Inherit => 0,
            Priority::Nice(n) => libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, n),
            Priority::Realtime(p) => {
                let param = libc::sched_param {
                    sched_priority: p.into(),
                };
                libc::sched_setscheduler(tid, libc::SCHED_FIFO, &param)
            }
        }
    };
    if r == 0 {
        Ok(())
    } else {
        Err(Error::Os {
            what: format!(
                "set the worker's scheduling to {priority} (below nice 0 needs root or \
                 CAP_SYS_NICE; realtime also needs RLIMIT_RTPRIO >= the priority without them, \
                 and a realtime budget in the process's cgroup where the kernel has RT group \
                 scheduling; leave `nice` and `realtime` out of [dataplane] to keep the \
                 process's)"
            ),
            source: std::io::Error::last_os_error(),
        })
    }
}

/// Starts a named worker thread, pinned to `core` when one is given. A core that does not exist
/// is an error before any thread starts.
#[cold]
pub fn spawn<T: Send + 'static>(
    name: impl Into<String>,
    core: Option<usize>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, Error> {
    if let Some(c) = core {
        check_core(c)?;
    }
    let name = name.into();
    thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            if let Some(c) = core {
                // Checked above; a failure here (a cgroup change in between) leaves the thread
                // unpinned, which costs speed, not correctness.
                core_affinity::set_for_current(core_affinity::CoreId { id: c });
            }
            f()
        })
        .map_err(|e| Error::Os {
            what: format!("spawn worker {name}"),
            source: e,
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    fn nice_of(tid: libc::pid_t) -> i32 {
        #[allow(unsafe_code)]
        // SAFETY: plain system call.
        unsafe {
            libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t)
        }
    }

    fn policy_of(tid: libc::pid_t) -> i32 {
        #[allow(unsafe_code)]
        // SAFETY: plain system call.
        unsafe {
            libc::sched_getscheduler(tid)
        }
    }

    fn me() -> libc::pid_t {
        #[allow(unsafe_code)]
        // SAFETY: plain system call.
        unsafe {
            libc::gettid()
        }
    }

    /// The nice value lands on the calling thread only; lowering it needs privilege.
    #[test]
    fn nice_is_per_thread() {
        let (zero, worker) = std::thread::spawn(move || {
            set_priority(Priority::Nice(7)).unwrap();
            (nice_of(0), nice_of(me()))
        })
        .join()
        .unwrap();
        assert_eq!(worker, 7);
        assert_eq!(zero, 7, "who 0 is the calling thread on Linux");
        assert_ne!(nice_of(me()), 7, "the spawning thread keeps its own");
        let lower = std::thread::spawn(|| set_priority(Priority::Nice(-3)))
            .join()
            .unwrap();
        if crate::netns::is_root() {
            lower.unwrap();
        } else {
            let e = lower.unwrap_err().to_string();
            assert!(e.contains("CAP_SYS_NICE"), "{e}");
        }
    }

    /// Realtime scheduling lands on the calling thread only. Where this process may not use it
    /// (no privilege, or a cgroup without a realtime budget), the error says what it needs.
    #[test]
    fn realtime_is_per_thread() {
        let got = std::thread::spawn(|| {
            set_priority(Priority::Realtime(1))?;
            Ok::<_, Error>(policy_of(me()))
        })
        .join()
        .unwrap();
        match got {
            Ok(policy) => assert_eq!(policy, libc::SCHED_FIFO),
            Err(e) => {
                let e = e.to_string();
                for needs in ["SCHED_FIFO 1", "CAP_SYS_NICE", "RLIMIT_RTPRIO", "cgroup"] {
                    assert!(e.contains(needs), "{e}");
                }
                eprintln!("realtime_is_per_thread: this process may not use SCHED_FIFO: {e}");
            }
        }
        assert_eq!(
            policy_of(me()),
            libc::SCHED_OTHER,
            "the spawning thread keeps its own"
        );
        std::thread::spawn(|| set_priority(Priority::Inherit))
            .join()
            .unwrap()
            .unwrap();
    }

    #[test]
    fn policy_names() {
        for s in ["busy", "adaptive", "interrupt"] {
            assert_eq!(s.parse::<IdlePolicy>().unwrap().to_string(), s);
        }
        let e = "spin".parse::<IdlePolicy>().unwrap_err().to_string();
        assert!(e.contains("busy, adaptive or interrupt"), "{e}");
    }

    #[test]
    fn missing_core_is_a_clear_error() {
        let e = spawn("w", Some(4096), || ()).unwrap_err().to_string();
        assert!(e.starts_with("core 4096 does not exist"), "{e}");
        assert!(spawn("w", Some(cores()[0]), || 7).unwrap().join().unwrap() == 7);
    }

    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: writes one live timespec.
        unsafe {
            libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts)
        };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// An idle adaptive poller sleeps (a few percent of a core at most), and a frame sent while it
    /// sleeps wakes it through the cable's doorbell well before the block timeout.
    #[test]
    fn adaptive_poller_sleeps_when_idle_and_wakes_on_traffic() {
        use crate::backend::mem::{CableConfig, cable};
        use crate::pool::PoolConfig;

        let (a, b) = cable("a", "b", CableConfig::default()).unwrap();
        let (_, mut tx) = a.split();
        let (mut rx, _) = b.split();
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let policy = IdlePolicy::Adaptive(Adaptive {
            block: Duration::from_secs(2),
            ..Adaptive::default()
        });
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            let pool = Pool::new(PoolConfig::default()).unwrap();
            let cpu0 = thread_cpu();
            let idle = run(&mut rx, &pool, 32, policy, &s, |_, burst| {
                let _ = seen_tx.send(Instant::now());
                burst.clear();
            });
            (idle.blocks, thread_cpu() - cpu0)
        });
        std::thread::sleep(Duration::from_millis(500));
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut burst = Burst::new(1);
        let mut f = vec![0u8; 64];
        crate::testframe::build(&mut f, 1, 1);
        burst.push(pool.alloc_from(&f).unwrap()).unwrap();
        let sent = Instant::now();
        assert_eq!(tx[0].tx_burst(&mut burst), 1);
        let woke = seen_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("frame delivered");
        let latency = woke - sent;
        stop.store(true, Ordering::Relaxed);
        // Wake the worker from its (2 s) block so it sees `stop`.
        burst.push(pool.alloc_from(&f).unwrap()).unwrap();
        tx[0].tx_burst(&mut burst);
        let (blocks, cpu) = worker.join().unwrap();
        assert!(blocks >= 1, "the idle poller never blocked");
        assert!(
            latency < Duration::from_millis(500),
            "woke after {latency:?}: doorbell not rung"
        );
        assert!(
            cpu < Duration::from_millis(150),
            "idle poller burned {cpu:?} of CPU in 0.5 s"
        );
    }

    #[test]
    fn doorbell_wakes_an_armed_sleeper_and_stays_silent_otherwise() {
        let bell = Arc::new(Doorbell::new().unwrap());
        let Wake::Fd(fd) = bell.fd() else { panic!() };
        let readable = |ms| {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            #[allow(unsafe_code)]
            // SAFETY: one live pollfd.
            unsafe {
                libc::poll(&mut p, 1, ms) == 1
            }
        };
        bell.ring();
        assert!(!readable(0), "not armed: no syscall, no wake");
        bell.arm();
        let b = Arc::clone(&bell);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.ring();
        });
        let start = Instant::now();
        assert!(readable(5_000));
        assert!(start.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
        bell.arm();
        assert!(!readable(0), "arm drains the old ring");
    }
}
