//! `mode = "stream"`: long-lived children, each fed one record a line on
//! stdin and answering one line a record on stdout, in order.
//!
//! Each child has a supervisor task: a writer that takes requests from the
//! child's bounded channel and writes them to its stdin (so a slow child
//! stops being fed once its pipe and channel are full: backpressure), and a
//! reader that hands each line of stdout to the oldest request still owed
//! an answer. Stderr is drained all the time (its end kept for errors), so
//! a chatty child cannot block.
//!
//! A child that exits, closes its stdout, or owes an answer and stays
//! silent for `timeout` is killed and restarted with backoff; every record
//! it owed an answer fails with its exit status and the end of its stderr,
//! and the engine retries it per the stage's `retries` (on the next child
//! to take it), then dead-letters it. Dropping the pool (the pipeline
//! ends or stops) kills the children.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weir::stage::Emit;
use weir::BoxError;

use super::{stderr_tail, CommandOutput};
use crate::record::{payload, Payload};

/// Requests waiting in a child's channel before callers wait to send.
const CHANNEL: usize = 256;
/// The first wait before restarting a child; doubled at each failure in a
/// row, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Bytes of stderr kept per child.
const STDERR_KEPT: usize = 4096;
/// How long a dead child's stderr is still read for its last words.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// How the children are run.
#[derive(Debug, Clone)]
pub(crate) struct StreamOptions {
    pub(crate) argv: Arc<[String]>,
    pub(crate) output: CommandOutput,
    pub(crate) children: usize,
    /// Silence allowed while an answer is owed.
    pub(crate) timeout: Option<Duration>,
}

/// The children of one stage, started on the first record.
pub(crate) struct StreamPool {
    options: StreamOptions,
    children: std::sync::OnceLock<Vec<ChildHandle>>,
    next: AtomicUsize,
}

struct ChildHandle {
    requests: mpsc::Sender<Request>,
    supervisor: JoinHandle<()>,
}

impl Drop for ChildHandle {
    fn drop(&mut self) {
        // The supervisor owns the child, spawned with `kill_on_drop`.
        self.supervisor.abort();
    }
}

struct Request {
    line: Vec<u8>,
    answer: oneshot::Sender<Result<String, String>>,
}

impl StreamPool {
    pub(crate) fn new(options: StreamOptions) -> Self {
        StreamPool {
            options,
            children: std::sync::OnceLock::new(),
            next: AtomicUsize::new(0),
        }
    }

    fn children(&self) -> &[ChildHandle] {
        self.children.get_or_init(|| {
            (0..self.options.children.max(1))
                .map(|_| {
                    let (requests, receiver) = mpsc::channel(CHANNEL);
                    let options = self.options.clone();
                    let supervisor = tokio::spawn(supervise(options, receiver));
                    ChildHandle {
                        requests,
                        supervisor,
                    }
                })
                .collect()
        })
    }

    /// Sends `record` to a child and turns its answer into records.
    pub(crate) async fn call(&self, record: &Value) -> Result<Emit<Payload>, BoxError> {
        let mut line = match record {
            Value::String(text) => text.clone().into_bytes(),
            other => serde_json::to_vec(other)?,
        };
        if line.contains(&b'\n') {
            return Err("a record holding a newline cannot be one line of a stream".into());
        }
        line.push(b'\n');
        let children = self.children();
        let child = &children[self.next.fetch_add(1, Ordering::Relaxed) % children.len()];
        let (answer, answered) = oneshot::channel();
        child
            .requests
            .send(Request { line, answer })
            .await
            .map_err(|_| "the command's supervisor stopped")?;
        let line = answered
            .await
            .map_err(|_| "the command's supervisor stopped")??;
        answer_records(self.options.output, line)
    }
}

fn answer_records(output: CommandOutput, line: String) -> Result<Emit<Payload>, BoxError> {
    if line.trim().is_empty() {
        return Ok(Emit::Skip);
    }
    Ok(Emit::One(match output {
        CommandOutput::JsonLines => payload(
            serde_json::from_str(&line)
                .map_err(|error| format!("the answer is not a JSON line: {error}"))?,
        ),
        CommandOutput::Lines | CommandOutput::Whole => payload(Value::String(line)),
    }))
}

