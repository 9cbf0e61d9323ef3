//! What makes a file the same file across a rename and a restart: its
//! device and inode, and a fingerprint of its first bytes (so an inode the
//! filesystem reused for a new file is not mistaken for the old one).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use serde::{Deserialize, Serialize};

/// How many leading bytes the fingerprint covers, at most.
pub(super) const FINGERPRINT_BYTES: u64 = 1024;

/// A file's device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Inode {
    /// The device.
    pub(super) dev: u64,
    /// The inode on it.
    pub(super) ino: u64,
}

impl Inode {
    /// The inode of an open file.
    pub(super) fn of(file: &File) -> io::Result<Inode> {
        let metadata = file.metadata()?;
        Ok(Inode {
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }

    /// The inode at a path, if something is there.
    pub(super) fn at(path: &std::path::Path) -> Option<Inode> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Inode {
            dev: metadata.dev(),
            ino: metadata.ino(),
        })
    }
}

/// A CRC32 of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Fingerprint {
    /// How many bytes it covers.
    pub(super) len: u64,
    /// Their CRC32.
    pub(super) crc32: u32,
}

impl Fingerprint {
    /// The fingerprint of the first `min(upto, FINGERPRINT_BYTES)` bytes of
    /// `file` (fewer if the file is shorter).
    pub(super) fn of(file: &File, upto: u64) -> io::Result<Fingerprint> {
        let want = upto.min(FINGERPRINT_BYTES) as usize;
        let mut bytes = vec![0; want];
        let mut len = 0;
        while len < want {
            match file.read_at(&mut bytes[len..], len as u64)? {
                0 => break,
                n => len += n,
            }
        }
        Ok(Fingerprint {
            len: len as u64,
            crc32: crc32fast::hash(&bytes[..len]),
        })
    }

    /// Whether `file` still starts with the bytes this fingerprint covers.
    pub(super) fn matches(&self, file: &File) -> io::Result<bool> {
        Ok(Fingerprint::of(file, self.len)? == *self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_tells_files_with_other_first_bytes_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"first line\nsecond line\n").unwrap();
        let file = File::open(&path).unwrap();
        let print = Fingerprint::of(&file, 11).unwrap();
        assert_eq!(print.len, 11);
        assert!(print.matches(&file).unwrap());
        // Appending does not change the first bytes.
        std::fs::write(&path, b"first line\nsecond line\nthird\n").unwrap();
        assert!(print.matches(&File::open(&path).unwrap()).unwrap());
        std::fs::write(&path, b"other line\n").unwrap();
        assert!(!print.matches(&File::open(&path).unwrap()).unwrap());
        // A file shorter than the fingerprint does not match either.
        std::fs::write(&path, b"first").unwrap();
        assert!(!print.matches(&File::open(&path).unwrap()).unwrap());
    }
}
