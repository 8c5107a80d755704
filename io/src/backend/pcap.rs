//! pcap files as ports: a file read as an rx queue, a tx queue written as a file that tcpdump,
//! tshark and Wireshark read.
//!
//! Reading accepts the classic format in both byte orders with microsecond or nanosecond
//! timestamps, link type Ethernet (1). Writing produces nanosecond pcap (magic `a1b23c4d`), link
//! type Ethernet. pcapng is not supported. A file is not a fast path: records go through a
//! buffered reader or writer, and the writer is flushed by [`crate::TxQueue::flush`], on drop,
//! and every 64 KiB.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::burst::Burst;
use crate::error::Error;
use crate::flow;
use crate::pool::Pool;
use crate::port::{Port, RxQueue, TxQueue, Wake};
use crate::stats::{DropReason, QueueStats};

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;
/// Largest record accepted on read; anything larger is a corrupt length, not a frame.
const MAX_RECORD: u32 = 256 * 1024;

/// Opens a pcap port: `rx` is read as the port's rx queue, `tx` (created or truncated) receives
/// what the port sends. Either may be absent. The port is named after the files.
#[cold]
pub fn open(rx: Option<&Path>, tx: Option<&Path>, snaplen: u32) -> Result<Port, Error> {
    let name = match (rx, tx) {
        (Some(r), Some(t)) => format!("pcap:{}>{}", r.display(), t.display()),
        (Some(p), None) | (None, Some(p)) => format!("pcap:{}", p.display()),
        (None, None) => return Err(Error::Config("pcap port needs an rx or a tx file".into())),
    };
    let rxq: Vec<Box<dyn RxQueue>> = match rx {
        Some(p) => vec![Box::new(PcapRx::open(p)?)],
        None => vec![],
    };
    let txq: Vec<Box<dyn TxQueue>> = match tx {
        Some(p) => vec![Box::new(PcapTx::create(p, snaplen)?)],
        None => vec![],
    };
    Ok(Port::new(name, rxq, txq))
}

// ===== impl PcapRx =====

/// Reads frames from a pcap file. At the end of the file (or at a corrupt record, which is counted
/// as [`DropReason::Rejected`]) it returns no more frames.
pub struct PcapRx {
    path: String,
    file: Option<BufReader<Box<dyn Read + Send>>>,
    swapped: bool,
    buf: Vec<u8>,
    stats: Arc<QueueStats>,
}

impl std::fmt::Debug for PcapRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapRx")
            .field("path", &self.path)
            .field("done", &self.done())
            .finish()
    }
}

impl PcapRx {
    /// Opens a file and checks its header.
    #[cold]
    pub fn open(path: &Path) -> Result<Self, Error> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::os(format!("open {shown}"), e))?;
        Self::from_reader(shown, Box::new(file))
    }

    /// Reads pcap from any byte source (`name` appears in errors) and checks its header.
    #[cold]
    pub fn from_reader(name: String, source: Box<dyn Read + Send>) -> Result<Self, Error> {
        let shown = name;
        let err = |reason: String| Error::Pcap {
            path: shown.clone(),
            reason,
        };
        let mut file = BufReader::new(source);
        let mut hdr = [0u8; 24];
        file.read_exact(&mut hdr)
            .map_err(|e| err(format!("no pcap header ({e})")))?;
        let magic = u32::from_le_bytes(hdr[0..4].try_into().unwrap_or_default());
        let swapped = match magic {
            MAGIC_US | MAGIC_NS => false,
            m if m.swap_bytes() == MAGIC_US || m.swap_bytes() == MAGIC_NS => true,
            0x0a0d_0d0a => {
                return Err(err(
                    "pcapng is not supported; convert with `editcap -F pcap`".into(),
                ));
            }
            m => return Err(err(format!("bad magic {m:#010x}"))),
        };
        let rd = |at: usize| {
            let v = u32::from_le_bytes(hdr[at..at + 4].try_into().unwrap_or_default());
            if swapped { v.swap_bytes() } else { v }
        };
        let link = rd(20) & 0x0fff_ffff;
        if link != LINKTYPE_ETHERNET {
            return Err(err(format!(
                "link type {link}, only Ethernet (1) is supported"
            )));
        }
        Ok(Self {
            path: shown,
            file: Some(file),
            swapped,
            buf: Vec::with_capacity(MAX_RECORD as usize),
            stats: Arc::default(),
        })
    }

    /// True once the whole file has been read.
    pub fn done(&self) -> bool {
        self.file.is_none()
    }

    /// The next record's bytes, `Ok(None)` at a clean end of file.
    fn next_record(&mut self) -> io::Result<Option<&[u8]>> {
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        let mut rec = [0u8; 16];
        match file.read(&mut rec[..1])? {
            0 => return Ok(None),
            _ => file.read_exact(&mut rec[1..])?,
        }
        let rd = |at: usize| {
            let v = u32::from_le_bytes([rec[at], rec[at + 1], rec[at + 2], rec[at + 3]]);
            if self.swapped { v.swap_bytes() } else { v }
        };
        let incl = rd(8);
        if incl > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("record of {incl} bytes in {}", self.path),
            ));
        }
        self.buf.resize(incl as usize, 0);
        file.read_exact(&mut self.buf)?;
        Ok(Some(&self.buf))
    }
}

