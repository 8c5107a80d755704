//! The port API: what every backend provides, and the [`Port`] that groups its queues.
//!
//! A port has N rx and N tx queues. Each queue is a value with `&mut self` methods that is `Send`
//! but not `Sync`: it is set up on one thread, moved once (explicitly, by [`Port::split`] and a
//! `move` into the worker), and from then on only its owner can touch it. Two threads can never
//! poll the same queue.

use std::fmt;
use std::os::fd::RawFd;
use std::sync::Arc;

use crate::burst::Burst;
use crate::clock;
use crate::pool::Pool;
use crate::stats::{QueueStats, Snapshot};

/// How a poller that found nothing to do can sleep until a queue has work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The fd becomes readable (POLLIN) when frames arrive; a kernel socket or a doorbell eventfd.
    Fd(RawFd),
    /// Nothing to wait on (a file at its end): sleep for the timeout.
    Never,
}

/// The receive half of one queue of a backend.
pub trait RxQueue: Send + fmt::Debug {
    /// Moves up to `burst.room()` received frames into packets from `pool` and appends them to
    /// `burst`; returns how many were appended. Sets `meta.hash`; the caller stamps the rest.
    /// Frames that cannot be received (pool empty, too large) are dropped and counted.
    fn rx_burst(&mut self, pool: &Pool, burst: &mut Burst) -> usize;

    /// What to wait on when idle.
    fn wake(&self) -> Wake;

    /// The counters this queue writes.
    fn stats(&self) -> &Arc<QueueStats>;

    /// Called by the poll loop right before it blocks on [`RxQueue::wake`]: a backend whose
    /// producer only signals a sleeping consumer arms its doorbell here.
    fn arm(&mut self) {}
}

/// The transmit half of one queue of a backend.
pub trait TxQueue: Send + fmt::Debug {
    /// Sends every packet of `burst` that fits and frees the rest, counting them by reason; the
    /// burst is empty afterwards. Returns how many were handed to the wire.
    fn tx_burst(&mut self, burst: &mut Burst) -> usize;

    /// Pushes out anything the backend still buffers (a file writer, an unkicked kernel ring).
    fn flush(&mut self) {}

    /// The counters this queue writes.
    fn stats(&self) -> &Arc<QueueStats>;
}

// ===== impl Rx =====

/// A port's rx queue, as handed to a worker: the backend queue plus the indices it stamps into
/// every packet it receives.
#[derive(Debug)]
pub struct Rx {
    port: u16,
    queue: u16,
    inner: Box<dyn RxQueue>,
}

impl Rx {
    /// Receives a burst (see [`RxQueue::rx_burst`]) and stamps port, queue and receive time.
    #[inline]
    pub fn rx_burst(&mut self, pool: &Pool, burst: &mut Burst) -> usize {
        let before = burst.len();
        let n = self.inner.rx_burst(pool, burst);
        if n != 0 {
            let now = clock::now_ns();
            for p in &mut burst.as_mut_slice()[before..] {
                p.meta.port = self.port;
                p.meta.queue = self.queue;
                p.meta.rx_ns = now;
            }
        }
        n
    }

    /// Index of the port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Index of the queue within the port.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// What to wait on when idle.
    pub fn wake(&self) -> Wake {
        self.inner.wake()
    }

    /// Arms the backend's wake-up before the poller blocks.
    pub fn arm(&mut self) {
        self.inner.arm()
    }

    /// This queue's counters.
    pub fn stats(&self) -> Snapshot {
        self.inner.stats().snapshot()
    }
}

// ===== impl Tx =====

/// A port's tx queue, as handed to a worker.
#[derive(Debug)]
pub struct Tx {
    port: u16,
    queue: u16,
    inner: Box<dyn TxQueue>,
}

impl Tx {
    /// Sends a burst (see [`TxQueue::tx_burst`]).
    #[inline]
    pub fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        self.inner.tx_burst(burst)
    }

    /// Pushes out what the backend buffers.
    pub fn flush(&mut self) {
        self.inner.flush()
    }

    /// Index of the port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Index of the queue within the port.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// This queue's counters.
    pub fn stats(&self) -> Snapshot {
        self.inner.stats().snapshot()
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        self.inner.flush();
    }
}

