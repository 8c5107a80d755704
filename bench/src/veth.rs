//! AF_PACKET ports on a veth pair beside the kernel's own socket path over the same veth, in one
//! run. Needs root: it builds two namespaces joined by a veth pair, and deletes them afterwards.
//!
//! - Brick: an AF_PACKET tx port in namespace A sends bursts of test frames as fast as it can; an
//!   AF_PACKET rx port in namespace B counts what arrives.
//! - Kernel: a UDP socket in A sends datagrams whose frames have the same size to a UDP socket in
//!   B (one `send` and one `recv` per datagram: the kernel's plain socket path).
//!
//! The sender runs on the first core, the receiver on the second. veth has no NAPI of its own
//! unless XDP or GRO is enabled on it, so the receive half of the veth (netif_rx backlog, softirq)
//! runs on the sender's core in both cases.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use brick_io::backend::af_packet::{self, AfPacketConfig};
use brick_io::netns::{Netns, is_root};
use brick_io::poll::{self, IdlePolicy};
use brick_io::{Burst, Error, Pool, PoolConfig, Port, testframe};
use serde::Serialize;

/// Rates of both paths, in one run.
#[derive(Clone, Debug, Serialize)]
pub struct VethReport {
    /// Always "veth".
    pub bench: &'static str,
    /// Frame size (Ethernet, without FCS).
    pub size: usize,
    /// Seconds per path.
    pub seconds: f64,
    /// Brick AF_PACKET: frames the tx port handed to the kernel, Mpps.
    pub brick_tx_mpps: f64,
    /// Brick AF_PACKET: frames the rx port received, Mpps.
    pub brick_rx_mpps: f64,
    /// Kernel UDP sockets: datagrams sent, Mpps.
    pub kernel_tx_mpps: f64,
    /// Kernel UDP sockets: datagrams received, Mpps.
    pub kernel_rx_mpps: f64,
    /// brick_rx / kernel_rx.
    pub rx_ratio: f64,
    /// brick_tx / kernel_tx.
    pub tx_ratio: f64,
}

/// Frames per second one way, in millions.
pub(crate) struct Rates {
    /// Handed to the kernel by the tx port.
    pub(crate) tx: f64,
    /// Received by the rx port.
    pub(crate) rx: f64,
}

/// The first two cores: (sender, receiver).
pub(crate) fn cores() -> (Option<usize>, Option<usize>) {
    let c = poll::cores();
    if c.len() >= 2 {
        (Some(c[0]), Some(c[1]))
    } else {
        (None, None)
    }
}

/// Opens a port on the named interface, in the calling thread's namespace.
pub(crate) type Opener<'a> = dyn Fn(&str) -> Result<Port, Error> + Sync + 'a;

