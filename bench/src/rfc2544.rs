//! RFC 2544 benchmarking: throughput (binary search for the highest rate without loss, or within a
//! tolerated loss ratio), latency at that rate, and the frame loss rate curve, for each frame size.
//!
//! The device under test is anything behind the [`Dut`] trait: [`PortDut`] drives a generator tx
//! port and a receiver rx port (Brick, the Linux kernel or a hardware router in between). Each
//! trial runs for `trial_seconds` after `settle_seconds` of quiet (RFC 2544 section 23). Latency is
//! the one-way latency of every frame of one trial at the throughput rate, not the 20 tagged
//! frames of section 26.2. Back-to-back (section 26.4) searches for the longest burst at the upper
//! rate that passes without loss, `back_to_back_trials` times (RFC 2544 asks for 50), and reports
//! the mean.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brick_io::{Rx, Tx};
use serde::Serialize;

use crate::Error;
use crate::traffic::live::LiveSpec;
use crate::traffic::profile::{IpRange, Mac, Protocol, Size, StreamSpec, WIRE_OVERHEAD};
use crate::traffic::{self, Latency, Profile, Rate, RunOpts};

/// One trial's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    /// Frame size with FCS.
    pub size: usize,
    /// Rate offered, packets per second.
    pub offered_pps: f64,
    /// Frames sent.
    pub tx: u64,
    /// Frames received.
    pub rx: u64,
    /// One-way latency.
    pub latency: Latency,
}

impl Trial {
    /// Lost frames over sent frames.
    pub fn loss_ratio(&self) -> f64 {
        if self.tx == 0 {
            1.0
        } else {
            self.tx.saturating_sub(self.rx) as f64 / self.tx as f64
        }
    }
}

/// A device under test.
pub trait Dut {
    /// Offers `pps` packets per second of `size`-byte frames for `seconds`; reports what came back.
    fn trial(&mut self, size: usize, pps: f64, seconds: f64) -> Result<Trial, Error>;
    /// Sends one burst of `frames` frames at `pps`; reports what came back.
    fn burst(&mut self, size: usize, pps: f64, frames: u64) -> Result<Trial, Error>;
    /// What is measured, for the report.
    fn describe(&self) -> String;
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// Frame sizes with FCS (RFC 2544: 64, 128, 256, 512, 1024, 1280, 1518).
    pub sizes: Vec<usize>,
    /// Link speed in bit/s: the search's upper bound is its line rate for each size.
    pub link_bps: f64,
    /// Upper bound, when lower than line rate (a software link has no line rate).
    pub max_rate: Option<Rate>,
    /// Seconds per trial.
    pub trial_seconds: f64,
    /// Quiet seconds before each trial.
    pub settle_seconds: f64,
    /// Search stops when the bracket is this fraction of the upper bound.
    pub resolution: f64,
    /// Loss ratio still counted as a pass (0 for RFC 2544's zero loss).
    pub loss_tolerance: f64,
    /// Also measure the frame loss rate curve (section 26.3).
    pub loss_curve: bool,
    /// Searches for the back-to-back burst length (section 26.4); 0 to skip.
    pub back_to_back_trials: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sizes: vec![64, 128, 256, 512, 1024, 1280, 1518],
            link_bps: 10e9,
            max_rate: None,
            trial_seconds: 2.0,
            settle_seconds: 0.5,
            resolution: 0.005,
            loss_tolerance: 0.0,
            loss_curve: false,
            back_to_back_trials: 0,
        }
    }
}

impl Config {
    /// The search's upper bound for `size`.
    pub fn upper_pps(&self, size: usize) -> f64 {
        let line = self.link_bps / ((size + WIRE_OVERHEAD) as f64 * 8.0);
        self.max_rate.map_or(line, |m| m.pps(size as f64).min(line))
    }
}