impl RxQueue for PcapRx {
    fn rx_burst(&mut self, pool: &Pool, burst: &mut Burst) -> usize {
        let stats = Arc::clone(&self.stats);
        let mut got = 0;
        while burst.room() != 0 {
            match self.next_record() {
                Ok(Some([])) => stats.add_drop(DropReason::Empty, 1),
                Ok(Some(frame)) => match pool.alloc_from(frame) {
                    Some(mut p) => {
                        p.meta.hash = flow::hash(frame);
                        stats.add_rx(1, frame.len() as u64);
                        let _ = burst.push(p);
                        got += 1;
                    }
                    None if frame.len() > pool.max_data() => {
                        stats.add_drop(DropReason::Oversize, 1)
                    }
                    None => {
                        stats.add_drop(DropReason::PoolExhausted, 1);
                        break;
                    }
                },
                Ok(None) => {
                    self.file = None;
                    break;
                }
                Err(_) => {
                    // A truncated or corrupt tail: what came before was delivered; stop here.
                    stats.add_drop(DropReason::Rejected, 1);
                    self.file = None;
                    break;
                }
            }
        }
        got
    }

    fn wake(&self) -> Wake {
        Wake::Never
    }

    fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

// ===== impl PcapTx =====

/// Writes every frame it is given to a pcap file, cut to `snaplen`.
#[derive(Debug)]
pub struct PcapTx {
    path: String,
    out: BufWriter<File>,
    snaplen: u32,
    failed: bool,
    stats: Arc<QueueStats>,
}

impl PcapTx {
    /// Creates (or truncates) the file and writes its header.
    #[cold]
    pub fn create(path: &Path, snaplen: u32) -> Result<Self, Error> {
        let shown = path.display().to_string();
        let file = File::create(path).map_err(|e| Error::os(format!("create {shown}"), e))?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        let snaplen = snaplen.clamp(64, MAX_RECORD);
        let mut hdr = Vec::with_capacity(24);
        hdr.extend_from_slice(&MAGIC_NS.to_le_bytes());
        hdr.extend_from_slice(&2u16.to_le_bytes());
        hdr.extend_from_slice(&4u16.to_le_bytes());
        hdr.extend_from_slice(&[0; 8]);
        hdr.extend_from_slice(&snaplen.to_le_bytes());
        hdr.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&hdr)
            .and_then(|()| out.flush())
            .map_err(|e| Error::os(format!("write {shown}"), e))?;
        Ok(Self {
            path: shown,
            out,
            snaplen,
            failed: false,
            stats: Arc::default(),
        })
    }

    fn write(&mut self, ts: (u32, u32), frame: &[u8]) -> io::Result<()> {
        let incl = frame.len().min(self.snaplen as usize);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&ts.0.to_le_bytes());
        rec[4..8].copy_from_slice(&ts.1.to_le_bytes());
        rec[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(&frame[..incl])
    }
}

