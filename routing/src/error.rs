//! The routing crate's error type.

use std::fmt;
use std::io;

/// Everything that can go wrong while building tables or reading route files. Lookups never fail:
/// a miss is [`crate::NO_ROUTE`].
#[derive(Debug)]
pub enum Error {
    /// A prefix that cannot be parsed or has host bits set.
    BadPrefix {
        /// The text or value that was given.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Next-hop index 0 means "no route" and cannot be installed.
    ReservedNextHop,
    /// A table ran out of index space (DIR-24-8 groups, trie nodes, next-hop groups).
    TableFull(&'static str),
    /// A FIB writer that an earlier batch left unable to go on (see
    /// [`crate::FibWriter::apply`]); it says why.
    FibStopped(String),
    /// An ECMP group with no path or more than [`crate::rib::MAX_PATHS`] paths.
    BadGroup(usize),
    /// A route file line that cannot be used.
    Parse {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A route file that cannot be read.
    Io {
        /// The file.
        file: String,
        /// The system's answer.
        source: io::Error,
    },
}

// ===== impl Error =====

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadPrefix { prefix, reason } => write!(f, "bad prefix {prefix:?}: {reason}"),
            Error::ReservedNextHop => write!(f, "next hop 0 is reserved for \"no route\""),
            Error::TableFull(what) => write!(f, "table full: {what}"),
            Error::FibStopped(why) => write!(
                f,
                "the FIB takes no more updates after an earlier batch failed part-way ({why}); \
                 forwarding goes on with the last version"
            ),
            Error::BadGroup(n) => write!(f, "an ECMP group needs 1..=64 paths, not {n}"),
            Error::Parse { file, line, reason } => write!(f, "{file}:{line}: {reason}"),
            Error::Io { file, source } => write!(f, "{file}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