/// A Brick tx port on v0 in `a` sends as fast as it can, a Brick rx port on v1 in `b` receives
/// and idles by `idle`; both ports come from `open`.
pub(crate) fn port_path(
    a: &Netns,
    b: &Netns,
    size: usize,
    seconds: f64,
    idle: IdlePolicy,
    open: &Opener<'_>,
) -> Result<Rates, Error> {
    let tx_port = a.enter(|| open("v0"))??;
    let rx_port = b.enter(|| open("v1"))??;
    let (tx_stats, rx_stats) = (tx_port.stats(), rx_port.stats());
    let (_, mut tx) = tx_port.split();
    let (mut rx, _) = rx_port.split();
    let stop = Arc::new(AtomicBool::new(false));
    let (c0, c1) = cores();
    let s = Arc::clone(&stop);
    let receiver = poll::spawn("veth-rx", c1, move || {
        let pool = Pool::new(PoolConfig::default())?;
        poll::run(&mut rx, &pool, 32, idle, &s, |_, b| b.clear());
        Ok::<_, Error>(())
    })?;
    let s = Arc::clone(&stop);
    let sender = poll::spawn("veth-tx", c0, move || {
        let pool = Pool::new(PoolConfig::default())?;
        let mut frame = vec![0u8; size];
        testframe::build(&mut frame, 1, 0);
        let mut burst = Burst::new(32);
        while !s.load(Ordering::Relaxed) {
            while let Some(p) = pool.alloc_from(&frame) {
                if burst.push(p).is_err() {
                    break;
                }
            }
            tx[0].tx_burst(&mut burst);
        }
        Ok::<_, Error>(())
    })?;
    let (t0, r0, start) = (tx_stats.total(), rx_stats.total(), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (t1, r1, secs) = (
        tx_stats.total(),
        rx_stats.total(),
        start.elapsed().as_secs_f64(),
    );
    stop.store(true, Ordering::Relaxed);
    sender
        .join()
        .map_err(|_| Error::Config("sender panicked".into()))??;
    receiver
        .join()
        .map_err(|_| Error::Config("receiver panicked".into()))??;
    Ok(Rates {
        tx: (t1.tx_packets - t0.tx_packets) as f64 / secs / 1e6,
        rx: (r1.rx_packets - r0.rx_packets) as f64 / secs / 1e6,
    })
}

fn kernel_path(a: &Netns, b: &Netns, size: usize, seconds: f64) -> Result<Rates, Error> {
    let os = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::Os { what, source: e }
    };
    let rx_sock = b
        .enter(|| UdpSocket::bind("198.18.0.2:9"))?
        .map_err(os("bind 198.18.0.2:9"))?;
    let tx_sock = a
        .enter(|| UdpSocket::bind("198.18.0.1:0"))?
        .map_err(os("bind 198.18.0.1"))?;
    tx_sock.connect("198.18.0.2:9").map_err(os("connect"))?;
    rx_sock
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(os("SO_RCVTIMEO"))?;
    let payload = vec![0u8; size - 14 - 20 - 8];
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, got) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (c0, c1) = cores();
    let (s, g) = (Arc::clone(&stop), Arc::clone(&got));
    let receiver = poll::spawn("udp-rx", c1, move || {
        let mut buf = [0u8; 2048];
        while !s.load(Ordering::Relaxed) {
            if rx_sock.recv(&mut buf).is_ok() {
                g.fetch_add(1, Ordering::Relaxed);
            }
        }
    })?;
    let (s, n) = (Arc::clone(&stop), Arc::clone(&sent));
    let sender = poll::spawn("udp-tx", c0, move || {
        while !s.load(Ordering::Relaxed) {
            if tx_sock.send(&payload).is_ok() {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
    })?;
    let (t0, r0, start) = (
        sent.load(Ordering::Relaxed),
        got.load(Ordering::Relaxed),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (t1, r1) = (sent.load(Ordering::Relaxed), got.load(Ordering::Relaxed));
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    let _ = receiver.join();
    Ok(Rates {
        tx: (t1 - t0) as f64 / secs / 1e6,
        rx: (r1 - r0) as f64 / secs / 1e6,
    })
}

/// Two namespaces joined by a veth pair `v0` (in A, 198.18.0.1, 02:00:00:00:00:01) and `v1` (in
/// B, 198.18.0.2, 02:00:00:00:00:02) with static neighbours, so no ARP runs while measuring.
/// Deleted when dropped.
pub fn pair(what: &str) -> Result<(Netns, Netns), Error> {
    if !is_root() {
        return Err(Error::Permission {
            what: what.into(),
            hint: "run as root: it creates network namespaces and a veth pair",
        });
    }
    let tag = format!("bkbv{}", std::process::id() % 100_000);
    let a = Netns::new(&format!("{tag}a"))?;
    let b = Netns::new(&format!("{tag}b"))?;
    a.veth("v0", &b, "v1", 1)?;
    let (mac_a, mac_b) = ("02:00:00:00:00:01", "02:00:00:00:00:02");
    for (ns, dev, mac, ip, peer_ip, peer_mac) in [
        (&a, "v0", mac_a, "198.18.0.1/24", "198.18.0.2", mac_b),
        (&b, "v1", mac_b, "198.18.0.2/24", "198.18.0.1", mac_a),
    ] {
        ns.exec(&["ip", "link", "set", dev, "address", mac])?;
        ns.exec(&["ip", "addr", "add", ip, "dev", dev])?;
        ns.exec(&[
            "ip",
            "neigh",
            "replace",
            peer_ip,
            "lladdr",
            peer_mac,
            "dev",
            dev,
            "nud",
            "permanent",
        ])?;
    }
    Ok((a, b))
}

/// Refuses a frame size outside 64..=1514.
pub(crate) fn check_size(size: usize) -> Result<(), Error> {
    if !(64..=1514).contains(&size) {
        return Err(Error::Config(format!(
            "frame size {size} outside 64..=1514"
        )));
    }
    Ok(())
}

/// Runs both paths for `seconds` each with frames of `size` bytes.
pub fn run(size: usize, seconds: f64) -> Result<VethReport, Error> {
    check_size(size)?;
    let (a, b) = pair("bench veth")?;
    let brick = port_path(&a, &b, size, seconds, IdlePolicy::default(), &|dev| {
        af_packet::open(dev, AfPacketConfig::default())
    })?;
    let kernel = kernel_path(&a, &b, size, seconds)?;
    Ok(VethReport {
        bench: "veth",
        size,
        seconds,
        brick_tx_mpps: brick.tx,
        brick_rx_mpps: brick.rx,
        kernel_tx_mpps: kernel.tx,
        kernel_rx_mpps: kernel.rx,
        rx_ratio: brick.rx / kernel.rx,
        tx_ratio: brick.tx / kernel.tx,
    })
}
