//! The XDP live-frame sender, `xdp-live:IFNAME[@NETNS]`: the kernel lays out each stream's frames
//! from a template ([`LiveFrames`]) and sends them out of the interface, several Mpps on one
//! core where socket-based senders stop near 1 Mpps.
//!
//! One program, and one thread on its own core, per stream: the program paces itself by
//! spinning in the kernel, so two streams cannot share a core without both falling short. A
//! stream is one fixed-size IPv4/UDP frame whose UDP source port walks the largest power of two
//! of ports that fits in its `src_port` range; address ranges, other sizes, TCP and IPv6 are
//! refused rather than sent differently from what the profile says. The frames carry the same
//! test signature as every generated frame, so any rx port counts their loss, reordering and
//! latency. "Sent" is what the program laid out: a frame the kernel's redirect then loses counts
//! as lost.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use brick_io::backend::af_xdp::live::{LiveFrames, MIN_LIVE_FRAME};
use brick_io::{Pool, PoolConfig, Rx, clock, netns, poll};

use super::profile::{IpRange, Protocol, Size, StreamSpec};
use super::stream::Stream;
use super::{GenReport, Plan, Profile, Receivers, RunOpts, Sent, Shared, join, watch};
use crate::Error;

/// Target length of one live-frame call: long enough to amortise its set-up (the kernel builds a
/// page pool, tens of milliseconds), short enough that Ctrl-C is seen soon. Calls are sized from
/// the previous call's iterations per second, and the last one to end at the deadline.
const CALL_NS: f64 = 250e6;

/// Frames per batch of the kernel's loop (its maximum).
const BATCH: u32 = 256;

/// Where live frames leave: an interface, in a named namespace or the current one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSpec {
    /// The interface.
    pub ifname: String,
    /// The namespace that holds it.
    pub netns: Option<String>,
}

impl FromStr for LiveSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let rest = s
            .strip_prefix("xdp-live:")
            .ok_or_else(|| Error::Usage(format!("{s:?}: expected xdp-live:IFNAME[@NETNS]")))?;
        let (ifname, netns) = match rest.split_once('@') {
            Some((i, n)) => (i, Some(n.to_string())),
            None => (rest, None),
        };
        if ifname.is_empty() || netns.as_deref() == Some("") {
            return Err(Error::Usage(format!(
                "{s:?}: expected xdp-live:IFNAME[@NETNS]"
            )));
        }
        Ok(LiveSpec {
            ifname: ifname.to_string(),
            netns,
        })
    }
}

impl fmt::Display for LiveSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "xdp-live:{}", self.ifname)?;
        match &self.netns {
            Some(n) => write!(f, "@{n}"),
            None => Ok(()),
        }
    }
}

/// The template of stream `id` and its number of flows, or why the stream cannot be sent live.
fn template(id: u16, spec: &StreamSpec) -> Result<(Vec<u8>, u16), Error> {
    let refuse = |why: &str| {
        Err(Error::Usage(format!(
            "stream {:?}: {why}; the xdp-live sender sends one fixed-size IPv4/UDP frame per \
             stream, varying only the UDP source port",
            spec.name
        )))
    };
    let single = |r: &IpRange| matches!(r, IpRange::V4(..)) && r.span() == 1;
    if spec.protocol != Protocol::Udp {
        return refuse("protocol is not udp");
    }
    if !single(&spec.src_ip) || !single(&spec.dst_ip) {
        return refuse("src_ip and dst_ip must each be one IPv4 address");
    }
    if spec.dst_port.span() != 1 || spec.random {
        return refuse("dst_port must be one port and `random` off");
    }
    let Size::Fixed(size) = spec.size else {
        return refuse("size must be fixed");
    };
    let pool = Pool::new(PoolConfig {
        frames: 1,
        frame_size: 16384,
        ..Default::default()
    })?;
    let mut p = pool
        .alloc()
        .ok_or_else(|| Error::Usage("no frame".into()))?;
    Stream::new(id, spec, 0).fill(&mut p, 0);
    if p.len() < MIN_LIVE_FRAME {
        return refuse(&format!(
            "size {size} is below {} bytes",
            MIN_LIVE_FRAME + super::profile::FCS
        ));
    }
    let flows = 1u16 << spec.src_port.span().min(1 << 15).ilog2();
    Ok((p.data().to_vec(), flows))
}

