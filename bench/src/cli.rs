//! The `weir` binary on a file, against the tools people would use instead.
//!
//! 1. jq: 1M JSON lines (~117 MB: id, service, level, latency_ms, msg),
//!    generated here, through `select(.level == "error") | {id, service,
//!    latency_ms}`, file to file: `weir run` with a `jq` stage
//!    (concurrency 1 and 2) and with the `json` stage (its `filter` and
//!    `pick`), `jq -c`, `mlr` where installed, the same pipeline in Python
//!    asyncio with bounded queues, and two floors: `cat` of the file to
//!    `/dev/null`, and a bare single-threaded Rust loop (BufReader lines →
//!    serde_json → filter → object → BufWriter). Every contender's output
//!    is checked against `jq -c`'s (the same lines; in order where the
//!    contender keeps order).
//! 2. A long-lived subprocess: the `command` stage with `argv = ["cat"]`,
//!    once per record (on a slice of the file: it is slow) and with
//!    `mode = "stream"`, against piping the file through `cat` by hand.
//!
//! Times are wall times of whole processes (start-up included), the
//! median of the reps (at most [`MAX_REPS`]).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::http::clients::weir_binary;
use crate::report::{self, Table, Target};
use crate::Opts;

const LINES: u64 = 1_000_000;
/// Records for the per-record `command` stage (a process each).
const PER_RECORD_LINES: u64 = 5_000;
const MAX_REPS: usize = 3;
const PROGRAM: &str = r#"select(.level == "error") | {id, service, latency_ms}"#;
const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/cli_asyncio.py");

