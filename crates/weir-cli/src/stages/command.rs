//! `type = "command"`: runs a program once per record, never through a
//! shell: the record goes to its stdin (text as is, anything else as JSON,
//! then a newline), its stdout becomes the output. A non-zero exit is an
//! error (retried or dead-lettered, with the end of its stderr). A timeout
//! kills the child (the attempt's future is dropped, `kill_on_drop`).

use std::process::Stdio;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use weir::stage::{Emit, Stage};
use weir::BoxError;

use crate::connector::StageConnector;
use crate::record::{payload, Payload};
use crate::stages::StageOptions;

/// Bytes of a failed command's stderr kept in its error.
const STDERR_TAIL: usize = 300;

/// The `[[stage]]` options of `type = "command"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandStageConfig {
    /// The program and its arguments, e.g. `["jq", "-c", ".user"]`.
    argv: Vec<String>,
    /// How stdout becomes records (default `lines`).
    #[serde(default)]
    output: CommandOutput,
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
        Ok(())
    }

    fn warnings(&self, options: &StageOptions) -> Vec<&'static str> {
        // `concurrency` without a `timeout` is warned about for every stage.
        if options.timeout.is_none() && options.concurrency.is_none() {
            return vec![
                "a command stage without a `timeout`: a program that hangs stalls the pipeline",
            ];
        }
        Vec::new()
    }

    fn build(&self, _name: &str) -> Result<Stage<Payload, Payload>, Self::Error> {
        let argv: Arc<[String]> = self.argv.iter().cloned().collect();
        let output = self.output;
        Ok(Stage::emit_async(move |record: Payload| {
            let argv = argv.clone();
            async move { run(&argv, output, &record).await }
        }))
    }
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
        let stderr = String::from_utf8_lossy(&finished.stderr);
        let start = (stderr.len().saturating_sub(STDERR_TAIL)..stderr.len())
            .find(|&at| stderr.is_char_boundary(at))
            .unwrap_or(stderr.len());
        let tail = stderr[start..].trim();
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
        let (args, record) = (argv(&["sleep", "30"]), json!("x"));
        let attempt = run(&args, CommandOutput::Lines, &record);
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(100), attempt).await;
        assert!(timed_out.is_err());
    }
}
