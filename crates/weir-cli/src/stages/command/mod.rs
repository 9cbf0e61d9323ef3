//! `type = "command"`: a program, never run through a shell, in one of two
//! modes.
//!
//! - `mode = "per_record"` (default): the program runs once per record: the
//!   record goes to its stdin (text as is, anything else as JSON, then a
//!   newline), its stdout becomes the output. A non-zero exit is an error
//!   (retried or dead-lettered, with the end of its stderr). A timeout
//!   kills the child (the attempt's future is dropped, `kill_on_drop`).
//! - `mode = "stream"` ([`stream`]): `concurrency` long-lived children, each
//!   fed one record a line and answering one line a record, in order.
//!
//! The stage takes `concurrency` and `timeout` itself: in stream mode they
//! are the number of children and the silence allowed to one owing an
//! answer (the engine then runs enough workers to keep every pipe full).

mod stream;

use std::num::NonZeroUsize;
use std::process::Stdio;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use serde_spanned::Spanned;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use weir::stage::{Emit, Stage};
use weir::BoxError;

use crate::config::HumanDuration;
use crate::connector::StageConnector;
use crate::record::{payload, Payload};
use crate::stages::StageOptions;
use stream::{StreamOptions, StreamPool};

/// Bytes of a failed command's stderr kept in its error.
const STDERR_TAIL: usize = 300;

/// Records in work at once per child in stream mode: enough to keep a
/// child's pipes full while answers come back.
const IN_FLIGHT_PER_CHILD: usize = 256;

/// The `[[stage]]` options of `type = "command"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandStageConfig {
    /// The program and its arguments, e.g. `["jq", "-c", ".user"]`.
    argv: Vec<String>,
    /// How stdout becomes records (default `lines`).
    #[serde(default)]
    output: CommandOutput,
    /// One process per record (default), or long-lived ones.
    #[serde(default)]
    mode: CommandMode,
    /// Records in work at once (per-record mode), or children (stream
    /// mode); default 1.
    concurrency: Option<Spanned<NonZeroUsize>>,
    /// Per-record mode: kill a run after this long. Stream mode: kill and
    /// restart a child that owes an answer and is silent this long.
    timeout: Option<HumanDuration>,
}

/// `mode`: how the program is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CommandMode {
    /// Once per record.
    #[default]
    PerRecord,
    /// Long-lived children, one line in and one line out per record.
    Stream,
}

/// `output`: how a command's stdout becomes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CommandOutput {
    /// One text record per non-empty line (no output: the record is
    /// filtered).
    #[default]
    Lines,
    /// One JSON record per non-empty line.
    JsonLines,
    /// The whole of stdout as one text record.
    Whole,
}

impl StageConnector for CommandStageConfig {
    const TYPE: &'static str = "command";
    type Error = std::convert::Infallible;

    fn check(&self, _options: &StageOptions) -> Result<(), String> {
        if self.argv.is_empty() {
            return Err("`argv` needs at least the program to run".to_owned());
        }
        if self.mode == CommandMode::Stream && self.output == CommandOutput::Whole {
            return Err(
                "`output = \"whole\"` needs `mode = \"per_record\"`: a stream answers a line a record"
                    .to_owned(),
            );
        }
        Ok(())
    }

    fn warnings(&self, _options: &StageOptions) -> Vec<&'static str> {
        if self.timeout.is_none() {
            return vec![
                "a command stage without a `timeout`: a program that hangs stalls the pipeline",
            ];
        }
        Vec::new()
    }

    fn build(&self, _name: &str) -> Result<Stage<Payload, Payload>, Self::Error> {
        let argv: Arc<[String]> = self.argv.iter().cloned().collect();
        let output = self.output;
        let concurrency = self.concurrency.as_ref().map_or(1, |n| n.get_ref().get());
        let timeout = self.timeout.map(|timeout| timeout.0);
        Ok(match self.mode {
            CommandMode::PerRecord => {
                let stage = Stage::emit_async(move |record: Payload| {
                    let argv = argv.clone();
                    async move { run(&argv, output, &record).await }
                })
                .concurrency(concurrency);
                match timeout {
                    Some(timeout) => stage.timeout(timeout),
                    None => stage,
                }
            }
            CommandMode::Stream => {
                let pool = Arc::new(StreamPool::new(StreamOptions {
                    argv,
                    output,
                    children: concurrency,
                    timeout,
                }));
                Stage::emit_async(move |record: Payload| {
                    let pool = pool.clone();
                    async move { pool.call(&record).await }
                })
                .concurrency(concurrency * IN_FLIGHT_PER_CHILD)
            }
        })
    }
}

