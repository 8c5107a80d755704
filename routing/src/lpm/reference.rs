//! The reference table: one hash map per prefix length, searched longest first. Slow and
//! obviously right; tests compare every other table with it.

use std::collections::HashMap;

use super::{Lpm, NO_ROUTE, NextHop, check_nh};
use crate::{Error, Key, Prefix};

/// One `HashMap<network, next hop>` per prefix length.
#[derive(Clone, Debug)]
pub struct Reference<K> {
    by_len: Vec<HashMap<K, NextHop>>,
}

// ===== impl Reference =====

impl<K: Key> Default for Reference<K> {
    fn default() -> Self {
        Reference {
            by_len: vec![HashMap::new(); usize::from(K::BITS) + 1],
        }
    }
}

impl<K: Key> Lpm<K> for Reference<K> {
    fn insert(&mut self, p: Prefix<K>, nh: NextHop) -> Result<Option<NextHop>, Error> {
        check_nh(nh)?;
        Ok(self.by_len[usize::from(p.len())].insert(p.addr(), nh))
    }

    fn remove(&mut self, p: Prefix<K>) -> Result<Option<NextHop>, Error> {
        Ok(self.by_len[usize::from(p.len())].remove(&p.addr()))
    }

    fn lookup(&self, key: K) -> NextHop {
        (0..=K::BITS)
            .rev()
            .filter(|&len| !self.by_len[usize::from(len)].is_empty())
            .find_map(|len| {
                self.by_len[usize::from(len)]
                    .get(&key.and(K::mask(len)))
                    .copied()
            })
            .unwrap_or(NO_ROUTE)
    }

    fn len(&self) -> usize {
        self.by_len.iter().map(HashMap::len).sum()
    }

    fn lookup_bytes(&self) -> usize {
        self.by_len
            .iter()
            .map(|m| m.capacity() * (size_of::<K>() + size_of::<NextHop>()))
            .sum()
    }
}