impl TxQueue for PcapTx {
    fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let ts = (now.as_secs() as u32, now.subsec_nanos());
        let mut sent = 0;
        for p in burst.drain() {
            let data = p.data();
            if data.is_empty() {
                self.stats.add_drop(DropReason::Empty, 1);
            } else if self.failed || self.write(ts, data).is_err() {
                // A full disk must not stop the router: count and go on; `flush` retries.
                self.failed = true;
                self.stats.add_drop(DropReason::Rejected, 1);
            } else {
                self.stats.add_tx(1, data.len() as u64);
                sent += 1;
            }
        }
        sent
    }

    fn flush(&mut self) {
        self.failed = self.out.flush().is_err();
    }

    fn stats(&self) -> &Arc<QueueStats> {
        &self.stats
    }
}

impl PcapTx {
    /// The file written.
    pub fn path(&self) -> &str {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::PoolConfig;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("brick-pcap-{}-{name}", std::process::id()))
    }

    #[test]
    fn write_then_read_back() {
        let path = tmp("rt.pcap");
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let frames: Vec<Vec<u8>> = (0..100u32)
            .map(|i| vec![i as u8; 60 + i as usize * 7])
            .collect();
        {
            let port = open(None, Some(&path), 65535).unwrap();
            let stats = port.stats();
            let (_, mut tx) = port.split();
            let mut b = Burst::new(32);
            for f in &frames {
                b.push(pool.alloc_from(f).unwrap()).unwrap();
                if b.room() == 0 {
                    tx[0].tx_burst(&mut b);
                }
            }
            b.push(pool.alloc().unwrap()).unwrap();
            tx[0].tx_burst(&mut b);
            assert_eq!(stats.total().tx_packets, 100);
            assert_eq!(stats.total().drops(DropReason::Empty), 1);
        }
        let port = open(Some(&path), None, 0).unwrap();
        let stats = port.stats();
        let (mut rx, _) = port.split();
        let mut got = Vec::new();
        let mut b = Burst::new(16);
        while rx[0].rx_burst(&pool, &mut b) != 0 {
            got.extend(b.drain().map(|p| p.data().to_vec()));
        }
        assert_eq!(got, frames);
        assert_eq!(stats.total().rx_packets, 100);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn bad_files_name_the_file_and_the_reason() {
        let path = tmp("bad.pcap");
        std::fs::write(&path, b"not a pcap file at all, no").unwrap();
        let e = open(Some(&path), None, 0).unwrap_err().to_string();
        assert!(e.contains("bad.pcap") && e.contains("bad magic"), "{e}");
        std::fs::write(&path, b"short").unwrap();
        let e = open(Some(&path), None, 0).unwrap_err().to_string();
        assert!(e.contains("no pcap header"), "{e}");
        let e = open(Some(Path::new("/nonexistent/x.pcap")), None, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/x.pcap"), "{e}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn truncated_tail_keeps_good_records_and_counts_the_bad_one() {
        let path = tmp("trunc.pcap");
        {
            let port = open(None, Some(&path), 65535).unwrap();
            let (_, mut tx) = port.split();
            let pool = Pool::new(PoolConfig::default()).unwrap();
            let mut b = Burst::new(4);
            for _ in 0..3 {
                b.push(pool.alloc_from(&[7; 100]).unwrap()).unwrap();
            }
            tx[0].tx_burst(&mut b);
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 10);
        std::fs::write(&path, &bytes).unwrap();
        let port = open(Some(&path), None, 0).unwrap();
        let stats = port.stats();
        let (mut rx, _) = port.split();
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut b = Burst::new(8);
        assert_eq!(rx[0].rx_burst(&pool, &mut b), 2);
        assert_eq!(stats.total().drops(DropReason::Rejected), 1);
        assert_eq!(rx[0].rx_burst(&pool, &mut b), 0);
        std::fs::remove_file(&path).unwrap();
    }
}
