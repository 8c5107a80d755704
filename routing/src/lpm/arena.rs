//! Growable arrays handing out blocks, for the tables that keep variable-size groups (a
//! node's children, its leaves, its prefixes) contiguous and must reuse them under churn.

use crate::Error;

/// A growable array handing out blocks, with free lists by power-of-two size class. A block
/// keeps its class for life, so freed blocks always fit the requests of their class again.
#[derive(Clone, Debug)]
pub(crate) struct Arena<T> {
    pub(crate) items: Vec<T>,
    /// Class of the block starting at each index (meaningless elsewhere).
    class: Vec<u8>,
    free: Vec<Vec<u32>>,
    /// New blocks get exactly the size asked (a full build) rather than a power of two.
    pub(crate) tight: bool,
    /// What a full arena reports.
    name: &'static str,
}

/// Indices stay below 2^31: Poptrie's direct entries spend the top bit on "leaf".
const LIMIT: u32 = 1 << 31;

// ===== impl Arena =====

impl<T: Copy + Default> Arena<T> {
    /// An empty arena; `name` says whose it is when it is full.
    pub(crate) fn new(name: &'static str) -> Self {
        Arena {
            items: Vec::new(),
            class: Vec::new(),
            free: (0..32).map(|_| Vec::new()).collect(),
            tight: false,
            name,
        }
    }

    /// The start of a block for `len` items: from the free list of its class (the power of two
    /// at or above `len`), else new.
    pub(crate) fn reserve(&mut self, len: usize) -> Result<u32, Error> {
        if len == 0 {
            return Ok(0);
        }
        let class = len.next_power_of_two().trailing_zeros() as usize;
        if let Some(start) = self.free.get_mut(class).and_then(Vec::pop) {
            return Ok(start);
        }
        // A tight block serves the class below its size when recycled.
        let (cap, class) = if self.tight {
            (len, len.ilog2() as u8)
        } else {
            (1 << class, class as u8)
        };
        let start = u32::try_from(self.items.len())
            .ok()
            .filter(|s| s.checked_add(cap as u32).is_some_and(|end| end < LIMIT))
            .ok_or(Error::TableFull(self.name))?;
        self.items.resize(self.items.len() + cap, T::default());
        self.class.resize(self.items.len(), 0);
        self.class[start as usize] = class;
        Ok(start)
    }

    /// Reserves a block and copies `data` into it.
    pub(crate) fn place(&mut self, data: &[T]) -> Result<u32, Error> {
        let start = self.reserve(data.len())?;
        let at = start as usize;
        self.items[at..at + data.len()].copy_from_slice(data);
        Ok(start)
    }

    /// Whether the block at `start` (not a tight one) has room for `len` items.
    fn fits(&self, start: u32, len: usize) -> bool {
        len <= 1 << self.class[start as usize]
    }

    /// Inserts `v` at position `at` of the block at `*start`, which holds `len` items, moving
    /// the block to a larger one when it is full.
    pub(crate) fn insert(
        &mut self,
        start: &mut u32,
        len: usize,
        at: usize,
        v: T,
    ) -> Result<(), Error> {
        if len == 0 {
            *start = self.reserve(1)?;
        } else if !self.fits(*start, len + 1) {
            let old = *start;
            *start = self.reserve(len + 1)?;
            self.items
                .copy_within(old as usize..old as usize + len, *start as usize);
            self.release(old, len as u32);
        }
        let s = *start as usize;
        self.items.copy_within(s + at..s + len, s + at + 1);
        self.items[s + at] = v;
        Ok(())
    }

    /// Removes position `at` of the block at `*start`, which holds `len` items; the block goes
    /// back to its free list when it empties.
    pub(crate) fn remove(&mut self, start: &mut u32, len: usize, at: usize) {
        let s = *start as usize;
        self.items.copy_within(s + at + 1..s + len, s + at);
        if len == 1 {
            self.release(*start, 1);
            *start = 0;
        }
    }

    /// Returns the block at `start`, which holds `len` items, to the free list of its class.
    pub(crate) fn release(&mut self, start: u32, len: u32) {
        if len > 0 {
            let class = self.class[start as usize];
            self.free[usize::from(class)].push(start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_blocks_grow_shrink_and_are_reused() {
        let mut a = Arena::<u16>::new("test");
        let mut start = 0;
        for (len, v) in (0..5).zip([30, 10, 20, 40, 50]) {
            let at = match v {
                10 => 0,
                20 => 1,
                _ => len,
            };
            a.insert(&mut start, len, at, v).unwrap();
        }
        let s = start as usize;
        assert_eq!(a.items[s..s + 5], [10, 20, 30, 40, 50]);
        // Five items took the block of eight; the blocks of one, two and four were freed.
        assert_eq!(a.class[s], 3);
        a.remove(&mut start, 5, 1);
        assert_eq!(a.items[s..s + 4], [10, 30, 40, 50]);
        for len in (1..=4).rev() {
            a.remove(&mut start, len, 0);
        }
        assert_eq!(start, 0);
        let before = a.items.len();
        let again = a.reserve(7).unwrap();
        assert_eq!(
            (again as usize, a.items.len()),
            (s, before),
            "the freed block is reused"
        );
    }
}
