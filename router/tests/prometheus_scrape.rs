//! A real Prometheus server scrapes a running node's `/metrics` and answers queries about it.
//! Skipped (saying so) where the `prometheus` binary is not installed; CI installs it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use brick_io::backend::mem::{CableConfig, cable};
use brick_router::{Config, Node};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut c = TcpStream::connect(addr).ok()?;
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    Some(out.split_once("\r\n\r\n")?.1.to_string())
}

/// Percent-encodes everything but unreserved characters, for a query string.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn prometheus_scrapes_the_node() {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "skipped prometheus_scrapes_the_node: no `prometheus` binary (apt-get install prometheus)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("brick-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let core = brick_io::poll::cores().first().copied().unwrap_or(0);
    let text = format!(
        r#"
node = 4
[dataplane]
cores = [{core}]
[control]
socket = "{}/brick.sock"
[metrics]
listen = "127.0.0.1:0"
[[port]]
name = "lan"
backend = "af_packet:unused0"
addresses = ["10.1.0.1/24"]
mac = "02:00:00:00:01:00"
"#,
        dir.display()
    );
    let cfg = Config::parse("prometheus.toml", &text).unwrap();
    let (port, _peer) = cable("r0", "h0", CableConfig::default()).unwrap();
    let node = Node::start_with(&cfg, vec![port]).unwrap();
    let target = node.metrics_addr().unwrap();

    let web = free_port();
    let prom_cfg = dir.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: brick\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let _prom = Server(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The node announced its address with a gratuitous ARP at start: one ARP request.
    let query = "/api/v1/query?query=brick_control_events_total%7Bevent%3D%22arp_requests%22%7D";
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(body) = get(web, query) {
            if body.contains("\"job\":\"brick\"") && body.contains("\"1\"]") {
                last = body;
                break;
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        last.contains("\"event\":\"arp_requests\"") && last.contains("\"1\"]"),
        "Prometheus never got brick_control_events_total{{event=\"arp_requests\"}} = 1:\n{last}"
    );
    let up = get(web, "/api/v1/query?query=up%7Bjob%3D%22brick%22%7D").unwrap_or_default();
    assert!(up.contains("\"1\"]"), "the target is up: {up}");

    // The shipped Grafana dashboard: every query is valid PromQL to this Prometheus, and every
    // metric it reads is one the node exports, so a renamed metric breaks this test, not the
    // dashboard in silence.
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../deploy/grafana-dashboard.json")).unwrap();
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    exprs.extend(
        dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["definition"].as_str())
            .filter_map(|d| {
                Some(
                    d.strip_prefix("label_values(")?
                        .split(',')
                        .next()?
                        .to_string(),
                )
            }),
    );
    assert!(exprs.len() >= 12, "{exprs:?}");
    let exported = node.metrics();
    for expr in &exprs {
        let q = expr
            .replace("$__rate_interval", "10s")
            .replace("$instance", ".+");
        let body = get(web, &format!("/api/v1/query?query={}", urlencode(&q))).unwrap_or_default();
        assert!(
            body.contains("\"status\":\"success\""),
            "dashboard query {expr}:\n{body}"
        );
        let mut rest = q.as_str();
        while let Some(at) = rest.find("brick_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                exported.contains(&format!("# TYPE {name} ")),
                "the dashboard reads {name}, which the node does not export"
            );
            rest = &rest[at + name.len()..];
        }
    }

    // promtool's linter: names, types, help texts.
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    lint.stdin
        .take()
        .unwrap()
        .write_all(node.metrics().as_bytes())
        .unwrap();
    let out = lint.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    node.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
