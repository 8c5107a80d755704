//! Growable arrays handing out blocks, for the tables that keep variable-size groups (a
//! node's children, its leaves, its prefixes) contiguous and must reuse them under churn.

use crate::Error;

/// A growable array handing out blocks, with free lists by power-of-two size class.
///
/// A block's class follows from how many items it holds: a block of `len` items has room for
/// `len.next_power_of_two()`, and [`Arena::remove`] hands the upper half back as soon as the
/// lower half suffices. So no per-block record is read on an update, which would be one more
/// cache miss. The exception is a tight block (of exactly its length, from a full build): a
/// bitmap, one bit per item and small enough to stay in cache, marks where those start, and
/// a freed one is cut into power-of-two blocks.
#[derive(Clone, Debug)]
pub(crate) struct Arena<T> {
    pub(crate) items: Vec<T>,
    /// Bit `i` set where a tight block starts at index `i`.
    tight_starts: Vec<u64>,
    free: Vec<Vec<u32>>,
    /// New blocks get exactly the size asked (a full build) rather than a power of two.
    pub(crate) tight: bool,
    /// The class of the smallest block anyone asks for: the pieces of a freed tight block below
    /// it could never be handed out again, so they are not kept on a free list.
    min_class: usize,
    /// Default items kept past the last block ([`Arena::slack`]).
    slack: usize,
    /// What a full arena reports.
    name: &'static str,
}

/// Indices stay below 2^31: Poptrie's direct entries spend the top bit on "leaf".
const LIMIT: u32 = 1 << 31;

/// The class of a block holding `len` (at least 1) items: its room is `1 << class`.
#[inline]
fn class(len: usize) -> usize {
    len.next_power_of_two().trailing_zeros() as usize
}

// ===== impl Arena =====

impl<T: Copy + Default> Arena<T> {
    /// An empty arena; `name` says whose it is when it is full.
    pub(crate) fn new(name: &'static str) -> Self {
        Arena {
            items: Vec::new(),
            tight_starts: Vec::new(),
            free: (0..32).map(|_| Vec::new()).collect(),
            tight: false,
            min_class: 0,
            slack: 0,
            name,
        }
    }

    /// The same arena with `n` default items past its last block, so that a reader may take a
    /// window of `n` items at any block's start without a bounds check of its own (Poptrie's
    /// root blocks). The items already there count as blocks.
    pub(crate) fn slack(mut self, n: usize) -> Self {
        self.items.resize(self.items.len() + n, T::default());
        self.slack = n;
        self
    }

    /// The same arena for an owner that never asks for fewer than `len` items in a block.
    pub(crate) fn smallest(mut self, len: usize) -> Self {
        self.min_class = class(len.max(1));
        self
    }

    /// The start of a block for `len` items: from the free list of its class, else new (of
    /// exactly `len` items if the arena is [`tight`](Arena::tight)).
    pub(crate) fn reserve(&mut self, len: usize) -> Result<u32, Error> {
        if len == 0 {
            return Ok(0);
        }
        let class = class(len);
        if let Some(start) = self.free.get_mut(class).and_then(Vec::pop) {
            return Ok(start);
        }
        let cap = if self.tight { len } else { 1 << class };
        let start = u32::try_from(self.items.len() - self.slack)
            .ok()
            .filter(|s| s.checked_add(cap as u32).is_some_and(|end| end < LIMIT))
            .ok_or(Error::TableFull(self.name))?;
        self.items.resize(self.items.len() + cap, T::default());
        if self.tight && !len.is_power_of_two() {
            let at = start as usize;
            self.tight_starts.resize(self.items.len().div_ceil(64), 0);
            self.tight_starts[at / 64] |= 1 << (at % 64);
        }
        Ok(start)
    }

    /// Reserves a block and copies `data` into it.
    pub(crate) fn place(&mut self, data: &[T]) -> Result<u32, Error> {
        let start = self.reserve(data.len())?;
        let at = start as usize;
        self.items[at..at + data.len()].copy_from_slice(data);
        Ok(start)
    }

    /// Trades which blocks are free (and which are tight) with `other`, keeping the items: for
    /// two copies of the same items, of which only the one being changed needs them.
    pub(crate) fn trade_free(&mut self, other: &mut Self) {
        std::mem::swap(&mut self.free, &mut other.free);
        std::mem::swap(&mut self.tight_starts, &mut other.tight_starts);
    }

