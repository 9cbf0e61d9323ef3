//! Test harness for the `weir` binary: pipeline files in a temp dir, the
//! real binary run as a child process (no colors), its stderr collected
//! while it runs, the address a listening source reports, its memory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

    /// The lines of a file (none if it does not exist).
    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.path(name))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// `weir` with its arguments, colors off.
pub fn weir(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command.env("NO_COLOR", "1").env_remove("RUST_LOG");
    for arg in args {
        command.arg(arg);
    }
    command
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
}

impl Running {
    /// Starts `weir` with stdout discarded.
    pub fn start(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// Starts `weir` with stdout discarded and these environment variables.
    pub fn start_with_env(args: &[&dyn AsRef<std::ffi::OsStr>], env: &[(&str, &str)]) -> Self {
        let mut child = weir(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weir");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (found, listening) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr piped");
        let collected = stderr.clone();
        let metrics_url = Arc::new(Mutex::new(None));
        let metrics = metrics_url.clone();
        std::thread::spawn(move || {
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
    /// of stderr.
    pub fn wait(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), self.stderr());
            }
            if std::time::Instant::now() > deadline {
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

/// `path` as it must be written inside a TOML string.
pub fn toml_path(path: &Path) -> String {
    path.display().to_string().replace('\\', "\\\\")
}
