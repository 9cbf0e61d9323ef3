//! The file source's checkpoint file in the data directory:
//! `checkpoints/file.json`, one entry per file (its identity, the offset
//! after its longest finished prefix, the line number there), with a CRC32
//! of the entries. It is replaced atomically (see
//! [`write_atomically`](crate::data_dir::write_atomically)); a file that
//! does not parse or whose checksum does not match is reported with its
//! path, and the run refuses to guess where to resume.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::{Fingerprint, Inode};
use crate::data_dir::write_atomically;

/// Where one file was, when the checkpoint was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileCheckpoint {
    /// The path it was read under.
    pub(super) path: PathBuf,
    /// Its device and inode.
    pub(super) inode: Inode,
    /// Its first bytes.
    pub(super) fingerprint: Fingerprint,
    /// The byte offset after its longest run of finished records.
    pub(super) offset: u64,
    /// The number of lines before `offset`.
    pub(super) line: u64,
}

/// The file as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    version: u32,
    crc32: u32,
    files: Vec<FileCheckpoint>,
}

const VERSION: u32 = 1;

/// Why the checkpoints cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointError {
    /// The file exists but cannot be read.
    #[error("cannot read the checkpoint file {}: {source}", .path.display())]
    Unreadable {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not a checkpoint file weir wrote, or was damaged.
    #[error(
        "the checkpoint file {} is corrupt ({reason}): refusing to guess where to resume; \
         run with --from-start to read every file from its start",
        .path.display()
    )]
    Corrupt {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The checkpoint file of a file source.
#[derive(Debug, Clone)]
pub(super) struct Checkpoints {
    path: PathBuf,
}

fn checksum(files: &[FileCheckpoint]) -> u32 {
    // Serializing the same entries gives the same bytes, so the checksum
    // can be recomputed from what was parsed.
    crc32fast::hash(&serde_json::to_vec(files).unwrap_or_default())
}

impl Checkpoints {
    /// The checkpoint file in `dir`.
    pub(super) fn in_dir(dir: &Path) -> Checkpoints {
        Checkpoints {
            path: dir.join("file.json"),
        }
    }

    /// Its path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The entries; none if there is no checkpoint file.
    pub(super) fn load(&self) -> Result<Vec<FileCheckpoint>, CheckpointError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CheckpointError::Unreadable {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let corrupt = |reason: String| CheckpointError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if stored.version != VERSION {
            return Err(corrupt(format!(
                "version {} where {VERSION} was expected",
                stored.version
            )));
        }
        if checksum(&stored.files) != stored.crc32 {
            return Err(corrupt("its checksum does not match its content".into()));
        }
        Ok(stored.files)
    }

    /// Replaces the checkpoint file with `files`, atomically.
    pub(super) fn save(&self, files: Vec<FileCheckpoint>) -> io::Result<()> {
        let stored = Stored {
            version: VERSION,
            crc32: checksum(&files),
            files,
        };
        let mut bytes = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
        bytes.push(b'\n');
        write_atomically(&self.path, &bytes)
    }

    /// Removes the checkpoint file: the input was read to its end and every
    /// record finished, so a new run starts over.
    pub(super) fn forget(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: u64) -> FileCheckpoint {
        FileCheckpoint {
            path: "in.jsonl".into(),
            inode: Inode { dev: 1, ino: 2 },
            fingerprint: Fingerprint { len: 3, crc32: 4 },
            offset,
            line: offset / 10,
        }
    }

    #[test]
    fn saved_checkpoints_load_back_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::in_dir(dir.path());
        assert_eq!(checkpoints.load().unwrap(), []);
        checkpoints.save(vec![entry(100), entry(250)]).unwrap();
        assert_eq!(checkpoints.load().unwrap(), [entry(100), entry(250)]);
        checkpoints.forget().unwrap();
        assert_eq!(checkpoints.load().unwrap(), []);
        checkpoints.forget().unwrap();
    }

    #[test]
    fn a_damaged_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::in_dir(dir.path());
        checkpoints.save(vec![entry(100)]).unwrap();
        let text = std::fs::read_to_string(checkpoints.path()).unwrap();
        std::fs::write(checkpoints.path(), text.replace("100", "900")).unwrap();
        let error = checkpoints.load().unwrap_err().to_string();
        assert!(error.contains("checksum does not match"), "{error}");
        assert!(error.contains("file.json"), "{error}");
        std::fs::write(checkpoints.path(), &text[..text.len() / 2]).unwrap();
        let error = checkpoints.load().unwrap_err().to_string();
        assert!(error.contains("is corrupt"), "{error}");
        assert!(error.contains("--from-start"), "{error}");
    }
}