    /// Whether the block at `start` is a tight one: clears the mark if `clear`.
    fn is_tight(&mut self, start: u32, clear: bool) -> bool {
        let at = start as usize;
        let Some(word) = self.tight_starts.get_mut(at / 64) else {
            return false;
        };
        let tight = *word >> (at % 64) & 1 != 0;
        if clear {
            *word &= !(1 << (at % 64));
        }
        tight
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
        } else if len.is_power_of_two() || self.is_tight(*start, false) {
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

    /// Removes position `at` of the block at `*start`, which holds `len` items. The block goes
    /// back to its free list when it empties, and moves to one of the class below when that
    /// suffices, so that its length keeps telling its class.
    pub(crate) fn remove(&mut self, start: &mut u32, len: usize, at: usize) {
        let s = *start as usize;
        self.items.copy_within(s + at + 1..s + len, s + at);
        if len == 1 {
            self.release(*start, 1);
            *start = 0;
        } else if (len - 1).is_power_of_two() && !self.is_tight(*start, false) {
            // Only an arena at its size limit has no block to move to; the block then stays,
            // larger than its length says, and its upper half is lost to reuse.
            if let Ok(new) = self.reserve(len - 1) {
                self.items.copy_within(s..s + len - 1, new as usize);
                self.free[class(len)].push(*start);
                *start = new;
            }
        }
    }

    /// Returns the block at `start`, which holds `len` items, to the free lists: to the list of
    /// its class, or cut into power-of-two blocks if it is a tight one.
    pub(crate) fn release(&mut self, start: u32, len: u32) {
        if len == 0 {
            return;
        }
        if !self.is_tight(start, true) {
            self.free[class(len as usize)].push(start);
            return;
        }
        let mut at = start;
        for c in (self.min_class..32).rev().filter(|c| len >> c & 1 != 0) {
            self.free[c].push(at);
            at += 1 << c;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What one owner of a block holds, as the arena's caller knows it.
    #[derive(Clone, Debug, Default)]
    struct Owned {
        start: u32,
        items: Vec<u16>,
        /// The block's room, when it is a tight one (exactly its length at placement).
        tight: Option<usize>,
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(usize, usize, u16),
        Remove(usize, usize),
        Release(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..6usize, any::<usize>(), any::<u16>()).prop_map(|(o, at, v)| Op::Insert(o, at, v)),
            3 => (0..6usize, any::<usize>()).prop_map(|(o, at)| Op::Remove(o, at)),
            1 => (0..6usize).prop_map(Op::Release),
        ]
    }

    proptest! {
        /// Blocks from a tight build, then grown, shrunk and freed at random: every owner
        /// keeps its items, no two blocks' rooms overlap, and the slack stays past them all,
        /// untouched.
        #[test]
        fn blocks_keep_their_items_and_never_overlap(
            built in proptest::collection::vec(proptest::collection::vec(any::<u16>(), 0..20), 6),
            ops in proptest::collection::vec(op(), 0..300),
            slack in 0..40usize,
        ) {
            let mut a = Arena::<u16>::new("test").slack(slack);
            a.tight = true;
            let mut owners: Vec<Owned> = built
                .into_iter()
                .map(|items| Owned {
                    start: a.place(&items).unwrap(),
                    tight: (!items.is_empty()).then_some(items.len()),
                    items,
                })
                .collect();
            a.tight = false;
            for op in ops {
                match op {
                    Op::Insert(o, at, v) => {
                        let w = &mut owners[o];
                        let (len, at) = (w.items.len(), at % (w.items.len() + 1));
                        let start = w.start;
                        a.insert(&mut w.start, len, at, v).unwrap();
                        if w.start != start || len == 0 {
                            w.tight = None;
                        }
                        w.items.insert(at, v);
                    }
                    Op::Remove(o, at) => {
                        let w = &mut owners[o];
                        if w.items.is_empty() {
                            continue;
                        }
                        let (len, at) = (w.items.len(), at % w.items.len());
                        let start = w.start;
                        a.remove(&mut w.start, len, at);
                        if w.start != start || len == 1 {
                            w.tight = None;
                        }
                        w.items.remove(at);
                    }
                    Op::Release(o) => {
                        let w = std::mem::take(&mut owners[o]);
                        a.release(w.start, w.items.len() as u32);
                    }
                }
                let mut rooms = Vec::new();
                for w in owners.iter().filter(|w| !w.items.is_empty()) {
                    let at = w.start as usize;
                    prop_assert_eq!(&a.items[at..at + w.items.len()], &w.items[..]);
                    let room = w.tight.unwrap_or(w.items.len().next_power_of_two());
                    rooms.push((at, at + room));
                }
                rooms.sort();
                for pair in rooms.windows(2) {
                    prop_assert!(pair[0].1 <= pair[1].0, "blocks overlap: {:?}", pair);
                }
                let end = a.items.len() - slack;
                prop_assert!(rooms.last().is_none_or(|r| r.1 <= end), "a block in the slack");
                prop_assert!(a.items[end..].iter().all(|&x| x == 0), "the slack was written");
            }
        }
    }

    /// A freed tight block of 28 items is cut into 16, 8 and 4; for an owner whose blocks hold
    /// at least 10, only the 16 can be handed out again, so only it is kept.
    #[test]
    fn pieces_too_small_to_reuse_are_dropped() {
        let mut a = Arena::<u8>::new("test").smallest(10);
        a.tight = true;
        let start = a.place(&[1; 28]).unwrap();
        a.tight = false;
        a.release(start, 28);
        let lists: Vec<usize> = a.free.iter().take(6).map(Vec::len).collect();
        assert_eq!(lists, [0, 0, 0, 0, 1, 0]);
        assert_eq!(a.reserve(10).unwrap(), start);
    }

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
        assert_eq!(
            [a.free[0].len(), a.free[1].len(), a.free[2].len()],
            [1, 1, 1]
        );
        a.remove(&mut start, 5, 1);
        // Four fit in four: they moved to the free block of four, and the eight is free.
        assert_eq!((start, &a.free[3][..]), (3, &[s as u32][..]));
        assert_eq!(a.items[3..7], [10, 30, 40, 50]);
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

    #[test]
    fn a_freed_tight_block_is_cut_into_power_of_two_blocks() {
        let mut a = Arena::<u16>::new("test");
        a.tight = true;
        let (five, four) = (a.reserve(5).unwrap(), a.reserve(4).unwrap());
        assert_eq!((five, four, a.items.len()), (0, 5, 9));
        a.tight = false;
        a.release(five, 5);
        a.release(four, 4);
        assert_eq!((&a.free[2][..], &a.free[0][..]), (&[0, 5][..], &[4][..]));
        // The pieces serve requests of their class, and the mark of the tight block is gone.
        assert_eq!((a.reserve(3).unwrap(), a.reserve(1).unwrap()), (5, 4));
        assert!(!a.is_tight(0, false));
    }
}
