//! The `brick` binary as an operator runs it: `check`, `run`, `show`, and stopping on SIGTERM.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brick_io::netns::{Netns, is_root};

fn brick(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brick"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("brick-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn config(socket: &str, backend0: &str, backend1: &str) -> String {
    format!(
        r#"node = 7
[control]
socket = "{socket}"

[[port]]
name = "lan"
backend = "{backend0}"
addresses = ["10.1.0.1/24"]

[[port]]
name = "wan"
backend = "{backend1}"
addresses = ["10.2.0.1/24"]

[[route]]
prefix = "0.0.0.0/0"
via = "10.2.0.2"
"#
    )
}

#[test]
fn check_accepts_a_good_file_and_names_file_line_and_reason_otherwise() {
    let good = write(
        "good.toml",
        &config("/tmp/x.sock", "af_packet:a", "af_xdp:b,copy"),
    );
    let (ok, out, _) = brick(&["check", "-c", good.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("ok (node 7, 2 ports, 1 static IPv4 routes, 0 static IPv6 routes, 0 static neighbours, 1 workers)"),
        "{out}"
    );

    let bad = write(
        "bad.toml",
        &config("/tmp/x.sock", "af_packet:a", "af_xdp:b").replace("10.2.0.2", "10.3.0.2"),
    );
    let (ok, _, err) = brick(&["check", "-c", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "{}:17: via 10.3.0.2: not a neighbour",
            bad.display()
        )),
        "{err}"
    );
    let (ok, _, err) = brick(&["check", "-c", "/nonexistent.toml"]);
    assert!(
        !ok && err.contains("/nonexistent.toml: cannot read"),
        "{err}"
    );
    for f in [good, bad] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn show_without_a_node_says_where_it_looked() {
    let (ok, _, err) = brick(&["show", "routes", "-s", "/tmp/brick-nobody-here.sock"]);
    assert!(!ok);
    assert!(
        err.contains("cannot reach a node on /tmp/brick-nobody-here.sock"),
        "{err}"
    );
}

/// Root: `brick run` on AF_PACKET ports of a namespace, `brick show` from another process, and a
/// clean stop on SIGTERM that removes the socket.
#[test]
fn run_show_and_stop() {
    if !is_root() {
        eprintln!("skipped run_show_and_stop: needs root (namespaces, packet sockets)");
        return;
    }
    let (a, b) = (Netns::new("bclia").unwrap(), Netns::new("bclib").unwrap());
    a.veth("bclia0", &b, "bclib0", 1).unwrap();
    a.veth("bclia1", &b, "bclib1", 1).unwrap();
    let socket = format!("/tmp/brick-cli-{}.sock", std::process::id());
    let cfg = write(
        "run.toml",
        &config(&socket, "af_packet:bclia0@bclia", "af_packet:bclia1@bclia"),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_brick"))
        .args(["run", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut routes = (false, String::new(), String::new());
    while Instant::now() < deadline {
        routes = brick(&["show", "routes", "-s", &socket]);
        if routes.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(routes.0, "brick show routes: {}", routes.2);
    assert!(
        routes.1.contains("0.0.0.0/0") && routes.1.contains("via 10.2.0.2 dev wan"),
        "{}",
        routes.1
    );
    let (ok, ports, _) = brick(&["show", "ports", "-s", &socket]);
    assert!(
        ok && ports.contains("bclia0") && ports.contains("10.1.0.1/24"),
        "{ports}"
    );
    let (ok, counters, _) = brick(&["show", "counters", "-s", &socket]);
    assert!(ok && counters.contains("node 7 data path"), "{counters}");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "brick run did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("node started") && log.contains("stopping"),
        "{log}"
    );
    assert!(!std::path::Path::new(&socket).exists(), "socket removed");
    let _ = std::fs::remove_file(cfg);
}
