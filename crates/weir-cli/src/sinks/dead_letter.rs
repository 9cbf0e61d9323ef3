//! Where dead letters go: appended to a file as JSON lines
//! (`{"record", "stage", "reason", "attempts", "time"}`) if a path is given;
//! else the first few are shown on stderr (the end-of-run line counts all).

use std::path::Path;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufWriter};
use weir::io::{DeadLetter, DeadLetterSink};
use weir::BoxError;

use crate::record::Payload;

/// Dead letters shown on stderr when there is no file.
const SHOWN_ON_STDERR: u64 = 10;

/// The dead-letter output of a run.
#[derive(Debug)]
pub struct DeadLetterOutput {
    file: Option<BufWriter<tokio::fs::File>>,
    show_on_stderr: bool,
    seen: u64,
}

impl DeadLetterOutput {
    /// To the file at `path` (created if missing, appended to), or, with no
    /// path, to stderr unless `quiet`.
    pub async fn open(path: Option<&Path>, quiet: bool) -> Result<Self, String> {
        let file = match path {
            None => None,
            Some(path) => Some(BufWriter::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|error| format!("cannot open {}: {error}", path.display()))?,
            )),
        };
        Ok(DeadLetterOutput {
            show_on_stderr: file.is_none() && !quiet,
            file,
            seen: 0,
        })
    }
}

/// A dead letter as one JSON object.
pub fn to_json(letter: &DeadLetter) -> Value {
    json!({
        "record": record_json(letter),
        "stage": &*letter.stage,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "time": humantime::format_rfc3339_millis(letter.at).to_string(),
    })
}

/// The failed record: the payload, or raw input (bytes from a source that
/// could not make a record of them) as a lossy UTF-8 string.
fn record_json(letter: &DeadLetter) -> Value {
    if let Some(record) = letter.payload_as::<Payload>() {
        (**record).clone()
    } else if let Some(raw) = letter.payload_as::<Bytes>() {
        Value::String(String::from_utf8_lossy(raw).into_owned())
    } else {
        Value::Null
    }
}

impl DeadLetterSink for DeadLetterOutput {
    async fn write(&mut self, letter: &DeadLetter) -> Result<(), BoxError> {
        self.seen += 1;
        if let Some(file) = &mut self.file {
            let mut line = serde_json::to_vec(&to_json(letter))?;
            line.push(b'\n');
            file.write_all(&line).await?;
        } else if self.show_on_stderr && self.seen <= SHOWN_ON_STDERR {
            eprintln!(
                "dead letter at {}: {} (record {})",
                letter.stage, letter.reason, letter.record_id
            );
            if self.seen == SHOWN_ON_STDERR {
                eprintln!("(further dead letters are counted, not shown; use --dead-letter PATH to keep them)");
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BoxError> {
        if let Some(file) = &mut self.file {
            file.flush().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::payload;
    use std::time::SystemTime;

    fn letter(payload: Box<dyn std::any::Any + Send + Sync>) -> DeadLetter {
        DeadLetter {
            record_id: 7,
            stage: "parse".into(),
            reason: "malformed JSON".into(),
            attempts: 2,
            at: SystemTime::UNIX_EPOCH,
            payload,
        }
    }

    #[test]
    fn renders_payloads_and_raw_input() {
        let record = to_json(&letter(Box::new(payload(json!({"a": 1})))));
        assert_eq!(record["record"], json!({"a": 1}));
        assert_eq!(record["stage"], "parse");
        assert_eq!(record["attempts"], 2);
        assert_eq!(record["time"], "1970-01-01T00:00:00.000Z");
        let raw = to_json(&letter(Box::new(Bytes::from_static(b"ab\xffc"))));
        assert_eq!(raw["record"], "ab\u{fffd}c");
    }
}
