//! The Prometheus endpoint: `GET /metrics` in the text exposition format (version 0.0.4).
//!
//! Every value is read from the same counters `brick show` reads, at scrape time: the workers'
//! published counters (summed), the ports' queue counters and the control plane's view. Nothing
//! on the data path knows about metrics.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Shared;
use crate::verdict::{DropReason, Punt};

/// Serves scrapes until `stop`.
pub(super) fn serve(listener: TcpListener, shared: &Shared, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                if let Err(e) = reply(conn, shared) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn reply(mut conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(2)))?;
    // The request line and headers; a scrape has no body. A client that trickles bytes gets 2 s
    // in all, so it cannot hold the node's shutdown.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n")
        && req.len() < 16 * 1024
        && std::time::Instant::now() < deadline
    {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&req);
    let mut words = line.split_whitespace();
    let (status, body, kind) = match (words.next(), words.next()) {
        (Some("GET"), Some(path)) if path == "/metrics" || path.starts_with("/metrics?") => (
            "200 OK",
            render(shared),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (Some("GET"), Some(_)) => (
            "404 Not Found",
            "Brick serves /metrics\n".to_string(),
            "text/plain",
        ),
        _ => (
            "400 Bad Request",
            "expected GET /metrics\n".to_string(),
            "text/plain",
        ),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One metric family: its help, type and samples (labels, value).
fn family<V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(String, V)],
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// The exposition, as of now.
pub(super) fn render(shared: &Shared) -> String {
    let c = shared.counters();
    let mut o = String::new();
    let none = String::new;
    family(
        &mut o,
        "brick_forwarded_packets_total",
        "counter",
        "Packets the data path forwarded.",
        &[(none(), c.forwarded)],
    );
    family(
        &mut o,
        "brick_dropped_packets_total",
        "counter",
        "Packets the data path dropped, by reason.",
        &DropReason::ALL
            .iter()
            .map(|&r| (format!("reason=\"{}\"", r.as_str()), c.drop(r)))
            .collect::<Vec<_>>(),
    );
    family(
        &mut o,
        "brick_punted_packets_total",
        "counter",
        "Packets the data path handed to the control plane, by kind.",
        &Punt::ALL
            .iter()
            .map(|&k| (format!("kind=\"{}\"", k.as_str()), c.punt(k)))
            .collect::<Vec<_>>(),
    );
    for (name, help, v) in [
        (
            "brick_tx_dropped_packets_total",
            "Forwarded packets an output queue refused.",
            c.tx_dropped,
        ),
        (
            "brick_punt_limited_packets_total",
            "Punts over the control-plane rate limit, dropped.",
            c.punt_limited,
        ),
        (
            "brick_punt_ring_full_packets_total",
            "Punts that found the ring to the control plane full, dropped.",
            c.punt_ring_full,
        ),
    ] {
        family(&mut o, name, "counter", help, &[(none(), v)]);
    }

    let worker = |w: usize| format!("worker=\"{w}\",core=\"{}\"", shared.workers[w].core);
    family(
        &mut o,
        "brick_worker_rx_packets_total",
        "counter",
        "Frames a forwarding worker took from its rx queues.",
        &(0..shared.workers.len())
            .map(|w| (worker(w), shared.workers[w].rx.load(Ordering::Relaxed)))
            .collect::<Vec<_>>(),
    );
    family(
        &mut o,
        "brick_worker_busy_seconds_total",
        "counter",
        "Seconds a forwarding worker spent in poll rounds that found work; its rate is the core's load.",
        &(0..shared.workers.len())
            .map(|w| {
                let ns = shared.workers[w].busy_ns.load(Ordering::Relaxed);
                (worker(w), ns as f64 / 1e9)
            })
            .collect::<Vec<_>>(),
    );

    let port = |name: &str| format!("port=\"{name}\"");
    let stats: Vec<_> = shared
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.stats.total()))
        .collect();
    for (name, help, get) in [
        (
            "brick_port_rx_packets_total",
            "Frames received by the port.",
            (|s: &brick_io::Snapshot| s.rx_packets) as fn(&brick_io::Snapshot) -> u64,
        ),
        (
            "brick_port_rx_bytes_total",
            "Bytes received by the port.",
            |s| s.rx_bytes,
        ),
        (
            "brick_port_tx_packets_total",
            "Frames sent by the port.",
            |s| s.tx_packets,
        ),
        (
            "brick_port_tx_bytes_total",
            "Bytes sent by the port.",
            |s| s.tx_bytes,
        ),
    ] {
        let samples: Vec<_> = stats.iter().map(|(n, s)| (port(n), get(s))).collect();
        family(&mut o, name, "counter", help, &samples);
    }
    let drops: Vec<_> = stats
        .iter()
        .flat_map(|(n, s)| {
            brick_io::DropReason::ALL.iter().map(move |&r| {
                (
                    format!("port=\"{n}\",reason=\"{}\"", r.as_str()),
                    s.drops(r),
                )
            })
        })
        .collect();
    family(
        &mut o,
        "brick_port_dropped_packets_total",
        "counter",
        "Frames the port's queues dropped, by reason.",
        &drops,
    );

    if let Ok(v) = shared.control.lock() {
        let samples: Vec<_> = v
            .counters
            .named()
            .into_iter()
            .chain([("to_wire_full", v.to_wire_full)])
            .map(|(n, x)| (format!("event=\"{n}\""), x))
            .collect();
        family(
            &mut o,
            "brick_control_events_total",
            "counter",
            "What the control plane did: ARP, ICMP, the slow path.",
            &samples,
        );
        family(
            &mut o,
            "brick_neighbors",
            "gauge",
            "Entries in the neighbour cache (ARP and ND).",
            &[(none(), v.neighbors.len() as u64)],
        );
    }
    if let (Ok(rib), Ok(rib6)) = (shared.routes.lock(), shared.routes6.lock()) {
        family(
            &mut o,
            "brick_routes",
            "gauge",
            "Prefixes in the routing table, by family.",
            &[
                ("family=\"ipv4\"".into(), rib.len() as u64),
                ("family=\"ipv6\"".into(), rib6.len() as u64),
            ],
        );
    }
    o
}