/// The last [`STDERR_TAIL`] bytes of `stderr`, trimmed, as text.
fn stderr_tail(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let start = (stderr.len().saturating_sub(STDERR_TAIL)..stderr.len())
        .find(|&at| stderr.is_char_boundary(at))
        .unwrap_or(stderr.len());
    stderr[start..].trim().to_owned()
}

async fn run(
    argv: &[String],
    output: CommandOutput,
    record: &Value,
) -> Result<Emit<Payload>, BoxError> {
    let mut input = match record {
        Value::String(text) => text.clone().into_bytes(),
        other => serde_json::to_vec(other)?,
    };
    input.push(b'\n');
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("cannot run {:?}: {error}", argv[0]))?;
    let mut stdin = child.stdin.take();
    let feed = async move {
        if let Some(stdin) = &mut stdin {
            // A program that does not read its input is not an error.
            let _ = stdin.write_all(&input).await;
        }
    };
    let ((), finished) = tokio::join!(feed, child.wait_with_output());
    let finished = finished?;
    if !finished.status.success() {
        let tail = stderr_tail(&finished.stderr);
        return Err(format!("{:?} exited with {}: {tail}", argv[0], finished.status).into());
    }
    let stdout = String::from_utf8(finished.stdout)
        .map_err(|error| format!("output is not UTF-8: {error}"))?;
    records(output, &stdout).map(Emit::Many)
}

fn records(output: CommandOutput, stdout: &str) -> Result<Vec<Payload>, BoxError> {
    let lines = stdout.lines().filter(|line| !line.trim().is_empty());
    Ok(match output {
        CommandOutput::Whole => vec![payload(Value::String(stdout.to_owned()))],
        CommandOutput::Lines => lines
            .map(|line| payload(Value::String(line.to_owned())))
            .collect(),
        CommandOutput::JsonLines => lines
            .map(|line| serde_json::from_str(line).map(payload))
            .collect::<Result<_, _>>()
            .map_err(|error| format!("output is not JSON lines: {error}"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[tokio::test]
    async fn pipes_the_record_through_the_program() {
        let out = run(
            &argv(&["tr", "a-z", "A-Z"]),
            CommandOutput::Lines,
            &json!("abc"),
        )
        .await;
        assert_eq!(out.unwrap(), Emit::Many(vec![payload(json!("ABC"))]));
        let out = run(&argv(&["cat"]), CommandOutput::JsonLines, &json!({"a": 1})).await;
        assert_eq!(out.unwrap(), Emit::Many(vec![payload(json!({"a": 1}))]));
    }

    #[tokio::test]
    async fn a_failing_program_is_an_error_with_its_stderr() {
        let args = argv(&["sh", "-c", "echo broken >&2; exit 3"]);
        let error = run(&args, CommandOutput::Lines, &json!("x"))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("broken"), "{error}");
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error() {
        let error = run(
            &argv(&["/no/such/program"]),
            CommandOutput::Lines,
            &json!("x"),
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("cannot run"));
    }

    #[tokio::test]
    async fn dropping_the_attempt_kills_the_child() {
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
        let (args, record) = (argv(&["sh", "-c", &script]), json!("x"));
        let mut attempt = Box::pin(run(&args, CommandOutput::Lines, &record));
        // Run the attempt until the child has written its pid.
        let deadline = Instant::now() + Duration::from_secs(20);
        let pid: u32 = loop {
            let tick = tokio::time::sleep(Duration::from_millis(10));
            tokio::select! {
                ended = &mut attempt => panic!("sleep 30 ended early: {ended:?}"),
                () = tick => {}
            }
            let written = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if let Ok(pid) = written.trim().parse() {
                break pid;
            }
            assert!(Instant::now() < deadline, "the child never wrote its pid");
        };
        assert!(alive(pid));
        drop(attempt);
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(
                Instant::now() < deadline,
                "the child {pid} outlived its attempt"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether process `pid` runs (a zombie, killed but not yet reaped,
    /// does not).
    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
    }
}
