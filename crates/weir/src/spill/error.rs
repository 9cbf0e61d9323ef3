//! What can go wrong opening or writing a spill.

use std::io;
use std::path::PathBuf;

/// A spill directory that could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// A file operation failed.
    #[error("spill {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Another run (or another link of this run) holds the directory.
    #[error("spill directory {path} is in use by another run (its lock file is held)")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
}

/// Wraps an `io::Error` with the path it concerns.
pub(crate) fn at(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> SpillError {
    let path = path.into();
    move |source| SpillError::Io { path, source }
}
