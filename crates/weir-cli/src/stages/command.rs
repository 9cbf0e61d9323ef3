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

use crate::config::Text;
use crate::record::{payload, Payload};

/// Bytes of a failed command's stderr kept in its error.
const STDERR_TAIL: usize = 300;

/// The `[[stage]]` options of `type = "command"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandStageConfig {
    /// The program and its arguments, e.g. `["jq", "-c", ".user"]`.
    pub argv: Vec<Text>,
    /// How stdout becomes records (default `lines`).
    #[serde(default)]
    pub output: CommandOutput,
}

/// `output`: how a command's stdout becomes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandOutput {
    /// One text record per non-empty line (no output: the record is
    /// filtered).
    #[default]
    Lines,
    /// One JSON record per non-empty line.
    JsonLines,
    /// The whole of stdout as one text record.
    Whole,
}

/// The stage; an error if `argv` is empty.
pub fn build(config: &CommandStageConfig) -> Result<Stage<Payload, Payload>, String> {
    if config.argv.is_empty() {
        return Err("`argv` needs at least the program to run".to_owned());
    }
    let argv: Arc<[String]> = config.argv.iter().map(|arg| arg.0.clone()).collect();
    let output = config.output;
    Ok(Stage::emit_async(move |record: Payload| {
        let argv = argv.clone();
        async move { run(&argv, output, &record).await }
    }))
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

    /// Whether process `pid` runs (a zombie, killed but not yet reaped,
    /// does not).
    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
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
}
