//! A pcap written by the tx port is read back by `tshark` with the same frames. Input: 1000 test
//! frames of mixed sizes sent through a pcap tx port. Output: tshark decodes 1000 frames whose raw
//! bytes are the frames sent, and our own pcap rx port reads the same file back identically.

use std::process::Command;

use brick_io::backend::pcap;
use brick_io::{Burst, Pool, PoolConfig, testframe};

fn tshark_frames(path: &std::path::Path) -> Option<Vec<Vec<u8>>> {
    let out = match Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-T", "json", "-x"])
        .output()
    {
        Ok(o) => o,
        Err(_) if std::env::var_os("CI").is_none() => return None,
        Err(e) => panic!("tshark is needed in CI (.ci/run installs it): {e}"),
    };
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let mut frames = Vec::new();
    while let Some(l) = lines.next() {
        if l.trim_start().starts_with("\"frame_raw\"") {
            let hex = lines
                .next()
                .unwrap()
                .trim()
                .trim_end_matches(',')
                .trim_matches('"');
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            frames.push(bytes);
        }
    }
    Some(frames)
}

#[test]
fn tshark_reads_what_the_tx_port_wrote() {
    let path = std::env::temp_dir().join(format!("brick-tshark-{}.pcap", std::process::id()));
    let pool = Pool::new(PoolConfig::default()).unwrap();
    let sent: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| {
            let mut f = vec![0u8; 60 + (i as usize * 37) % 1455];
            testframe::build(&mut f, (i % 7) as u16, i);
            f
        })
        .collect();
    {
        let (_, mut tx) = pcap::open(None, Some(&path), 65535).unwrap().split();
        let mut burst = Burst::new(32);
        for f in &sent {
            burst.push(pool.alloc_from(f).unwrap()).unwrap();
            if burst.room() == 0 {
                tx[0].tx_burst(&mut burst);
            }
        }
        tx[0].tx_burst(&mut burst);
    }

    let (mut rx, _) = pcap::open(Some(&path), None, 0).unwrap().split();
    let mut ours = Vec::new();
    let mut burst = Burst::new(32);
    while rx[0].rx_burst(&pool, &mut burst) != 0 {
        ours.extend(burst.drain().map(|p| p.data().to_vec()));
    }
    assert_eq!(ours, sent, "our own reader");

    match tshark_frames(&path) {
        Some(theirs) => {
            assert_eq!(theirs.len(), sent.len(), "frames tshark decoded");
            assert!(theirs == sent, "tshark saw different bytes");
        }
        None => {
            eprintln!("skipped the tshark half: tshark is not installed (apt-get install tshark)")
        }
    }
    std::fs::remove_file(&path).unwrap();
}
