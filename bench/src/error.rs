//! The bench crate's error type.

use std::fmt;

/// What can go wrong while setting up or running a benchmark.
#[derive(Debug)]
pub enum Error {
    /// From the io layer (ports, pools, namespaces).
    Io(brick_io::Error),
    /// A profile that cannot be used.
    Profile {
        /// The file.
        file: String,
        /// 1-based line, 0 when the problem is the file as a whole.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// From the routing layer (tables, route files).
    Routing(brick_routing::Error),
    /// Arguments that do not fit together.
    Usage(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Routing(e) => write!(f, "{e}"),
            Error::Profile { file, line, reason } => write!(f, "{file}:{line}: {reason}"),
            Error::Usage(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Routing(e) => Some(e),
            _ => None,
        }
    }
}

impl From<brick_io::Error> for Error {
    fn from(e: brick_io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<brick_routing::Error> for Error {
    fn from(e: brick_routing::Error) -> Self {
        Error::Routing(e)
    }
}
