//! Route files: one route per line, `prefix/len next-hop`, where the next hop is either a
//! next-hop index (1..=65535) or a gateway address, the same kind throughout a file. Blank lines
//! and `#` comments are skipped; gzip files are recognised by their magic bytes.
//!
//! A prefix with host bits set is an error (see [`Prefix::new`]), and so is a prefix given twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::lpm::NextHop;
use crate::{Error, Key, Prefix};

/// The routes of a file. With gateway addresses, `gateways[i]` is next hop `i + 1`.
#[derive(Clone, Debug)]
pub struct RouteFile<K> {
    /// Prefixes and next-hop indices, in file order.
    pub routes: Vec<(Prefix<K>, NextHop)>,
    /// Gateway addresses in order of first appearance (empty for a file of indices).
    pub gateways: Vec<K>,
}

impl<K> Default for RouteFile<K> {
    fn default() -> Self {
        RouteFile {
            routes: Vec::new(),
            gateways: Vec::new(),
        }
    }
}

/// Reads a route file, plain or gzip.
pub fn load<K: Key>(path: &Path) -> Result<RouteFile<K>, Error> {
    let name = path.display().to_string();
    let io = |source| Error::Io {
        file: name.clone(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let gzip = reader.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::new(MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    };
    parse(&name, reader)
}

/// Parses route lines; `file` names the source in errors.
pub fn parse<K: Key>(file: &str, reader: impl Read) -> Result<RouteFile<K>, Error> {
    let mut out = RouteFile::default();
    let mut seen: HashMap<Prefix<K>, usize> = HashMap::new();
    let mut gateway_ids: HashMap<K, NextHop> = HashMap::new();
    let mut lines = BufReader::new(reader);
    let mut text = String::new();
    let mut line = 0;
    loop {
        text.clear();
        line += 1;
        let fail = |reason: String| Error::Parse {
            file: file.to_string(),
            line,
            reason,
        };
        match lines.read_line(&mut text) {
            Ok(0) => return Ok(out),
            Ok(_) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        let body = text.split('#').next().unwrap_or_default();
        let mut words = body.split_whitespace();
        let (Some(prefix), nh, extra) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let (Some(nh), None) = (nh, extra) else {
            return Err(fail("expected `prefix/len next-hop`".into()));
        };
        let prefix: Prefix<K> = prefix.parse().map_err(|e: Error| fail(e.to_string()))?;
        if let Some(first) = seen.insert(prefix, line) {
            return Err(fail(format!("{prefix} already given on line {first}")));
        }
        let nh = match (nh.parse::<NextHop>(), K::parse_addr(nh)) {
            (Ok(0), _) => return Err(fail("next hop 0 is reserved for \"no route\"".into())),
            (Ok(id), _) if out.gateways.is_empty() => id,
            (Err(_), Some(addr)) if out.routes.is_empty() || !out.gateways.is_empty() => {
                let next = out.gateways.len() + 1;
                match gateway_ids.get(&addr) {
                    Some(&id) => id,
                    None => {
                        let id = NextHop::try_from(next)
                            .map_err(|_| fail("more than 65535 gateways".into()))?;
                        gateway_ids.insert(addr, id);
                        out.gateways.push(addr);
                        id
                    }
                }
            }
            (Ok(_), _) | (Err(_), Some(_)) => {
                return Err(fail("mixes next-hop indices and gateway addresses".into()));
            }
            (Err(_), None) => {
                return Err(fail(format!(
                    "next hop {nh:?} is neither an index (1..=65535) nor an address"
                )));
            }
        };
        out.routes.push((prefix, nh));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse::<u32>("t.routes", text.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_indices_and_gateways() {
        let f = parse::<u32>(
            "t",
            "# table\n10.0.0.0/8 7\n\n10.1.0.0/16 9 # x\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(f.routes.len(), 2);
        assert_eq!(f.routes[1], ("10.1.0.0/16".parse().unwrap(), 9));
        assert!(f.gateways.is_empty());
        let f = parse::<u128>(
            "t",
            "2001:db8::/32 fe80::1\n::/0 fe80::2\n2001:db8:1::/48 fe80::1\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(f.gateways.len(), 2);
        assert_eq!(f.routes.iter().map(|r| r.1).collect::<Vec<_>>(), [1, 2, 1]);
    }

    #[test]
    fn bad_lines_name_file_line_and_reason() {
        assert_eq!(
            err("10.0.0.0/8 1\n10.1.2.3/16 2\n"),
            "t.routes:2: bad prefix \"10.1.2.3/16\": host bits set"
        );
        assert_eq!(
            err("10.0.0.0/8\n"),
            "t.routes:1: expected `prefix/len next-hop`"
        );
        assert_eq!(
            err("10.0.0.0/8 1 2\n"),
            "t.routes:1: expected `prefix/len next-hop`"
        );
        assert_eq!(
            err("\n10.0.0.0/8 0\n"),
            "t.routes:2: next hop 0 is reserved for \"no route\""
        );
        assert_eq!(
            err("10.0.0.0/8 1\n10.0.0.0/8 2\n"),
            "t.routes:2: 10.0.0.0/8 already given on line 1"
        );
        assert_eq!(
            err("10.0.0.0/8 1\n11.0.0.0/8 192.0.2.1\n"),
            "t.routes:2: mixes next-hop indices and gateway addresses"
        );
        assert_eq!(
            err("10.0.0.0/8 70000\n"),
            "t.routes:1: next hop \"70000\" is neither an index (1..=65535) nor an address"
        );
        assert_eq!(
            err("2001:db8::/32 1\n"),
            "t.routes:1: bad prefix \"2001:db8::/32\": not an address of this family"
        );
        assert_eq!(
            err("10.0.0.0/x 1\n"),
            "t.routes:1: bad prefix \"10.0.0.0/x\": length is not a number"
        );
        assert!(err("\u{0}\u{ff}/8 1").starts_with("t.routes:1: bad prefix"));
    }

    #[test]
    fn bad_utf8_is_an_error_not_a_panic() {
        let e = parse::<u32>("t", &[0x31, 0xff, 0x0a][..]).unwrap_err();
        assert!(e.to_string().starts_with("t:1: "), "{e}");
    }

    #[test]
    fn reads_gzip_and_names_missing_files() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("brick-routes-{}.gz", std::process::id()));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"192.0.2.0/24 3\n").unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let f = load::<u32>(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(f.routes, [("192.0.2.0/24".parse().unwrap(), 3)]);
        let e = load::<u32>(Path::new("/nonexistent/routes")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/routes: "), "{e}");
    }
}