/// Runs one child after another until the stage is dropped.
async fn supervise(options: StreamOptions, mut requests: mpsc::Receiver<Request>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let child = Command::new(&options.argv[0])
            .args(&options.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let ended = match child {
            Ok(child) => serve(&options, child, &mut requests).await,
            Err(error) => {
                // Every request fails until the program can be run.
                let Some(request) = requests.recv().await else {
                    return;
                };
                let reason = format!("cannot run {:?}: {error}", options.argv[0]);
                let _ = request.answer.send(Err(reason));
                Ended::Failed { answered: false }
            }
        };
        match ended {
            Ended::Closed => return,
            Ended::Failed { answered } => {
                if answered {
                    backoff = FIRST_BACKOFF;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

enum Ended {
    /// The stage is gone.
    Closed,
    /// The child died or was killed; `answered` if it answered anything.
    Failed { answered: bool },
}

/// The requests owed an answer, oldest first.
type Pending = Arc<Mutex<VecDeque<oneshot::Sender<Result<String, String>>>>>;

/// Feeds `child` and hands out its answers until it fails or the stage is
/// dropped.
async fn serve(
    options: &StreamOptions,
    mut child: Child,
    requests: &mut mpsc::Receiver<Request>,
) -> Ended {
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        unreachable!("all three are piped")
    };
    let kept = Arc::new(Mutex::new(Vec::new()));
    let drain = tokio::spawn(drain_stderr(stderr, kept.clone()));
    let pending: Pending = Arc::default();
    let answered = Arc::new(AtomicUsize::new(0));
    let answering = answer(stdout, &pending, &answered, options.timeout);
    tokio::pin!(answering);
    let why = tokio::select! {
        closed = feed(stdin, requests, &pending) => match closed {
            Fed::Closed => return Ended::Closed,
            // Its stdin is closed: take the answers it wrote before dying.
            Fed::Broken => tokio::time::timeout(STDERR_GRACE, &mut answering)
                .await
                .unwrap_or(None),
        },
        why = &mut answering => why,
    };
    // The child died, closed its stdout, or went silent: make sure it is
    // gone, then fail what it owed with its last words.
    let _ = child.start_kill();
    let status = child.wait().await;
    let _ = tokio::time::timeout(STDERR_GRACE, drain).await;
    let tail = stderr_tail(&kept.lock());
    let status = match status {
        Ok(status) => status.to_string(),
        Err(error) => format!("unknown status ({error})"),
    };
    let reason = match why {
        Some(why) => format!(
            "{:?} {why}; killed ({status}) and restarted: {tail}",
            options.argv[0]
        ),
        None => format!(
            "{:?} exited ({status}) and is restarted: {tail}",
            options.argv[0]
        ),
    };
    for owed in pending.lock().drain(..) {
        let _ = owed.send(Err(reason.clone()));
    }
    Ended::Failed {
        answered: answered.load(Ordering::Relaxed) > 0,
    }
}

enum Fed {
    /// No more requests: the stage is gone.
    Closed,
    /// The child's stdin is closed: it died.
    Broken,
}

/// Writes each request's line to the child, recording it as owed first.
async fn feed(stdin: ChildStdin, requests: &mut mpsc::Receiver<Request>, pending: &Pending) -> Fed {
    let mut stdin = BufWriter::new(stdin);
    loop {
        let request = match requests.try_recv() {
            Ok(request) => request,
            Err(_) => {
                // Nothing more at once: let the child have what is buffered.
                if stdin.flush().await.is_err() {
                    return Fed::Broken;
                }
                match requests.recv().await {
                    Some(request) => request,
                    None => return Fed::Closed,
                }
            }
        };
        pending.lock().push_back(request.answer);
        if stdin.write_all(&request.line).await.is_err() {
            return Fed::Broken;
        }
    }
}

/// Hands each line of the child's stdout to the oldest request owed an
/// answer. Returns why it stopped: `None` if stdout ended, else a reason.
async fn answer(
    stdout: ChildStdout,
    pending: &Pending,
    answered: &AtomicUsize,
    timeout: Option<Duration>,
) -> Option<String> {
    let mut lines = BufReader::new(stdout).lines();
    let mut last_heard = Instant::now();
    let mut owed_since: Option<Instant> = None;
    loop {
        let owes = !pending.lock().is_empty();
        // Silence counts from the later of the last answer and the moment
        // an answer started to be owed.
        if owes && owed_since.is_none() {
            owed_since = Some(Instant::now());
        }
        let deadline = match (timeout, owes) {
            (Some(timeout), true) => {
                Some(last_heard.max(owed_since.unwrap_or(last_heard)) + timeout)
            }
            _ => None,
        };
        // With nothing owed, look again soon: a request may have come.
        let wake = deadline.unwrap_or_else(|| Instant::now() + Duration::from_millis(20));
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    last_heard = Instant::now();
                    let Some(owed) = pending.lock().pop_front() else {
                        return Some("answered a line it was not sent".to_owned());
                    };
                    if pending.lock().is_empty() {
                        owed_since = None;
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                    let _ = owed.send(Ok(line));
                }
                Ok(None) => return None,
                Err(error) => return Some(format!("wrote unreadable output ({error})")),
            },
            () = tokio::time::sleep_until(wake) => {
                if let (Some(deadline), Some(timeout)) = (deadline, timeout) {
                    if Instant::now() >= deadline {
                        return Some(format!("gave no answer for {timeout:?}"));
                    }
                }
            }
        }
    }
}

/// Reads the child's stderr to its end, keeping the last bytes.
async fn drain_stderr(mut stderr: impl AsyncRead + Unpin, kept: Arc<Mutex<Vec<u8>>>) {
    let mut buffer = [0u8; 4096];
    while let Ok(read) = stderr.read(&mut buffer).await {
        if read == 0 {
            return;
        }
        let mut kept = kept.lock();
        kept.extend_from_slice(&buffer[..read]);
        if kept.len() > STDERR_KEPT {
            let excess = kept.len() - STDERR_KEPT;
            kept.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(argv: &[&str], children: usize, timeout: Option<Duration>) -> Arc<StreamPool> {
        Arc::new(StreamPool::new(StreamOptions {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            output: CommandOutput::Lines,
            children,
            timeout,
        }))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_come_back_to_their_records_in_order() {
        let pool = pool(&["cat"], 2, None);
        let calls: Vec<_> = (0..2000)
            .map(|n| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.call(&json!(format!("r{n}"))).await.unwrap() })
            })
            .collect();
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(
                call.await.unwrap(),
                Emit::One(payload(json!(format!("r{n}"))))
            );
        }
    }

    #[tokio::test]
    async fn a_silent_child_fails_its_records_with_its_stderr_and_is_restarted() {
        let script = "echo starting up >&2; read line; echo stuck on \"$line\" >&2; sleep 30";
        let pool = pool(&["sh", "-c", script], 1, Some(Duration::from_millis(200)));
        let error = pool.call(&json!("one")).await.unwrap_err().to_string();
        assert!(error.contains("gave no answer for 200ms"), "{error}");
        assert!(error.contains("stuck on one"), "{error}");
        let error = pool.call(&json!("two")).await.unwrap_err().to_string();
        assert!(error.contains("stuck on two"), "{error}");
    }

    #[tokio::test]
    async fn a_child_that_exits_is_restarted() {
        // Answers one record, then exits: each record gets a fresh child.
        let script = "read line; echo \"got $line\"; echo bye >&2";
        let pool = pool(&["sh", "-c", script], 1, None);
        for n in 0..3 {
            // A record sent before the exit is noticed fails, and is
            // retried, as the engine's retries would.
            let record = json!(format!("r{n}"));
            let mut out = pool.call(&record).await;
            for _ in 0..3 {
                if out.is_ok() {
                    break;
                }
                out = pool.call(&record).await;
            }
            assert_eq!(out.unwrap(), Emit::One(payload(json!(format!("got r{n}")))));
        }
    }

    #[tokio::test]
    async fn a_missing_program_fails_each_record() {
        let pool = pool(&["/no/such/program"], 1, None);
        let error = pool.call(&json!("x")).await.unwrap_err().to_string();
        assert!(error.contains("cannot run"), "{error}");
    }

    #[tokio::test]
    async fn a_record_with_a_newline_is_refused() {
        let pool = pool(&["cat"], 1, None);
        assert!(pool.call(&json!("a\nb")).await.is_err());
    }
}
