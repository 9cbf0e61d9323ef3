//! Test harness for the `weir` binary: pipeline files in a temp dir, the
//! real binary run as a child process (no colors, no proxy), its stderr
//! collected while it runs, the address a listening source reports, its
//! memory.
//!
//! Every server a test talks to is on loopback, so neither the child nor the
//! test's own HTTP client may go through a proxy from the environment
//! (reqwest does not bypass loopback by itself).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir::AccountingSnapshot;

/// A temp directory holding a test's pipeline file and outputs.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A path in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file; returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }

    /// The number in field `field` of each JSON line of file `name`, sorted.
    pub fn sorted_numbers(&self, name: &str, field: &str) -> Vec<u64> {
        let mut numbers: Vec<u64> = self
            .lines(name)
            .iter()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                value[field].as_u64().expect("a number")
            })
            .collect();
        numbers.sort_unstable();
        numbers
    }

    /// Like [`Workdir::sorted_numbers`], for a file that a run killed with
    /// SIGKILL wrote to, or one still being written: a line that is not
    /// JSON (a write the kill cut short; the file sink starts the next run
    /// on a new line) is skipped, at most `torn` of them, and a last line
    /// without its newline (still being written, or cut short) is left out.
    pub fn sorted_numbers_after_kills(&self, name: &str, field: &str, torn: usize) -> Vec<u64> {
        let text = std::fs::read_to_string(self.path(name)).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let mut skipped = Vec::new();
        let mut numbers: Vec<u64> = complete
            .lines()
            .filter_map(
                |line| match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(value) => Some(value[field].as_u64().expect("a number")),
                    Err(_) => {
                        skipped.push(line.to_owned());
                        None
                    }
                },
            )
            .collect();
        assert!(
            skipped.len() <= torn,
            "{} lines of {name} are not JSON (at most {torn} torn by kills): {skipped:?}",
            skipped.len()
        );
        numbers.sort_unstable();
        numbers
    }

    /// The lines of a file (none if it does not exist).
    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.path(name))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// The proxy variables reqwest (and curl-alike tools) read.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// A data directory of its own for each run (`WEIR_DATA_DIR`), so runs of
/// pipeline files with the same name in parallel tests do not share one; a
/// test of the data directory itself passes `--data-dir`, which wins.
fn fresh_data_dir() -> PathBuf {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("data-{}-{run}", std::process::id()))
}

/// `weir` with its arguments, colors off, no proxy, a fresh data directory.
pub fn weir(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env("WEIR_DATA_DIR", fresh_data_dir());
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    for arg in args {
        command.arg(arg);
    }
    command
}

/// An HTTP client for the test's own requests to loopback: no proxy.
pub fn http_client() -> reqwest::Client {
    http_client_with(reqwest::Client::builder())
}

/// `builder`, with the proxy turned off, built.
pub fn http_client_with(builder: reqwest::ClientBuilder) -> reqwest::Client {
    builder.no_proxy().build().expect("an HTTP client")
}

/// Polls `check` every 10 ms until it gives a value, at most `timeout`.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `weir` to the end; stdin is empty.
pub fn run_to_end(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    weir(args).stdin(Stdio::null()).output().expect("run weir")
}

/// The stderr of a finished run, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A `weir` run in the background, its stderr collected.
pub struct Running {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
    listening: mpsc::Receiver<SocketAddr>,
    metrics_url: Arc<Mutex<Option<String>>>,
    /// Closed when the stderr reader has taken the last line.
    stderr_done: mpsc::Receiver<()>,
}

impl Running {
    /// Starts `weir` with stdout discarded.
    pub fn start(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// Starts `weir` with stdout discarded and these environment variables.
    pub fn start_with_env(args: &[&dyn AsRef<std::ffi::OsStr>], env: &[(&str, &str)]) -> Self {
        let mut command = weir(args);
        command
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Self::spawn(command)
    }

    /// Starts `command` (from [`weir`], stdin and stdout set up) with its
    /// stderr collected.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.stderr(Stdio::piped()).spawn().expect("start weir");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (found, listening) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr piped");
        let collected = stderr.clone();
        let metrics_url = Arc::new(Mutex::new(None));
        let metrics = metrics_url.clone();
        let (reader_done, stderr_done) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _done_when_dropped = reader_done;
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("weir: listening on ") {
                    let _ = found.send(addr.trim().parse().expect("an address"));
                }
                if let Some(url) = line.strip_prefix("weir: metrics at ") {
                    *metrics.lock().unwrap() = Some(url.trim().to_owned());
                }
                let mut text = collected.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Running {
            child,
            stderr,
            listening,
            metrics_url,
            stderr_done,
        }
    }

    /// The metrics URL, once weir printed it.
    pub fn metrics_url(&self) -> String {
        for _ in 0..200 {
            if let Some(url) = self.metrics_url.lock().unwrap().clone() {
                return url;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("weir did not serve metrics; stderr:\n{}", self.stderr());
    }

    /// The address the source listens on, once it says so.
    pub fn listening(&self) -> SocketAddr {
        self.listening
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("weir did not listen; stderr:\n{}", self.stderr()))
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// Waits for the exit (at most `timeout`); returns the exit code and all
    /// of stderr (the reader has taken its last line: the pipe closed).
    pub fn wait(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let left = deadline.saturating_duration_since(Instant::now());
                if let Err(mpsc::RecvTimeoutError::Timeout) = self.stderr_done.recv_timeout(left) {
                    panic!(
                        "weir exited but its stderr stayed open (a child of it?); stderr:\n{}",
                        self.stderr()
                    );
                }
                return (status.code(), self.stderr());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("weir did not exit; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The books from the last end-of-run line of `stderr` (`in N = delivered
/// D + filtered F + dead-lettered X + dropped P + nacked K`).
pub fn books(stderr: &str) -> AccountingSnapshot {
    let line = stderr
        .lines()
        .rev()
        .find(|line| line.starts_with("in ") && line.contains("= delivered"))
        .unwrap_or_else(|| panic!("no books line in stderr:\n{stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().unwrap())
        .collect();
    AccountingSnapshot {
        received: numbers[0],
        delivered: numbers[1],
        filtered: numbers[2],
        dead_lettered: numbers[3],
        dropped: numbers[4],
        nacked: numbers[5],
    }
}

/// The CLI's oracle: the books of a finished run balance and agree with
/// what the run wrote, one line per record: `output` lines delivered,
/// `dead_letters` lines dead-lettered, and (if known) `sent` records in.
#[track_caller]
pub fn assert_books_match(
    books: &AccountingSnapshot,
    output: &[String],
    dead_letters: &[String],
    sent: Option<u64>,
) {
    assert!(books.balances(), "{books}");
    assert_eq!(
        books.delivered,
        output.len() as u64,
        "{books}: output {output:?}"
    );
    assert_eq!(
        books.dead_lettered,
        dead_letters.len() as u64,
        "{books}: dead letters {dead_letters:?}"
    );
    if let Some(sent) = sent {
        assert_eq!(books.received, sent, "{books}");
    }
}

/// `path` as it must be written inside a TOML string.
pub fn toml_path(path: &Path) -> String {
    path.display().to_string().replace('\\', "\\\\")
}