/// Results for one frame size.
#[derive(Clone, Debug, Serialize)]
pub struct SizeResult {
    /// Frame size with FCS.
    pub size: usize,
    /// Highest rate that passed, packets per second (0 if none did).
    pub throughput_pps: f64,
    /// The same on the wire, bit/s (frame + 20 bytes).
    pub throughput_bps: f64,
    /// Throughput as a share of the search's upper bound, percent.
    pub percent_of_max: f64,
    /// Latency of a trial at the throughput rate.
    pub latency: Option<Latency>,
    /// `(percent of upper bound, loss ratio)` from 100 % down (section 26.3).
    pub loss_curve: Vec<(f64, f64)>,
    /// Longest burst at the upper rate without loss, mean over the back-to-back trials.
    pub back_to_back: Option<f64>,
    /// Every trial of the search, in order.
    pub trials: Vec<Trial>,
    /// A stop cut the tests of this size short: the throughput is the best rate that passed
    /// before it, and the later tests may be missing.
    pub stopped: bool,
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The device under test and the generator.
    pub dut: String,
    /// Seconds per trial.
    pub trial_seconds: f64,
    /// Loss ratio counted as a pass.
    pub loss_tolerance: f64,
    /// Per frame size.
    pub results: Vec<SizeResult>,
}