/// Writes `lines` log records, one JSON object a line; about one in eight
/// is an error. Returns the file's size in bytes.
pub(crate) fn generate(path: &Path, lines: u64) -> std::io::Result<u64> {
    const SERVICES: [&str; 5] = ["checkout", "payments", "search", "auth", "inventory"];
    const LEVELS: [&str; 8] = [
        "info", "info", "info", "debug", "warn", "info", "error", "info",
    ];
    const MESSAGES: [&str; 4] = [
        "request served from the primary region",
        "upstream responded slowly, retrying once",
        "cache miss on the product listing page",
        "connection pool exhausted, waiting",
    ];
    let mut out = BufWriter::new(File::create(path)?);
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for id in 0..lines {
        // xorshift: the same file every run.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let pick = |n: usize, shift: u32| (state >> shift) as usize % n;
        writeln!(
            out,
            r#"{{"id":{id},"service":"{}","level":"{}","latency_ms":{},"msg":"{} (trace {:016x})"}}"#,
            SERVICES[pick(SERVICES.len(), 3)],
            LEVELS[pick(LEVELS.len(), 11)],
            (state >> 20) % 2000,
            MESSAGES[pick(MESSAGES.len(), 40)],
            state,
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// The floor for a program without a pipeline: one thread, one loop.
fn bare_loop(input: &Path, output: &Path) -> std::io::Result<()> {
    let reader = BufReader::new(File::open(input)?);
    let mut out = BufWriter::new(File::create(output)?);
    for line in reader.lines() {
        let line = line?;
        let record: serde_json::Value = serde_json::from_str(&line)?;
        if record["level"] == "error" {
            let kept = serde_json::json!({
                "id": record["id"],
                "service": record["service"],
                "latency_ms": record["latency_ms"],
            });
            serde_json::to_writer(&mut out, &kept)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()
}

/// Runs a contender, its output written to the path given.
pub(crate) type RunFn = Box<dyn Fn(&Path) -> Result<(), String>>;

/// One way to run the transformation.
pub(crate) struct Contender {
    pub(crate) name: String,
    /// Whether its output keeps the input's order.
    pub(crate) ordered: bool,
    pub(crate) run: RunFn,
}

/// A `weir run` of `pipeline` (written to `dir`), its sink writing to the
/// path it is given.
fn weir(bin: &Path, dir: &Path, name: &str, input: &Path, stage: &str) -> Contender {
    let bin = bin.to_owned();
    let toml = dir.join(format!("{name}.toml"));
    let input = input.to_owned();
    let stage = stage.to_owned();
    Contender {
        name: name.to_owned(),
        ordered: !stage.contains("concurrency"),
        run: Box::new(move |output| {
            // The file sink appends: start from nothing.
            let _ = std::fs::remove_file(output);
            let text = format!(
                "[source]\ntype = \"file\"\npath = {:?}\n\n[[stage]]\n{stage}\n\n\
                 [sink]\ntype = \"file\"\npath = {:?}\n",
                input.display().to_string(),
                output.display().to_string()
            );
            std::fs::write(&toml, text).map_err(|e| e.to_string())?;
            let data = toml.with_extension("data");
            status(
                Command::new(&bin)
                    .args(["run", "--quiet", "--data-dir"])
                    .arg(data)
                    .arg(&toml),
            )
        }),
    }
}

/// `program args... < input > output`.
fn piped(name: &str, ordered: bool, input: &Path, program: &str, args: &[&str]) -> Contender {
    let input = input.to_owned();
    let program = program.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    Contender {
        name: name.to_owned(),
        ordered,
        run: Box::new(move |output| {
            let stdin = File::open(&input).map_err(|e| e.to_string())?;
            let stdout = File::create(output).map_err(|e| e.to_string())?;
            status(
                Command::new(&program)
                    .args(&args)
                    .stdin(stdin)
                    .stdout(stdout),
            )
        }),
    }
}

pub(crate) fn status(command: &mut Command) -> Result<(), String> {
    let out = command
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Each contender's median seconds over `reps` rounds, interleaved (round
/// `r` starts at contender `r`, so a burst of load hits them alike), and
/// whether its output, written to `output`, passed `check` every time.
pub(crate) fn measure(
    contenders: &[&Contender],
    reps: usize,
    output: &Path,
    check: impl Fn(usize, &Path) -> bool,
) -> Result<Vec<(f64, bool)>, String> {
    let mut samples = vec![Vec::new(); contenders.len()];
    let mut passed = vec![true; contenders.len()];
    for round in 0..reps {
        for turn in 0..contenders.len() {
            let index = (round + turn) % contenders.len();
            let start = Instant::now();
            (contenders[index].run)(output)?;
            samples[index].push(start.elapsed().as_secs_f64());
            passed[index] &= check(index, output);
            let _ = std::fs::remove_file(output);
        }
    }
    Ok(samples
        .iter()
        .map(|samples| report::median(samples))
        .zip(passed)
        .collect())
}

pub(crate) fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether `got` has the lines of `expected` (in order if `ordered`), a
/// JSON line compared by its value (Miller writes `{"id": 1, ...}`, jq
/// `{"id":1,...}`; keys in order either way).
pub(crate) fn same_output(expected: &[String], got: &Path, ordered: bool) -> bool {
    let compact = |line: &String| {
        serde_json::from_str::<serde_json::Value>(line)
            .map_or_else(|_| line.clone(), |value| value.to_string())
    };
    let mut got: Vec<String> = lines_of(got).iter().map(compact).collect();
    let mut expected: Vec<String> = expected.iter().map(compact).collect();
    if ordered {
        return got == expected;
    }
    got.sort_unstable();
    expected.sort_unstable();
    got == expected
}

pub fn run(opts: &Opts) -> Vec<Target> {
    let reps = opts.reps.min(MAX_REPS);
    let Some(bin) = weir_binary() else {
        println!(
            "\n(weir binary not found: build it with `cargo build --release -p weir-cli` \
             or set WEIR_BIN; the cli suite is skipped)"
        );
        return Vec::new();
    };
    if !installed("jq") {
        println!("\n(jq not installed: the cli suite compares with it, so it is skipped)");
        return Vec::new();
    }
    let dir = std::env::temp_dir().join(format!("weir-bench-cli-{}", std::process::id()));
    let result = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| run_in(opts, reps, &bin, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap_or_else(|error| {
        println!("\n(cli suite failed: {error})");
        Vec::new()
    })
}

fn run_in(opts: &Opts, reps: usize, bin: &Path, dir: &Path) -> Result<Vec<Target>, String> {
    let lines = opts.items(LINES);
    let input = dir.join("logs.jsonl");
    let bytes = generate(&input, lines).map_err(|e| e.to_string())?;
    let mut targets = jq_table(reps, bin, dir, &input, lines, bytes)?;
    targets.extend(stream_table(opts, reps, bin, dir, &input, bytes)?);
    Ok(targets)
}

fn jq_table(
    reps: usize,
    bin: &Path,
    dir: &Path,
    input: &Path,
    lines: u64,
    bytes: u64,
) -> Result<Vec<Target>, String> {
    let program_line = format!("program = '{PROGRAM}'");
    let mut contenders = vec![
        weir(bin, dir, "weir jq stage", input, &format!("type = \"jq\"\n{program_line}")),
        weir(
            bin,
            dir,
            "weir jq stage, concurrency 2",
            input,
            &format!("type = \"jq\"\n{program_line}\nconcurrency = 2"),
        ),
        weir(
            bin,
            dir,
            "weir json stage (filter + pick)",
            input,
            "type = \"json\"\nfilter = '.level == \"error\"'\npick = [\"id\", \"service\", \"latency_ms\"]",
        ),
        piped("jq -c", true, input, "jq", &["-c", PROGRAM]),
    ];
    if installed("mlr") {
        contenders.push(piped(
            "mlr",
            true,
            input,
            "mlr",
            &[
                "--ijsonl",
                "--ojsonl",
                "filter",
                "$level == \"error\"",
                "then",
                "cut",
                "-o",
                "-f",
                "id,service,latency_ms",
            ],
        ));
    } else {
        println!("\n(mlr not installed: its row is skipped)");
    }
    let python = std::env::var("WEIR_BENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    {
        let input = input.to_owned();
        contenders.push(Contender {
            name: "Python asyncio, bounded queues".to_owned(),
            ordered: true,
            run: Box::new(move |output| {
                status(Command::new(&python).arg(PYTHON).arg(&input).arg(output))
            }),
        });
    }
    {
        let input = input.to_owned();
        contenders.push(Contender {
            name: "bare Rust loop (floor)".to_owned(),
            ordered: true,
            run: Box::new(move |output| bare_loop(&input, output).map_err(|e| e.to_string())),
        });
    }
    let cat_floor = {
        let input = input.to_owned();
        Contender {
            name: "cat > /dev/null (floor)".to_owned(),
            ordered: true,
            run: Box::new(move |_output| {
                status(Command::new("cat").arg(&input).stdout(Stdio::null()))
            }),
        }
    };

    let expected_path = dir.join("expected.jsonl");
    (contenders[3].run)(&expected_path)?;
    let expected = lines_of(&expected_path);

    let mut all: Vec<&Contender> = contenders.iter().collect();
    all.push(&cat_floor);
    let floor = all.len() - 1;
    let measured = measure(&all, reps, &dir.join("out.jsonl"), |index, output| {
        index == floor || same_output(&expected, output, all[index].ordered)
    })?;
    let times: Vec<(String, f64, &str)> = all
        .iter()
        .zip(measured)
        .enumerate()
        .map(|(index, (contender, (seconds, same)))| {
            let same = match (index == floor, same, contender.ordered) {
                (true, _, _) => "-",
                (false, true, true) => "yes",
                (false, true, false) => "yes (any order)",
                (false, false, _) => "NO",
            };
            (contender.name.clone(), seconds, same)
        })
        .collect();
    let seconds_of = |name: &str| {
        times
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or(f64::NAN, |(_, s, _)| *s)
    };
    let jq_seconds = seconds_of("jq -c");
    let mut table = Table::new(
        format!(
            "cli: {PROGRAM}, {} lines ({}), file to file, median of {reps}",
            report::count(lines),
            report::bytes(bytes)
        ),
        &["contender", "seconds", "MB/s", "vs jq -c", "output = jq's"],
    );
    for (name, seconds, same) in &times {
        table.row(vec![
            name.clone(),
            format!("{seconds:.2}"),
            format!("{:.0}", bytes as f64 / seconds / 1e6),
            report::ratio(jq_seconds / seconds),
            (*same).to_owned(),
        ]);
    }
    table.note(
        "MB/s = input bytes / wall seconds of the whole process. \"vs jq -c\" = jq's time / the contender's. \
         The bare loop runs inside the harness (no process start).",
    );
    table.print();

    let jq1 = seconds_of("weir jq stage");
    let jq2 = seconds_of("weir jq stage, concurrency 2");
    let json = seconds_of("weir json stage (filter + pick)");
    let bare = seconds_of("bare Rust loop (floor)");
    let target =
        |name: &str, measured: f64, threshold: f64| Target::ratio("cli", name, measured, threshold);
    Ok(vec![
        target("jq stage / jq -c", jq_seconds / jq1, 3.0),
        target("jq stage / json stage", json / jq1, 0.9),
        target("jq stage concurrency 2 / bare Rust loop", bare / jq2, 1.0),
    ])
}

fn stream_table(
    opts: &Opts,
    reps: usize,
    bin: &Path,
    dir: &Path,
    input: &Path,
    bytes: u64,
) -> Result<Vec<Target>, String> {
    let lines = opts.items(LINES);
    let few = opts.items(PER_RECORD_LINES).min(lines);
    let slice = dir.join("slice.jsonl");
    let head: Vec<String> = BufReader::new(File::open(input).map_err(|e| e.to_string())?)
        .lines()
        .take(few as usize)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    std::fs::write(&slice, head.join("\n") + "\n").map_err(|e| e.to_string())?;
    let per_record = weir(
        bin,
        dir,
        "weir command, per record, concurrency 2",
        &slice,
        "type = \"command\"\nargv = [\"cat\"]\nconcurrency = 2\ntimeout = \"10s\"",
    );
    let stream = weir(
        bin,
        dir,
        "weir command, mode = \"stream\", 2 children",
        input,
        "type = \"command\"\nmode = \"stream\"\nargv = [\"cat\"]\nconcurrency = 2\ntimeout = \"10s\"",
    );
    let by_hand = piped("cat < file > out (by hand)", true, input, "cat", &[]);
    let mut table = Table::new(
        format!("cli: `argv = [\"cat\"]`, median of {reps}"),
        &[
            "contender",
            "records",
            "seconds",
            "records/s",
            "MB/s",
            "output = input",
        ],
    );
    let input_lines = lines_of(input);
    let slice_bytes = std::fs::metadata(&slice).map_or(0, |m| m.len());
    let rows = [
        (&per_record, few, slice_bytes),
        (&stream, lines, bytes),
        (&by_hand, lines, bytes),
    ];
    let contenders: Vec<&Contender> = rows.iter().map(|(c, _, _)| *c).collect();
    let measured = measure(&contenders, reps, &dir.join("out.txt"), |index, output| {
        let expected = if index == 0 { &head } else { &input_lines };
        same_output(expected, output, false)
    })?;
    let mut rates = Vec::new();
    for ((contender, records, file_bytes), (seconds, same)) in rows.into_iter().zip(measured) {
        let rate = records as f64 / seconds;
        rates.push(rate);
        table.row(vec![
            contender.name.clone(),
            report::count(records),
            format!("{seconds:.2}"),
            report::rate(rate),
            format!("{:.0}", file_bytes as f64 / seconds / 1e6),
            if same { "yes (any order)" } else { "NO" }.to_owned(),
        ]);
    }
    table.note("The per-record mode runs on a slice of the file: a process per record.");
    table.print();
    let target =
        |name: &str, measured: f64, threshold: f64| Target::ratio("cli", name, measured, threshold);
    Ok(vec![
        target(
            "command stream / per record (records/s)",
            rates[1] / rates[0],
            100.0,
        ),
        target(
            "command stream / cat by hand (records/s)",
            rates[1] / rates[2],
            0.5,
        ),
    ])
}
