//! DIR-24-8, the layout of DPDK's `rte_lpm`: a 2^24-entry table indexed by the top 24 bits, and
//! 256-entry groups for the /24 blocks that hold longer prefixes. Every entry remembers the length
//! of the prefix that wrote it, so an insert overwrites only entries of shorter prefixes and a
//! remove rewrites only its own. IPv4 only.

use super::rules::Rules;
use super::{Lpm, NextHop, check_nh};
use crate::{Error, Prefix};

/// An entry: bit 31 "points to a group", bits 24..=29 the depth of the prefix that wrote it,
/// bits 0..=23 the next hop or the group index.
type Entry = u32;
const _: () = assert!(size_of::<Entry>() == 4);

const GROUP: Entry = 1 << 31;
const DEPTH_SHIFT: u32 = 24;
const VALUE: Entry = (1 << DEPTH_SHIFT) - 1;
const TBL24: usize = 1 << 24;
/// Group indices must fit in [`VALUE`].
const MAX_GROUPS: usize = 1 << 24;

fn leaf(nh: NextHop, depth: u8) -> Entry {
    Entry::from(nh) | Entry::from(depth) << DEPTH_SHIFT
}

fn depth(e: Entry) -> u8 {
    ((e >> DEPTH_SHIFT) & 0x3f) as u8
}

/// DIR-24-8 over IPv4.
#[derive(Debug)]
pub struct Dir24 {
    tbl24: Box<[Entry; TBL24]>,
    tbl8: Vec<Entry>,
    free_groups: Vec<u32>,
    rules: Rules<u32>,
}

// ===== impl Dir24 =====

impl Default for Dir24 {
    fn default() -> Self {
        Dir24 {
            tbl24: boxed_tbl24(vec![0; TBL24]),
            tbl8: Vec::new(),
            free_groups: Vec::new(),
            rules: Rules::new(),
        }
    }
}

// A derived `Clone` would build the 64 MiB array on the stack.
impl Clone for Dir24 {
    fn clone(&self) -> Self {
        Dir24 {
            tbl24: boxed_tbl24(self.tbl24.to_vec()),
            tbl8: self.tbl8.clone(),
            free_groups: self.free_groups.clone(),
            rules: self.rules.clone(),
        }
    }
}

/// The fixed-size `tbl24`, whose type lets lookups index it without a bounds check.
fn boxed_tbl24(v: Vec<Entry>) -> Box<[Entry; TBL24]> {
    // Both callers pass exactly TBL24 entries.
    v.into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!())
}

impl Dir24 {
    /// Applies `f` to every entry `p` spans: a range of `tbl24` (descending into groups) for
    /// prefixes up to /24, a range of one group beyond.
    fn for_span(&mut self, p: Prefix<u32>, f: impl Fn(&mut Entry)) {
        let first = (p.addr() >> 8) as usize;
        if p.len() <= 24 {
            for e in &mut self.tbl24[first..first + (1 << (24 - p.len()))] {
                if *e & GROUP == 0 {
                    f(e);
                } else {
                    let g = ((*e & VALUE) as usize) << 8;
                    self.tbl8[g..g + 256].iter_mut().for_each(&f);
                }
            }
        } else if self.tbl24[first] & GROUP != 0 {
            let g = ((self.tbl24[first] & VALUE) as usize) << 8;
            let lo = g + (p.addr() & 0xff) as usize;
            self.tbl8[lo..lo + (1 << (32 - p.len()))]
                .iter_mut()
                .for_each(f);
        }
    }

    /// Makes sure the /24 block `i` has a group, seeded with its current entry.
    fn ensure_group(&mut self, i: usize) -> Result<(), Error> {
        let e = self.tbl24[i];
        if e & GROUP != 0 {
            return Ok(());
        }
        let g = match self.free_groups.pop() {
            Some(g) => {
                let at = (g as usize) << 8;
                self.tbl8[at..at + 256].fill(e);
                g
            }
            None if self.tbl8.len() / 256 < MAX_GROUPS => {
                self.tbl8.resize(self.tbl8.len() + 256, e);
                (self.tbl8.len() / 256 - 1) as u32
            }
            None => return Err(Error::TableFull("DIR-24-8 groups")),
        };
        self.tbl24[i] = GROUP | g;
        Ok(())
    }

    /// Folds the group of block `i` back into `tbl24` once no prefix longer than /24 is left in
    /// it (all its entries are then equal).
    fn collapse_group(&mut self, i: usize) {
        let e = self.tbl24[i];
        let at = ((e & VALUE) as usize) << 8;
        if e & GROUP != 0 && self.tbl8[at..at + 256].iter().all(|&x| depth(x) <= 24) {
            self.tbl24[i] = self.tbl8[at];
            self.free_groups.push(e & VALUE);
        }
    }
}

impl Lpm<u32> for Dir24 {
    fn insert(&mut self, p: Prefix<u32>, nh: NextHop) -> Result<Option<NextHop>, Error> {
        check_nh(nh)?;
        if p.len() > 24 {
            self.ensure_group((p.addr() >> 8) as usize)?;
        }
        let old = self.rules.insert(p, nh)?;
        let new = leaf(nh, p.len());
        self.for_span(p, |e| {
            if depth(*e) <= p.len() {
                *e = new;
            }
        });
        Ok(old)
    }

    fn remove(&mut self, p: Prefix<u32>) -> Result<Option<NextHop>, Error> {
        let Some(old) = self.rules.remove(p) else {
            return Ok(None);
        };
        let (nh, len) = self.rules.covering(p);
        let uncovered = leaf(nh, len);
        self.for_span(p, |e| {
            if depth(*e) == p.len() {
                *e = uncovered;
            }
        });
        if p.len() > 24 {
            self.collapse_group((p.addr() >> 8) as usize);
        }
        Ok(Some(old))
    }

    #[inline]
    fn lookup(&self, key: u32) -> NextHop {
        let e = self.tbl24[(key >> 8) as usize];
        let e = if e & GROUP == 0 {
            e
        } else {
            let i = ((e & VALUE) as usize) << 8 | (key & 0xff) as usize;
            self.tbl8.get(i).copied().unwrap_or(0)
        };
        (e & 0xffff) as NextHop
    }

    fn len(&self) -> usize {
        self.rules.len()
    }

    fn lookup_bytes(&self) -> usize {
        (TBL24 + self.tbl8.capacity()) * size_of::<Entry>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NO_ROUTE;

    #[test]
    fn groups_are_made_and_folded() {
        let mut t = Dir24::default();
        let p24: Prefix<u32> = "10.0.0.0/24".parse().unwrap();
        let p28: Prefix<u32> = "10.0.0.16/28".parse().unwrap();
        t.insert(p24, 1).unwrap();
        t.insert(p28, 2).unwrap();
        assert_eq!((t.lookup(0x0a00_0011), t.lookup(0x0a00_0001)), (2, 1));
        assert_eq!(t.tbl24[0x0a0000] & GROUP, GROUP);
        assert_eq!(t.remove(p28).unwrap(), Some(2));
        assert_eq!(t.tbl24[0x0a0000], leaf(1, 24));
        assert_eq!(t.free_groups.len(), 1);
        assert_eq!(t.remove(p24).unwrap(), Some(1));
        assert_eq!(t.lookup(0x0a00_0011), NO_ROUTE);
    }
}
