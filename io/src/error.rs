//! The io crate's error type.

use std::fmt;
use std::io;

/// Everything that can go wrong while setting up ports, pools and workers. The data path itself
/// never returns errors: it counts drops (see [`crate::DropReason`]).
#[derive(Debug)]
pub enum Error {
    /// A configuration value is out of range.
    Config(String),
    /// No network interface of that name in this network namespace.
    NoSuchInterface(String),
    /// The operation needs a capability the process does not have.
    Permission {
        /// What was being done.
        what: String,
        /// How to get the capability.
        hint: &'static str,
    },
    /// A system call failed.
    Os {
        /// What was being done, naming the object (interface, file).
        what: String,
        /// The kernel's answer.
        source: io::Error,
    },
    /// A core that this machine does not have.
    NoSuchCore {
        /// The core asked for.
        core: usize,
        /// The cores that exist.
        available: Vec<usize>,
    },
    /// A pcap file that cannot be read.
    Pcap {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// Wraps an OS error, turning EPERM/EACCES into [`Error::Permission`].
    #[cold]
    pub(crate) fn os(what: impl Into<String>, source: io::Error) -> Self {
        let what = what.into();
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::Permission {
                what,
                hint: "run as root or grant CAP_NET_RAW and CAP_NET_ADMIN (setcap cap_net_raw,cap_net_admin+ep)",
            },
            _ => Error::Os { what, source },
        }
    }

    /// The last OS error, wrapped as by [`Error::os`].
    #[cold]
    pub(crate) fn last_os(what: impl Into<String>) -> Self {
        Self::os(what, io::Error::last_os_error())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "config: {m}"),
            Error::NoSuchInterface(name) => write!(
                f,
                "no network interface named {name:?} in this network namespace (see `ip link`)"
            ),
            Error::Permission { what, hint } => write!(f, "{what}: permission denied: {hint}"),
            Error::Os { what, source } => write!(f, "{what}: {source}"),
            Error::NoSuchCore { core, available } => {
                write!(
                    f,
                    "core {core} does not exist; this machine has cores {available:?}"
                )
            }
            Error::Pcap { path, reason } => write!(f, "pcap {path}: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}
