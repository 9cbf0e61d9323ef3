//! `[dead_letter]`: where records that failed go.

use serde::Deserialize;

/// The `[dead_letter]` table. Without it (and without `--dead-letter`),
/// dead letters are summarized on stderr only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadLetterConfig {
    /// A file the dead letters are appended to, one JSON object a line.
    pub(crate) path: String,
}