/// Runs the tests of `cfg` against `dut`; `progress` hears about every trial. Setting `stop` ends
/// the run after the current trial with the results so far.
pub fn run(
    dut: &mut dyn Dut,
    cfg: &Config,
    stop: &AtomicBool,
    mut progress: impl FnMut(&str),
) -> Result<Report, Error> {
    if cfg.sizes.is_empty()
        || !(cfg.resolution > 0.0 && cfg.resolution < 1.0)
        || cfg.trial_seconds <= 0.0
    {
        return Err(Error::Usage(
            "rfc2544: give frame sizes, a resolution in (0, 1) and a positive trial time".into(),
        ));
    }
    let mut results = Vec::new();
    for &size in &cfg.sizes {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let max = cfg.upper_pps(size);
        let mut trials: Vec<Trial> = Vec::new();
        let mut trial = |pps: f64, what: &str, trials: &mut Vec<Trial>| -> Result<Trial, Error> {
            std::thread::sleep(Duration::from_secs_f64(cfg.settle_seconds));
            let t = dut.trial(size, pps, cfg.trial_seconds)?;
            progress(&format!(
                "{size:>5} B  {what:<10} trial {:>2}: offered {:>10.0} pps, sent {:>10}, received {:>10}, loss {:.4} %",
                trials.len() + 1,
                pps,
                t.tx,
                t.rx,
                t.loss_ratio() * 100.0
            ));
            trials.push(t.clone());
            Ok(t)
        };
        let stopped = || stop.load(Ordering::Relaxed);
        // Whether a stop left a test of this size unfinished or not run.
        let mut cut = false;
        // Binary search: `lo` always passed (or is 0), `hi` failed (or is the upper bound, untried).
        let (mut lo, mut hi) = (0.0, max);
        let first = trial(max, "throughput", &mut trials)?;
        if first.loss_ratio() <= cfg.loss_tolerance {
            lo = max;
        } else {
            while hi - lo > cfg.resolution * max && !stopped() {
                let mid = (lo + hi) / 2.0;
                if trial(mid, "throughput", &mut trials)?.loss_ratio() <= cfg.loss_tolerance {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            cut |= hi - lo > cfg.resolution * max;
        }
        let latency = match (lo > 0.0, stopped()) {
            (true, false) => Some(trial(lo, "latency", &mut trials)?.latency),
            (true, true) => {
                cut = true;
                None
            }
            (false, _) => None,
        };
        let mut loss_curve = Vec::new();
        if cfg.loss_curve {
            let mut zero_in_a_row = 0;
            let mut pct = 100.0;
            while pct > 0.0 && zero_in_a_row < 2 && !stopped() {
                let loss = trial(max * pct / 100.0, "loss curve", &mut trials)?.loss_ratio();
                loss_curve.push((pct, loss));
                zero_in_a_row = if loss == 0.0 { zero_in_a_row + 1 } else { 0 };
                pct -= 10.0;
            }
            cut |= pct > 0.0 && zero_in_a_row < 2;
        }
        let mut b2b = Vec::new();
        for _ in 0..cfg.back_to_back_trials {
            if stopped() {
                cut = true;
                break;
            }
            // The RFC's burst lasts at least 2 s at the upper rate: search in 1..=2 s worth.
            let (mut ok, mut bad) = (0u64, (max * 2.0).ceil() as u64 + 1);
            let done = |ok: u64, bad: u64| bad - ok <= 1.max(bad / 200);
            while !done(ok, bad) && !stopped() {
                let n = (ok + bad) / 2;
                std::thread::sleep(Duration::from_secs_f64(cfg.settle_seconds));
                let t = dut.burst(size, max, n)?;
                progress(&format!(
                    "{size:>5} B  back-to-back burst of {n}: received {} of {}",
                    t.rx, t.tx
                ));
                if t.tx == n && t.rx >= n {
                    ok = n
                } else {
                    bad = n
                }
                trials.push(t);
            }
            if !done(ok, bad) {
                // A search cut short found a lower bound, not the length.
                cut = true;
                break;
            }
            b2b.push(ok as f64);
        }
        results.push(SizeResult {
            size,
            back_to_back: (!b2b.is_empty()).then(|| b2b.iter().sum::<f64>() / b2b.len() as f64),
            throughput_pps: lo,
            throughput_bps: lo * (size + WIRE_OVERHEAD) as f64 * 8.0,
            percent_of_max: lo * 100.0 / max,
            latency,
            loss_curve,
            trials,
            stopped: cut,
        });
    }
    Ok(Report {
        dut: dut.describe(),
        trial_seconds: cfg.trial_seconds,
        loss_tolerance: cfg.loss_tolerance,
        results,
    })
}

impl Report {
    /// The results as a table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!("RFC 2544 against {}\n", self.dut);
        let _ = writeln!(
            out,
            "{:>6} {:>12} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "size", "throughput", "Mbit/s", "% max", "lat p50", "lat p99", "lat max", "trials"
        );
        for r in &self.results {
            let (p50, p99, max) = r.latency.map_or((f64::NAN, f64::NAN, f64::NAN), |l| {
                (l.p50_us, l.p99_us, l.max_us)
            });
            let _ = writeln!(
                out,
                "{:>6} {:>8.3} Mpps {:>10.1} {:>9.1} {:>7.1}us {:>7.1}us {:>7.1}us {:>7}",
                r.size,
                r.throughput_pps / 1e6,
                r.throughput_bps / 1e6,
                r.percent_of_max,
                p50,
                p99,
                max,
                r.trials.len()
            );
        }
        for r in self.results.iter().filter(|r| r.stopped) {
            let _ = writeln!(
                out,
                "{:>6} stopped early: the best rate passed before the stop, later tests missing",
                r.size
            );
        }
        for r in self.results.iter().filter(|r| r.back_to_back.is_some()) {
            let _ = writeln!(
                out,
                "{:>6} back-to-back: {:.0} frames",
                r.size,
                r.back_to_back.unwrap_or(0.0)
            );
        }
        for r in self.results.iter().filter(|r| !r.loss_curve.is_empty()) {
            let _ = writeln!(
                out,
                "{:>6} loss curve: {}",
                r.size,
                loss_curve_text(&r.loss_curve)
            );
        }
        out
    }

    /// Throughput and latency against frame size, as an SVG document.
    pub fn svg(&self) -> String {
        let (w, h, pad) = (900.0, 360.0, 60.0);
        let panel = (w - 3.0 * pad) / 2.0;
        let sizes: Vec<f64> = self.results.iter().map(|r| r.size as f64).collect();
        let (smin, smax) = (
            sizes.iter().copied().fold(f64::MAX, f64::min),
            sizes.iter().copied().fold(0.0, f64::max),
        );
        let x = |s: f64, left: f64| {
            left + if smax > smin {
                (s - smin) / (smax - smin) * panel
            } else {
                panel / 2.0
            }
        };
        let series = |vals: Vec<f64>, left: f64, color: &str| -> (String, f64) {
            let top = vals
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max)
                .max(1e-9)
                * 1.1;
            let pts: Vec<String> = sizes
                .iter()
                .zip(&vals)
                .filter(|(_, v)| v.is_finite())
                .map(|(s, v)| {
                    format!(
                        "{:.1},{:.1}",
                        x(*s, left),
                        h - pad - v / top * (h - 2.0 * pad)
                    )
                })
                .collect();
            let dots: String = pts
                .iter()
                .map(|p| {
                    let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
                    format!(r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#)
                })
                .collect();
            (
                format!(
                    r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>{dots}"#,
                    pts.join(" ")
                ),
                top,
            )
        };
        let mut out = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>"#
        );
        let _ = write!(
            out,
            r#"<text x="{pad}" y="20" font-size="14">RFC 2544: {}</text>"#,
            xml(&self.dut)
        );
        let thr: Vec<f64> = self
            .results
            .iter()
            .map(|r| r.throughput_pps / 1e6)
            .collect();
        let p50: Vec<f64> = self
            .results
            .iter()
            .map(|r| r.latency.map_or(f64::NAN, |l| l.p50_us))
            .collect();
        let p99: Vec<f64> = self
            .results
            .iter()
            .map(|r| r.latency.map_or(f64::NAN, |l| l.p99_us))
            .collect();
        for (i, (title, unit)) in [
            ("Throughput", "Mpps"),
            ("Latency at throughput (p50 blue, p99 red)", "us"),
        ]
        .iter()
        .enumerate()
        {
            let left = pad + i as f64 * (panel + pad);
            let _ = write!(
                out,
                r##"<text x="{left}" y="45">{title}</text><line x1="{left}" y1="{b}" x2="{r}" y2="{b}" stroke="#444"/><line x1="{left}" y1="{t}" x2="{left}" y2="{b}" stroke="#444"/>"##,
                b = h - pad,
                r = left + panel,
                t = pad,
            );
            for s in &sizes {
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{}" text-anchor="middle">{s}</text>"#,
                    x(*s, left),
                    h - pad + 16.0
                );
            }
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">frame size (bytes)</text>"#,
                left + panel / 2.0,
                h - pad + 34.0
            );
            let top = if i == 0 {
                let (line, top) = series(thr.clone(), left, "#2a7");
                out += &line;
                top
            } else {
                let (l1, t1) = series(p50.clone(), left, "#26c");
                let (l2, t2) = series(p99.clone(), left, "#c33");
                out += &l1;
                out += &l2;
                t1.max(t2)
            };
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" text-anchor="end">{:.3} {unit}</text><text x="{}" y="{}" text-anchor="end">0</text>"#,
                left - 4.0,
                pad + 4.0,
                top,
                left - 4.0,
                h - pad
            );
        }
        out += "</svg>\n";
        out
    }
}