/// Runs `profile` out of `spec`'s interface into the `rx` queues; returns the report and the
/// queues.
pub fn run(
    profile: &Profile,
    spec: &LiveSpec,
    rx: Vec<Rx>,
    opts: &RunOpts,
) -> Result<(GenReport, Vec<Rx>), Error> {
    let plan = Plan::new(profile, 1, opts)?;
    let templates = profile
        .streams
        .iter()
        .enumerate()
        .map(|(i, s)| template(i as u16, s))
        .collect::<Result<Vec<_>, _>>()?;
    let shared = Arc::new(Shared::default());
    let receivers = Receivers::spawn(rx, plan.ids, templates.len(), &shared, opts)?;

    let started = Instant::now();
    let mut senders = Vec::new();
    for (i, (frame, flows)) in templates.into_iter().enumerate() {
        let pps = plan.pps.map_or(0.0, |p| {
            p * f64::from(profile.streams[i].weight) / f64::from(plan.weights)
        });
        let seconds = plan.seconds;
        // The program stops at a count, or paced at rate x duration as the other senders do:
        // a call may end after the deadline, but sends no frame beyond the schedule.
        let limit = plan
            .count
            .or(seconds.filter(|_| pps > 0.0).map(|s| (pps * s) as u64));
        let (spec, stop, shared) = (spec.clone(), Arc::clone(&opts.stop), Arc::clone(&shared));
        senders.push(poll::spawn(
            format!("gen-live{i}"),
            opts.cores.get(i).copied(),
            move || -> Result<(u64, u64), Error> {
                let send = || {
                    let live = LiveFrames::new(&spec.ifname, &frame, flows)?;
                    send_stream(&live, (pps, limit, seconds), &stop, &shared)
                };
                netns::within(spec.netns.as_deref(), send)?
            },
        )?);
    }
    watch(&senders, &shared, opts, started);
    let mut sent = Sent {
        per_id: Vec::new(),
        skipped: 0,
        refused: 0,
        secs: started.elapsed().as_secs_f64(),
    };
    for h in senders {
        let (n, skipped) = join(h, "sender")??;
        sent.per_id.push(n);
        sent.skipped += skipped;
    }
    let backend = spec.to_string();
    let (report, rxs) = receivers.report(profile, &plan, &sent, &shared, &backend)?;
    Ok((report, rxs))
}

