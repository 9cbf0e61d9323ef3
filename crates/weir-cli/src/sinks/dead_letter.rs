//! Where dead letters go: appended to a file as JSON lines
//! (`{"record", "stage", "reason", "attempts", "time"}`) if a path is given;
//! else the first few are shown on stderr (the end-of-run line counts all).
//! The file is opened as the file sink opens its own ([`open_append`]): a
//! letter torn by a crash is left alone and the next run starts a new line.
//! A letter whose payload is neither a [`Payload`] nor a source's raw input
//! is an error ([`UnrenderablePayload`]): the write fails, the run fails,
//! and its records are not acknowledged as dead-lettered.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufWriter};
use weir::io::{DeadLetter, DeadLetterSink, DeadPayload};
use weir::BoxError;

use super::file::{open_append, AppendFile};
use crate::record::Payload;

/// Dead letters shown on stderr when there is no file.
const SHOWN_ON_STDERR: u64 = 10;

/// The dead-letter file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open {}: {source}", path.display())]
pub struct OpenError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The dead-letter output of a run.
#[derive(Debug)]
pub struct DeadLetterOutput {
    file: Option<BufWriter<AppendFile>>,
    show_on_stderr: bool,
    seen: u64,
}

impl DeadLetterOutput {
    /// To the file at `path` (created if missing, appended to), or, with no
    /// path, to stderr unless `quiet`.
    pub async fn open(path: Option<&Path>, quiet: bool) -> Result<Self, OpenError> {
        let file = match path {
            None => None,
            Some(path) => Some(BufWriter::new(open_append(path).await.map_err(
                |source| OpenError {
                    path: path.to_owned(),
                    source,
                },
            )?)),
        };
        Ok(DeadLetterOutput {
            show_on_stderr: file.is_none() && !quiet,
            file,
            seen: 0,
        })
    }
}

/// A dead letter whose payload the writer cannot render: not a record of
/// the `weir` command (a [`Payload`]), nor a source's raw input. Writing it
/// fails, so its records are not acknowledged as dead-lettered.
#[derive(Debug, thiserror::Error)]
#[error("dead letter of record {record_id} at {stage}: its payload is not a weir record and cannot be written")]
pub struct UnrenderablePayload {
    /// The letter's record id.
    pub record_id: u64,
    /// Where it failed.
    pub stage: String,
}

/// The failed record: the payload, or raw input (bytes from a source that
/// could not make a record of them) as a lossy UTF-8 string.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum FailedRecord<'a> {
    Payload(&'a serde_json::Value),
    Raw(String),
}

impl<'a> FailedRecord<'a> {
    fn of(letter: &'a DeadLetter) -> Result<Self, UnrenderablePayload> {
        match &letter.payload {
            DeadPayload::Raw(raw) => {
                Ok(FailedRecord::Raw(String::from_utf8_lossy(raw).into_owned()))
            }
            DeadPayload::Record(_) => letter
                .payload_as::<Payload>()
                .map(|record| FailedRecord::Payload(record))
                .ok_or_else(|| UnrenderablePayload {
                    record_id: letter.record_id,
                    stage: letter.stage.to_string(),
                }),
        }
    }
}

/// A dead letter as one JSON object, or an error if its payload cannot be
/// rendered.
pub fn to_json(letter: &DeadLetter) -> Result<Value, UnrenderablePayload> {
    Ok(json!({
        "record": FailedRecord::of(letter)?,
        "stage": &*letter.stage,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "time": humantime::format_rfc3339_millis(letter.at).to_string(),
    }))
}

impl DeadLetterSink for DeadLetterOutput {
    async fn write(&mut self, letter: &DeadLetter) -> Result<(), BoxError> {
        // Rendered even when not written to a file, so that a letter the
        // writer cannot render fails the same way with or without one.
        let json = to_json(letter)?;
        self.seen += 1;
        if let Some(file) = &mut self.file {
            let mut line = serde_json::to_vec(&json)?;
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
    use bytes::Bytes;
    use std::time::SystemTime;
    use weir::io::{iter_source, sink_fn};
    use weir::{Pipeline, PipelineError};

    fn letter(payload: DeadPayload) -> DeadLetter {
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
        let record = to_json(&letter(DeadPayload::Record(Box::new(payload(
            json!({"a": 1}),
        )))))
        .unwrap();
        assert_eq!(record["record"], json!({"a": 1}));
        assert_eq!(record["stage"], "parse");
        assert_eq!(record["attempts"], 2);
        assert_eq!(record["time"], "1970-01-01T00:00:00.000Z");
        let raw = to_json(&letter(DeadPayload::Raw(Bytes::from_static(b"ab\xffc")))).unwrap();
        assert_eq!(raw["record"], "ab\u{fffd}c");
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_opened_keeps_its_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("dead.jsonl");
        let error = DeadLetterOutput::open(Some(&path), true).await.unwrap_err();
        assert_eq!(error.path, path);
        assert_eq!(error.source.kind(), std::io::ErrorKind::NotFound);
        let source = std::error::Error::source(&error).expect("the io::Error is kept");
        assert!(source.is::<std::io::Error>());
        assert!(error.to_string().starts_with("cannot open "), "{error}");
    }

    #[tokio::test]
    async fn a_letter_torn_by_a_crash_is_left_alone_and_the_next_run_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.jsonl");
        std::fs::write(&path, "{\"record\":1}\n{\"rec").unwrap();
        let mut output = DeadLetterOutput::open(Some(&path), true).await.unwrap();
        let record = Box::new(payload(json!({"a": 1})));
        output
            .write(&letter(DeadPayload::Record(record)))
            .await
            .unwrap();
        output.flush().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..2], ["{\"record\":1}", "{\"rec"], "{text}");
        assert_eq!(lines.len(), 3, "{text}");
        let letter: Value = serde_json::from_str(lines[2]).expect("the new letter is whole");
        assert_eq!(letter["record"], json!({"a": 1}));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn a_payload_of_another_type_is_an_error_not_null() {
        let error = to_json(&letter(DeadPayload::Record(Box::new(42u32)))).unwrap_err();
        assert_eq!(error.record_id, 7);
        assert_eq!(error.stage, "parse");
    }

    #[tokio::test]
    async fn an_unrenderable_letter_fails_the_write_and_its_record_is_not_dead_lettered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.jsonl");
        for path in [Some(path.as_path()), None] {
            let output = DeadLetterOutput::open(path, true).await.unwrap();
            let report = Pipeline::builder()
                .source("numbers", iter_source([1u32, 2, 3]))
                .map(
                    "fail-on-2",
                    |n| if n == 2 { Err("two".into()) } else { Ok(n) },
                )
                .sink("out", sink_fn(|_: &u32| Ok(())))
                .dead_letters(output)
                .run()
                .await;
            assert!(
                matches!(report.error, Some(PipelineError::DeadLetterFailed(ref why)) if why.contains("not a weir record")),
                "{:?}",
                report.error
            );
            assert_eq!(report.accounting.dead_lettered, 0);
            assert!(report.accounting.nacked >= 1, "{}", report.accounting);
            assert!(report.accounting.balances(), "{}", report.accounting);
        }
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, "", "nothing, not a null record, was written");
    }
}