/// A frame loss rate curve as text: `100 %: 35.000 %, 90 %: 27.778 %, ...`.
pub fn loss_curve_text(curve: &[(f64, f64)]) -> String {
    let points: Vec<String> = (curve.iter())
        .map(|(pct, loss)| format!("{pct:.0} %: {:.3} %", loss * 100.0))
        .collect();
    points.join(", ")
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

// ===== impl PortDut =====

/// Where a [`PortDut`]'s frames come from.
#[derive(Debug)]
pub enum Sender {
    /// A port's tx queues.
    Ports(Vec<Tx>),
    /// XDP live frames out of an interface: one fixed-size IPv4/UDP stream, several Mpps.
    Live(LiveSpec),
}

/// A device between a generator (tx ports or XDP live frames) and a receiver rx port.
#[derive(Debug)]
pub struct PortDut {
    tx: Sender,
    rx: Option<Vec<Rx>>,
    stream: StreamSpec,
    opts: RunOpts,
    what: String,
}

impl PortDut {
    /// Sends from `tx` to `rx` frames addressed from `src` to `dst` (MACs and IPv4 or IPv6 ranges).
    pub fn new(
        tx: Sender,
        rx: Vec<Rx>,
        src: (Mac, IpRange),
        dst: (Mac, IpRange),
        opts: RunOpts,
        what: String,
    ) -> Self {
        let stream = StreamSpec {
            name: "rfc2544".into(),
            src_mac: src.0,
            dst_mac: dst.0,
            src_ip: src.1,
            dst_ip: dst.1,
            protocol: Protocol::Udp,
            src_port: traffic::profile::PortRange(1024, 1024 + 255),
            dst_port: traffic::profile::PortRange(9, 9),
            size: Size::Fixed(64),
            random: false,
            weight: 1,
            ttl: 64,
        };
        PortDut {
            tx,
            rx: Some(rx),
            stream,
            opts,
            what,
        }
    }
}

impl PortDut {
    /// Runs `profile` (one stream) and reports it as a trial.
    fn run(&mut self, profile: Profile, size: usize, pps: f64) -> Result<Trial, Error> {
        let min = traffic::profile::min_size(self.stream.src_ip.is_v6(), Protocol::Udp);
        if size < min {
            return Err(Error::Usage(format!(
                "frame size {size} is below the {min} bytes the test frames need"
            )));
        }
        let rx = self.rx.take().unwrap_or_default();
        let mut opts = self.opts.clone();
        // A Ctrl-C ends the run between trials, never in the middle of one.
        opts.stop = Arc::new(AtomicBool::new(false));
        let (report, rx) = match &mut self.tx {
            Sender::Ports(tx) => {
                let (report, sent_by, rx) = traffic::run(&profile, std::mem::take(tx), rx, &opts)?;
                *tx = sent_by;
                (report, rx)
            }
            Sender::Live(spec) => traffic::live::run(&profile, spec, rx, &opts)?,
        };
        self.rx = Some(rx);
        let s = &report.streams[0];
        Ok(Trial {
            size,
            offered_pps: pps,
            tx: s.tx,
            rx: s.rx,
            latency: s.latency,
        })
    }

    fn profile(&self, size: usize, pps: f64, duration: Option<f64>, count: Option<u64>) -> Profile {
        let mut stream = self.stream.clone();
        stream.size = Size::Fixed(size);
        Profile {
            rate: Some(Rate::Pps(pps)),
            duration,
            count,
            streams: vec![stream],
        }
    }
}

impl Dut for PortDut {
    fn trial(&mut self, size: usize, pps: f64, seconds: f64) -> Result<Trial, Error> {
        let p = self.profile(size, pps, Some(seconds), None);
        self.run(p, size, pps)
    }

    fn burst(&mut self, size: usize, pps: f64, frames: u64) -> Result<Trial, Error> {
        let p = self.profile(size, pps, None, Some(frames));
        self.run(p, size, pps)
    }

    fn describe(&self) -> String {
        format!("{} (generator: {})", self.what, self.opts.backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device that forwards up to `capacity` pps and drops the rest: the search must find the
    /// capacity within its resolution.
    struct Capped {
        capacity: f64,
    }

    fn forwarded(capacity: f64, buffer: f64, pps: f64, frames: u64) -> u64 {
        let drained = frames as f64 * (capacity / pps).min(1.0);
        (frames as f64).min(drained + buffer) as u64
    }

    impl Dut for Capped {
        fn trial(&mut self, size: usize, pps: f64, seconds: f64) -> Result<Trial, Error> {
            let tx = (pps * seconds) as u64;
            let rx = tx.min((self.capacity * seconds) as u64);
            Ok(Trial {
                size,
                offered_pps: pps,
                tx,
                rx,
                latency: Latency::default(),
            })
        }
        fn burst(&mut self, size: usize, pps: f64, frames: u64) -> Result<Trial, Error> {
            let rx = forwarded(self.capacity, 1000.0, pps, frames);
            Ok(Trial {
                size,
                offered_pps: pps,
                tx: frames,
                rx,
                latency: Latency::default(),
            })
        }
        fn describe(&self) -> String {
            format!(
                "a device capped at {} pps with 1000 frames of buffer",
                self.capacity
            )
        }
    }

    fn cfg() -> Config {
        Config {
            sizes: vec![64, 1518],
            max_rate: Some(Rate::Pps(1e6)),
            settle_seconds: 0.0,
            trial_seconds: 1.0,
            resolution: 0.01,
            ..Default::default()
        }
    }

    #[test]
    fn search_finds_a_known_capacity_within_the_step() {
        let stop = AtomicBool::new(false);
        for capacity in [123_456.0, 500_000.0, 999_999.0, 10.0] {
            let r = run(&mut Capped { capacity }, &cfg(), &stop, |_| ()).unwrap();
            for s in &r.results {
                let max = cfg().upper_pps(s.size);
                let want = capacity.min(max);
                assert!(
                    s.throughput_pps <= want,
                    "{capacity}: found {} above capacity",
                    s.throughput_pps
                );
                assert!(
                    want - s.throughput_pps <= 0.01 * max + 1.0,
                    "{capacity}: found {} for {want}",
                    s.throughput_pps
                );
                assert!(s.trials.len() <= 10, "{} trials", s.trials.len());
            }
        }
    }

    #[test]
    fn line_rate_device_passes_first_trial_and_loss_tolerance_counts() {
        let stop = AtomicBool::new(false);
        let mut c = cfg();
        c.max_rate = None;
        c.link_bps = 1e9;
        let r = run(&mut Capped { capacity: 1e12 }, &c, &stop, |_| ()).unwrap();
        assert!((r.results[0].throughput_pps - 1_488_095.2).abs() < 1.0);
        assert_eq!(
            r.results[0].trials.len(),
            2,
            "one search trial and one latency trial"
        );
        c.loss_tolerance = 0.5;
        let r = run(
            &mut Capped {
                capacity: 400_000.0,
            },
            &c,
            &stop,
            |_| (),
        )
        .unwrap();
        assert!(
            r.results[1].throughput_pps >= 81_274.0 * 0.99,
            "1518 B line rate passes with half lost tolerated"
        );
    }

    #[test]
    fn loss_curve_stops_after_two_clean_trials_and_reports_render() {
        let stop = AtomicBool::new(false);
        let mut c = cfg();
        c.sizes = vec![64];
        c.loss_curve = true;
        let r = run(
            &mut Capped {
                capacity: 650_000.0,
            },
            &c,
            &stop,
            |_| (),
        )
        .unwrap();
        let curve = &r.results[0].loss_curve;
        let pcts: Vec<f64> = curve.iter().map(|p| p.0).collect();
        assert_eq!(pcts, [100.0, 90.0, 80.0, 70.0, 60.0, 50.0]);
        assert!((curve[0].1 - 0.35).abs() < 1e-6);
        assert!(
            r.table().contains("loss curve: 100 %: 35.000 %, 90 %: "),
            "{}",
            r.table()
        );
        assert_eq!((curve[4].1, curve[5].1), (0.0, 0.0));
        assert!(
            r.table().contains("0.645 Mpps") || r.table().contains("0.64"),
            "{}",
            r.table()
        );
        let svg = r.svg();
        assert!(
            svg.starts_with("<svg")
                && svg.contains("polyline")
                && svg.trim_end().ends_with("</svg>")
        );
    }

    #[test]
    fn back_to_back_finds_the_buffer() {
        let stop = AtomicBool::new(false);
        let mut c = cfg();
        c.sizes = vec![64];
        c.back_to_back_trials = 2;
        // 1000 frames of buffer draining at half the offered rate: bursts up to 2000 pass.
        let r = run(
            &mut Capped {
                capacity: 500_000.0,
            },
            &c,
            &stop,
            |_| (),
        )
        .unwrap();
        let b2b = r.results[0].back_to_back.unwrap();
        assert!((1990.0..=2000.0).contains(&b2b), "{b2b}");
    }

    #[test]
    fn stop_ends_the_run_with_partial_results() {
        let stop = AtomicBool::new(true);
        let r = run(&mut Capped { capacity: 1.0 }, &cfg(), &stop, |_| ()).unwrap();
        assert!(r.results.is_empty());

        // Ctrl-C during the third trial of the first size's search.
        let stop = AtomicBool::new(false);
        let mut trials = 0;
        let mut dut = Capped {
            capacity: 300_000.0,
        };
        let r = run(&mut dut, &cfg(), &stop, |_| {
            trials += 1;
            if trials == 3 {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
        assert_eq!(r.results.len(), 1, "the second size never starts");
        let first = &r.results[0];
        assert!(first.stopped && first.latency.is_none());
        assert_eq!(first.trials.len(), 3);
        assert!(r.table().contains("stopped early"), "{}", r.table());

        // Ctrl-C during the last test of a size: that size is whole, the next never starts.
        let stop = AtomicBool::new(false);
        let r = run(&mut dut, &cfg(), &stop, |line| {
            if line.contains("latency") {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
        assert_eq!(r.results.len(), 1);
        assert!(!r.results[0].stopped && r.results[0].latency.is_some());
    }
}