/// Sends one stream with `live` at `pps` (0: unpaced) until `seconds` pass, `limit` frames are
/// laid out or `stop` is set, counting into `shared`. Returns the frames laid out, and those the
/// schedule asked for that the program did not lay out (it fell behind).
fn send_stream(
    live: &LiveFrames,
    (pps, limit, seconds): (f64, Option<u64>, Option<f64>),
    stop: &AtomicBool,
    shared: &Shared,
) -> Result<(u64, u64), Error> {
    live.set_rate(pps)?;
    if let Some(l) = limit {
        live.set_limit(l)?;
    }
    let deadline = seconds.map(|s| clock::now_ns() + (s * 1e9) as u64);
    let (mut done, mut per_ns, mut rate, t0) = (0, 1e-3, pps, clock::now_ns());
    // The length of the call starting at `t`: the last one takes all the time left rather than
    // leave a stub that would be mostly set-up.
    let call_ns = |t: u64| match deadline.map(|d| d.saturating_sub(t) as f64) {
        Some(left) if left < 1.5 * CALL_NS => left,
        _ => CALL_NS,
    };
    while !stop.load(Ordering::Relaxed) {
        let t = clock::now_ns();
        if deadline.is_some_and(|d| t >= d) || limit.is_some_and(|l| done >= l) {
            break;
        }
        let repeat = ((per_ns * call_ns(t)) as u64).clamp(1 << 12, 1 << 26);
        live.send(repeat as u32, BATCH)?;
        let wall = (clock::now_ns() - t).max(1) as f64;
        per_ns = repeat as f64 / wall;
        let now = live.generated()?;
        if pps > 0.0 {
            // A call's set-up sends nothing. Pace the next call so that the run is back on
            // schedule at its end, the set-up measured on this one.
            let end = clock::now_ns();
            let active = (now - done) as f64 / rate * 1e9;
            let setup = (wall - active).max(0.0);
            let next = call_ns(end);
            let due = pps * ((end - t0) as f64 + next) / 1e9 - now as f64;
            rate = (due / (next - setup).max(next / 4.0) * 1e9).clamp(pps / 2.0, pps * 4.0);
            live.set_rate(rate)?;
        }
        shared.sent.fetch_add(now - done, Ordering::Relaxed);
        done = now;
    }
    // What the schedule asked for and the program did not lay out: it fell behind.
    let asked = seconds.filter(|_| pps > 0.0 && !stop.load(Ordering::Relaxed));
    let skipped = asked.map_or(0, |s| ((pps * s) as u64).saturating_sub(done));
    Ok((done, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        let s: LiveSpec = "xdp-live:veth0@gen".parse().unwrap();
        assert_eq!(
            (s.ifname.as_str(), s.netns.as_deref()),
            ("veth0", Some("gen"))
        );
        assert_eq!(s.to_string(), "xdp-live:veth0@gen");
        for bad in ["xdp-live:", "af_packet:veth0", "xdp-live:veth0@"] {
            assert!(bad.parse::<LiveSpec>().is_err(), "{bad}");
        }
    }

    fn stream(extra: &str) -> StreamSpec {
        let text = format!(
            "[[stream]]\nname = \"s\"\nsrc_ip = \"10.0.0.1\"\ndst_ip = \"10.1.0.1\"\n{extra}"
        );
        let p = Profile::parse("test.toml", &text).unwrap();
        p.streams[0].clone()
    }

    /// The template carries the signature the receiver looks for, with the stamped fields at the
    /// places the program writes them, and the flows are the power of two within the range.
    #[test]
    fn templates_carry_the_signature_where_the_program_stamps() {
        let (t, flows) = template(7, &stream("src_port = \"1000-1099\"\nsize = 128")).unwrap();
        assert_eq!((t.len(), flows), (124, 64));
        let sig = super::super::stream::signature(&t).unwrap();
        assert_eq!(sig.stream, 7);
        assert_eq!(brick_io::backend::af_xdp::live::SEQ_AT, 42 + 4);
        assert_eq!(u16::from_be_bytes([t[34], t[35]]), 1000);
        assert_eq!(
            &t[40..42],
            &[0, 0],
            "UDP checksum off: the program changes the payload"
        );
    }

    #[test]
    fn the_example_profile_can_be_sent_live() {
        let text = include_str!("../../profiles/udp64.toml");
        let p = Profile::parse("udp64.toml", text).unwrap();
        let (t, flows) = template(0, &p.streams[0]).unwrap();
        assert_eq!((t.len(), flows), (60, 64));
    }

    #[test]
    fn streams_it_cannot_send_are_refused_with_the_reason() {
        for (extra, why) in [
            ("protocol = \"tcp\"\nsize = 128", "protocol"),
            ("size = \"imix\"", "size"),
            ("dst_port = \"9-10\"", "dst_port"),
        ] {
            let e = template(0, &stream(extra)).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("\"s\""), "{e}");
        }
        let mut s = stream("");
        s.dst_ip = IpRange::V4(1, 2);
        assert!(template(0, &s).unwrap_err().to_string().contains("dst_ip"));
    }
}
