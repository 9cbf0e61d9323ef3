//! The data directory: where a run keeps its state (the file source's
//! checkpoints, the spill links' segments), locked while a run uses it.
//!
//! Chosen by `--data-dir DIR`, else `data_dir = "..."` at the top of the
//! pipeline file, else `.weir/<pipeline file stem>/` in the working
//! directory. [`DataDir::open`] creates it and takes an advisory `flock` on
//! `DIR/lock`: a second run on the same directory is refused with
//! [`DataDirError::Locked`], and because the kernel releases the lock when
//! the process dies, a `kill -9` never leaves a lock to clean by hand.
//!
//! Every state file is written with [`write_atomically`]: a temporary file,
//! fsync, rename over the old one, fsync of the directory. A crash leaves
//! either the old file or the new one, never a torn one.
//!
//! ```
//! use weir_cli::data_dir::{DataDir, DataDirError};
//! let root = tempfile::tempdir().unwrap();
//! let first = DataDir::open(root.path().join("state")).unwrap();
//! let second = DataDir::open(first.path());
//! assert!(matches!(second, Err(DataDirError::Locked { .. })));
//! drop(first);
//! assert!(DataDir::open(root.path().join("state")).is_ok());
//! ```

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A data directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Holds the `flock`; closing it (or dying) releases the lock.
    _lock: File,
}

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process holds the lock.
    #[error("data directory {} is in use by another weir run{} (each run needs its own --data-dir)", .path.display(), holder(.pid))]
    Locked {
        /// The directory.
        path: PathBuf,
        /// The pid the holder wrote into the lock file, if it could be read.
        pid: Option<u32>,
    },
    /// The directory or its lock file cannot be created or locked.
    #[error("cannot use data directory {}: {source}", .path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn holder(pid: &Option<u32>) -> String {
    pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
}

impl DataDir {
    /// Creates the directory if needed and locks it.
    pub fn open(path: impl Into<PathBuf>) -> Result<DataDir, DataDirError> {
        let path = path.into();
        let io_error = |source| DataDirError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&path).map_err(io_error)?;
        let lock_path = path.join("lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let pid = fs::read_to_string(&lock_path)
                    .ok()
                    .and_then(|text| text.trim().parse().ok());
                return Err(DataDirError::Locked { path, pid });
            }
            Err(TryLockError::Error(source)) => return Err(io_error(source)),
        }
        // Informational only: the lock is the flock, not this content.
        lock.set_len(0).map_err(io_error)?;
        writeln!(lock, "{}", std::process::id()).map_err(io_error)?;
        Ok(DataDir { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory for one kind of state (`checkpoints`, `spill`),
    /// created if needed.
    pub fn subdir(&self, name: &str) -> io::Result<PathBuf> {
        let dir = self.path.join(name);
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old content or
/// the new, never a mix: write a temporary file beside it, fsync it, rename
/// it over `path`, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a state file needs a name"))?;
    let mut temp_name = name.to_os_string();
    temp_name.push(".tmp");
    let temp = dir.join(temp_name);
    {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temp, path)?;
    sync_dir(dir)
}

/// Fsyncs a directory, so that a rename or a new file in it survives a
/// crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_directory_names_the_holder() {
        let root = tempfile::tempdir().unwrap();
        let _first = DataDir::open(root.path()).unwrap();
        let error = DataDir::open(root.path()).unwrap_err().to_string();
        assert!(error.contains("in use by another weir run"), "{error}");
        assert!(
            error.contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
    }

    #[test]
    fn an_atomic_write_replaces_the_whole_file() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("state.json");
        write_atomically(&path, b"a long first version").unwrap();
        write_atomically(&path, b"short").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"short");
        let names: Vec<_> = fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn subdirectories_are_created() {
        let root = tempfile::tempdir().unwrap();
        let dir = DataDir::open(root.path().join("d")).unwrap();
        let spill = dir.subdir("spill").unwrap();
        assert!(spill.is_dir());
        assert_eq!(spill, root.path().join("d").join("spill"));
    }
}
