//! The control socket: `brick show routes | neighbors | ports | counters`, one command per
//! connection, answered in text (`error: ...` for a bad command).

use std::fmt::Write as _;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brick_routing::Key;
use brick_routing::rib::Rib;

use super::{NodeError, Shared};

/// Binds the control socket; a socket file left by a dead node is replaced, a live one refused.
pub(super) fn bind(path: &Path) -> Result<UnixListener, NodeError> {
    let err = |what: &str, e: std::io::Error| {
        NodeError::Setup(format!("control socket {}: {what}: {e}", path.display()))
    };
    if UnixStream::connect(path).is_ok() {
        return Err(NodeError::Setup(format!(
            "control socket {}: another node is running there (stop it, or set [control] socket)",
            path.display()
        )));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|e| err("remove the stale socket", e))?
        }
        Ok(_) => {
            return Err(NodeError::Setup(format!(
                "control socket {}: the path exists and is not a socket; not replacing it",
                path.display()
            )));
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err("create its directory", e))?;
    }
    let l = UnixListener::bind(path).map_err(|e| err("bind", e))?;
    l.set_nonblocking(true)
        .map_err(|e| err("set non-blocking", e))?;
    Ok(l)
}

pub(super) fn serve(listener: UnixListener, shared: &Shared, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                // A client that stalls must not hold the node's shutdown: every read and write
                // has a deadline, and a command is one short line.
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
                let reply = match read_command(&conn) {
                    Ok(line) => answer(shared, line.trim()),
                    Err(e) => format!("error: reading the command: {e}\n"),
                };
                let _ = (&conn).write_all(reply.as_bytes());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// One command line: at most 1 KiB, within 2 s.
fn read_command(mut conn: &UnixStream) -> std::io::Result<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut line = Vec::new();
    let mut buf = [0u8; 256];
    while !line.contains(&b'\n') && line.len() < 1024 && std::time::Instant::now() < deadline {
        let n = std::io::Read::read(&mut conn, &mut buf)?;
        if n == 0 {
            break;
        }
        line.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// The commands the control socket understands.
pub const COMMANDS: &str = "show routes | show neighbors | show ports | show counters";

pub(super) fn answer(shared: &Shared, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut o = String::new();
    match words.as_slice() {
        ["show", "routes"] => {
            let _ = writeln!(
                o,
                "{:<20} {:<10} {:>4} {:>6}  next hops",
                "prefix", "source", "ad", "metric"
            );
            if let Ok(rib) = shared.routes.lock() {
                routes(&mut o, shared, &rib, |a| Ipv4Addr::from(a).to_string());
            }
            if let Ok(rib) = shared.routes6.lock() {
                routes(&mut o, shared, &rib, |a| {
                    address(shared, IpAddr::V6(Ipv6Addr::from(a)))
                });
            }
        }
        ["show", "neighbors"] => {
            let _ = writeln!(o, "{:<30} {:<18} {:<10} state", "address", "mac", "port");
            if let Ok(v) = shared.control.lock() {
                for &(ip, mac, state, port) in &v.neighbors {
                    let mac = mac.map_or("-".to_string(), |m| m.to_string());
                    let port = port
                        .and_then(|p| shared.ports.get(usize::from(p)))
                        .map_or("-", |p| &p.name);
                    let _ = writeln!(
                        o,
                        "{:<30} {mac:<18} {port:<10} {state}",
                        address(shared, ip)
                    );
                }
            }
        }
        ["show", "ports"] => {
            for (i, p) in shared.ports.iter().enumerate() {
                let s = p.stats.total();
                let _ = writeln!(
                    o,
                    "{i}: {} {} {}\n   mac {} mtu {} addresses {}\n   rx {} packets {} bytes, tx {} packets {} bytes, dropped {}",
                    p.name,
                    p.backend,
                    p.mode,
                    p.mac,
                    p.mtu,
                    p.addresses.join(" "),
                    s.rx_packets,
                    s.rx_bytes,
                    s.tx_packets,
                    s.tx_bytes,
                    s.total_drops()
                );
                for (why, n) in s.nonzero_drops() {
                    let _ = writeln!(o, "   dropped {n} {}", why.as_str());
                }
            }
        }
        ["show", "counters"] => {
            let total = shared.counters();
            let _ = writeln!(
                o,
                "node {} data path ({} workers):",
                shared.node,
                shared.workers.len()
            );
            for (name, v) in total.named() {
                let _ = writeln!(o, "  {name:<28} {v}");
            }
            for (i, w) in shared.workers.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "  worker {i} (core {}): rx {} frames, busy {:.3} s",
                    w.core,
                    w.rx.load(Ordering::Relaxed),
                    w.busy_ns.load(Ordering::Relaxed) as f64 / 1e9
                );
            }
            let _ = writeln!(o, "control plane:");
            if let Ok(v) = shared.control.lock() {
                for (name, n) in v.counters.named() {
                    let _ = writeln!(o, "  {name:<28} {n}");
                }
                let _ = writeln!(o, "  {:<28} {}", "to_wire_full", v.to_wire_full);
            }
        }
        [] => o.push_str(&format!("error: empty command; commands: {COMMANDS}\n")),
        _ => o.push_str(&format!(
            "error: unknown command {line:?}; commands: {COMMANDS}\n"
        )),
    }
    o
}

/// One line per prefix of `rib`: its best route's source, distance, metric and next hops.
/// An address as operators write it: a link-local one as `fe80::1%port` (the port is kept
/// inside the address in the tables, see `wire::ipv6::scoped`).
fn address(shared: &Shared, ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(a) => match crate::wire::ipv6::unscope(a) {
            Some((port, wire)) => {
                let name = shared.ports.get(usize::from(port)).map_or("?", |p| &p.name);
                format!("{wire}%{name}")
            }
            None => a.to_string(),
        },
        IpAddr::V4(a) => a.to_string(),
    }
}

fn routes<K: Key + Default>(
    o: &mut String,
    shared: &Shared,
    rib: &Rib<K>,
    addr: impl Fn(K) -> String,
) {
    for (prefix, r) in rib.routes() {
        let hops: Vec<String> = r
            .paths
            .iter()
            .map(|g| {
                let port = shared
                    .ports
                    .get(usize::from(g.port))
                    .map_or("?", |p| &p.name);
                if g.addr == K::default() {
                    format!("dev {port}")
                } else {
                    format!("via {} dev {port}", addr(g.addr))
                }
            })
            .collect();
        let _ = writeln!(
            o,
            "{:<20} {:<10} {:>4} {:>6}  {}",
            prefix.to_string(),
            r.source.as_str(),
            r.distance,
            r.metric,
            hops.join(", ")
        );
    }
}

/// Sends one command to the node behind `socket` and returns its answer (`brick show`).
pub fn request(socket: &Path, command: &str) -> Result<String, String> {
    let mut conn = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach a node on {}: {e} (is `brick run` up? see [control] socket)",
            socket.display()
        )
    })?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    writeln!(conn, "{command}").map_err(|e| e.to_string())?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut conn, &mut out).map_err(|e| e.to_string())?;
    match out.strip_prefix("error: ") {
        Some(e) => Err(e.trim_end().to_string()),
        None => Ok(out),
    }
}
