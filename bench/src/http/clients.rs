//! The HTTP clients compared, each run as a child process (so its peak
//! memory is its own): how to start each one, and how to read its count of
//! successful requests.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::tree_rss::TreeSampler;

const AIOHTTP_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/aiohttp_fetch.py");
const VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv");

/// One client: what it is and how it is started.
#[derive(Debug, Clone)]
pub enum Client {
    /// weir's pipeline and HTTP stage, library API (`child http-weir`);
    /// `concurrency` is a number or `adaptive`.
    WeirLibrary { concurrency: String },
    /// The `weir` binary running a generated pipeline file.
    WeirBinary { bin: PathBuf },
    /// Python aiohttp with an `asyncio.Semaphore` (`python/aiohttp_fetch.py`).
    Aiohttp { python: PathBuf },
    /// `xargs -P C curl`: one curl process per URL.
    XargsCurl,
    /// reqwest + `buffer_unordered(C)` (`child http-reqwest`).
    Reqwest,
}

/// What one run of a client did.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub ok: u64,
    pub failed: u64,
    /// Wall time of the whole child process, start-up included.
    pub secs: f64,
    /// Highest summed RSS of the child's process tree.
    pub peak_rss: u64,
    /// The final adaptive limit (0 if fixed or not reported).
    pub limit: u64,
    /// Goodput over the last two thirds of the successes, per second (0 if
    /// not reported): the rate once start-up and slow start are over.
    pub steady: f64,
}

impl Client {
    pub fn label(&self, concurrency: usize) -> String {
        match self {
            Client::WeirLibrary { concurrency: c } => format!("weir http stage, concurrency {c}"),
            Client::WeirBinary { .. } => format!("weir binary, {concurrency}"),
            Client::Aiohttp { .. } => format!("aiohttp + Semaphore({concurrency})"),
            Client::XargsCurl => format!("xargs -P {concurrency} curl"),
            Client::Reqwest => format!("reqwest buffer_unordered({concurrency})"),
        }
    }

    /// Fetches `base/items/0..n` with at most `concurrency` at once.
    pub fn run(&self, base: &str, n: u64, concurrency: usize) -> Result<Run, String> {
        let mut command = self.command(base, n, concurrency)?;
        let started = Instant::now();
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let sampler = TreeSampler::start(&child);
        let output = child
            .wait_with_output()
            .map_err(|e| format!("waiting for {command:?}: {e}"))?;
        let secs = started.elapsed().as_secs_f64();
        let peak_rss = sampler.finish();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "{} failed ({}): {}",
                self.label(concurrency),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let (ok, failed, limit) = self.parse(&stdout, n)?;
        let steady = stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("steady=")?.parse().ok())
            .unwrap_or(0.0);
        Ok(Run {
            ok,
            failed,
            secs,
            peak_rss,
            limit,
            steady,
        })
    }

    fn command(&self, base: &str, n: u64, concurrency: usize) -> Result<Command, String> {
        let own = || std::env::current_exe().map_err(|e| format!("cannot find own exe: {e}"));
        let (n, c) = (n.to_string(), concurrency.to_string());
        Ok(match self {
            Client::WeirLibrary { concurrency } => {
                let mut command = Command::new(own()?);
                command.args(["child", "http-weir", base, &n, concurrency]);
                command
            }
            Client::Reqwest => {
                let mut command = Command::new(own()?);
                command.args(["child", "http-reqwest", base, &n, &c]);
                command
            }
            Client::WeirBinary { bin } => {
                let file = pipeline_file(base, &n, &c)?;
                let mut command = Command::new(bin);
                command.arg("run").arg(file).arg("--quiet");
                command
            }
            Client::Aiohttp { python } => {
                let mut command = Command::new(python);
                command.args([AIOHTTP_SCRIPT, base, &n, &c]);
                command
            }
            Client::XargsCurl => {
                let script = format!(
                    "seq 0 $(({n} - 1)) | xargs -P {c} -I@ \
                     curl -s -o /dev/null -w '%{{http_code}}\\n' {base}/items/@"
                );
                let mut command = Command::new("sh");
                command.args(["-c", &script]);
                command
            }
        })
    }

    /// `(ok, failed, limit)` from the client's output.
    fn parse(&self, stdout: &str, n: u64) -> Result<(u64, u64, u64), String> {
        let count = |needle: &str| stdout.lines().filter(|l| l.contains(needle)).count() as u64;
        match self {
            Client::WeirLibrary { .. } | Client::Reqwest => {
                let field = |key: &str| {
                    stdout
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
                        .ok_or_else(|| format!("no {key}= in {stdout:?}"))
                };
                Ok((field("ok")?, field("failed")?, field("limit")?))
            }
            Client::WeirBinary { .. } => {
                let ok = count("\"status\":200");
                Ok((ok, n - ok, 0))
            }
            Client::XargsCurl => {
                let ok = count("200");
                Ok((ok, n - ok, 0))
            }
            Client::Aiohttp { .. } => {
                let value: serde_json::Value = serde_json::from_str(stdout.trim())
                    .map_err(|e| format!("aiohttp script printed {stdout:?}: {e}"))?;
                let field = |key: &str| value[key].as_u64().ok_or(format!("no {key}"));
                Ok((field("ok")?, field("failed")?, 0))
            }
        }
    }
}

/// Writes the pipeline file the `weir` binary runs: `generate` ids → `http`
/// stage → stdout.
fn pipeline_file(base: &str, n: &str, concurrency: &str) -> Result<PathBuf, String> {
    let path = std::env::temp_dir().join(format!("weir-bench-http-{}.toml", std::process::id()));
    let text = format!(
        "[source]\ntype = \"generate\"\ncount = {n}\n\n\
         [[stage]]\ntype = \"http\"\nname = \"fetch\"\nurl = \"{base}/items/{{id}}\"\n\
         concurrency = {concurrency}\ntimeout = \"10s\"\nretries = {{ max_attempts = 3 }}\n\n\
         [sink]\ntype = \"stdout\"\n"
    );
    std::fs::File::create(&path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The `weir` binary: `$WEIR_BIN`, else `target/release/weir` beside this
/// harness, if it exists.
pub fn weir_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("WEIR_BIN") {
        return Some(bin.into());
    }
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.join("weir");
    bin.exists().then_some(bin)
}

/// A Python with aiohttp: `bench/.venv`, made with `python3 -m venv` and
/// `pip install aiohttp` on first use.
pub fn aiohttp_python() -> Result<PathBuf, String> {
    let python = Path::new(VENV).join("bin/python");
    let has_aiohttp = |python: &Path| {
        Command::new(python)
            .args(["-c", "import aiohttp"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_aiohttp(&python) {
        return Ok(python);
    }
    let step = |program: &Path, args: &[&str]| -> Result<(), String> {
        let output = Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {} failed: {}",
                program.display(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    };
    if !python.exists() {
        step(Path::new("python3"), &["-m", "venv", VENV])?;
    }
    step(&python, &["-m", "pip", "install", "-q", "aiohttp"])?;
    if has_aiohttp(&python) {
        Ok(python)
    } else {
        Err("aiohttp installed but cannot be imported".into())
    }
}