// ===== impl Port =====

/// A named port with its queues, before they are split among workers.
#[derive(Debug)]
pub struct Port {
    name: String,
    id: u16,
    mode: String,
    link: Option<([u8; 6], usize)>,
    rx: Vec<Box<dyn RxQueue>>,
    tx: Vec<Box<dyn TxQueue>>,
}

impl Port {
    /// Groups a backend's queues into a port with id 0 (see [`Port::with_id`]).
    pub fn new(
        name: impl Into<String>,
        rx: Vec<Box<dyn RxQueue>>,
        tx: Vec<Box<dyn TxQueue>>,
    ) -> Self {
        Self {
            name: name.into(),
            id: 0,
            mode: String::new(),
            link: None,
            rx,
            tx,
        }
    }

    /// Sets the index stamped into `meta.port` of every packet this port receives.
    pub fn with_id(mut self, id: u16) -> Self {
        self.id = id;
        self
    }

    /// Records what the backend negotiated with the kernel and driver (see [`Port::mode`]).
    pub fn with_mode(mut self, mode: impl Into<String>) -> Self {
        self.mode = mode.into();
        self
    }

    /// Records the interface's hardware address and MTU.
    pub fn with_link(mut self, mac: [u8; 6], mtu: usize) -> Self {
        self.link = Some((mac, mtu));
        self
    }

    /// The interface's MAC address; `None` for ports without one (mem cables, pcap files).
    pub fn mac(&self) -> Option<[u8; 6]> {
        self.link.map(|l| l.0)
    }

    /// The interface's MTU (largest IP packet); `None` for ports without an interface.
    pub fn mtu(&self) -> Option<usize> {
        self.link.map(|l| l.1)
    }

    /// What the backend negotiated, e.g. `af_xdp copy native` or `af_xdp zero-copy native`;
    /// empty for backends without modes.
    pub fn mode(&self) -> &str {
        &self.mode
    }

    /// The port's name (an interface, a file, a cable end).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port's index.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Number of rx queues.
    pub fn rx_queues(&self) -> usize {
        self.rx.len()
    }

    /// Number of tx queues.
    pub fn tx_queues(&self) -> usize {
        self.tx.len()
    }

    /// A handle to read this port's counters after the queues have moved to their workers.
    pub fn stats(&self) -> PortStats {
        PortStats {
            name: self.name.clone(),
            rx: self.rx.iter().map(|q| Arc::clone(q.stats())).collect(),
            tx: self.tx.iter().map(|q| Arc::clone(q.stats())).collect(),
        }
    }

    /// Hands out the queues, each to be moved to exactly one worker.
    pub fn split(self) -> (Vec<Rx>, Vec<Tx>) {
        let port = self.id;
        let rx = self
            .rx
            .into_iter()
            .enumerate()
            .map(|(i, inner)| Rx {
                port,
                queue: i as u16,
                inner,
            })
            .collect();
        let tx = self
            .tx
            .into_iter()
            .enumerate()
            .map(|(i, inner)| Tx {
                port,
                queue: i as u16,
                inner,
            })
            .collect();
        (rx, tx)
    }
}

/// Reads a port's counters from any thread, summing its queues.
#[derive(Clone, Debug)]
pub struct PortStats {
    name: String,
    rx: Vec<Arc<QueueStats>>,
    tx: Vec<Arc<QueueStats>>,
}

impl PortStats {
    /// The port's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All queues, rx and tx, summed.
    pub fn total(&self) -> Snapshot {
        self.rx.iter().chain(&self.tx).map(|q| q.snapshot()).sum()
    }

    /// Rx queue `i`'s counters.
    pub fn rx_queue(&self, i: usize) -> Option<Snapshot> {
        self.rx.get(i).map(|q| q.snapshot())
    }

    /// Tx queue `i`'s counters.
    pub fn tx_queue(&self, i: usize) -> Option<Snapshot> {
        self.tx.get(i).map(|q| q.snapshot())
    }
}
