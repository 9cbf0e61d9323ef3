//! Every way a run can fail says why (also with `--quiet`), exits 3, and
//! its books agree with the files it wrote: a sink whose flush fails, a
//! dead-letter output that cannot be opened or written, an address already
//! in use, no file matched, and a command's child killed on timeout and at
//! stop, checked by its pid.

use std::net::TcpListener;
use std::time::Duration;

use crate::common::{books, poll, run_to_end, stderr, toml_path, Running, Workdir};

/// Bad lines between good ones: 2 records, 1 malformed.
const MIXED_INPUT: &str = "{\"n\": 1}\nnot json\n{\"n\": 2}\n";

/// A file source over `input` into the file sink `out.jsonl`.
fn file_to_file(dir: &Workdir, input: &str) -> std::path::PathBuf {
    let input = dir.write("in.jsonl", input);
    dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\nformat = \"json\"\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&input),
            toml_path(&dir.path("out.jsonl"))
        ),
    )
}

#[test]
fn a_sink_that_cannot_flush_nacks_everything_and_exits_3() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"generate\"\ncount = 10\n\n[sink]\ntype = \"file\"\npath = \"/dev/full\"\n",
    );
    for quiet in [false, true] {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"run", &pipeline];
        if quiet {
            args.push(&"--quiet");
        }
        let output = run_to_end(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(3), "quiet {quiet}: {err}");
        let books = books(&err);
        assert_eq!((books.received, books.delivered, books.nacked), (10, 0, 10));
        assert!(err.contains("sink file failed"), "quiet {quiet}: {err}");
        assert!(
            err.contains("No space left on device"),
            "quiet {quiet}: {err}"
        );
    }
}

#[test]
fn a_dead_letter_file_that_cannot_be_opened_fails_the_run_with_3() {
    let dir = Workdir::new();
    let pipeline = file_to_file(&dir, MIXED_INPUT);
    let output = run_to_end(&[
        &"run",
        &pipeline,
        &"--quiet",
        &"--dead-letter",
        &"/dev/null/x",
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot open /dev/null/x"), "{err}");
    assert!(dir.lines("out.jsonl").is_empty(), "nothing ran");
}

#[test]
fn a_dead_letter_file_that_cannot_be_written_nacks_instead_of_dead_lettering() {
    let dir = Workdir::new();
    let pipeline = file_to_file(&dir, MIXED_INPUT);
    let output = run_to_end(&[
        &"run",
        &pipeline,
        &"--quiet",
        &"--dead-letter",
        &"/dev/full",
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("dead-letter output failed"), "{err}");
    let books = books(&err);
    assert_eq!(books.received, 3, "{err}");
    assert_eq!(
        books.dead_lettered, 0,
        "the letter was never written: {err}"
    );
    assert!(books.nacked >= 1, "{err}");
    // Every record the books call delivered is in the sink file; a nacked
    // one may be there too (written, but the run failed before its flush
    // was acknowledged: its source may send it again).
    let written = dir.lines("out.jsonl").len() as u64;
    assert!(
        books.delivered <= written && written <= books.delivered + books.nacked,
        "{written} written; {err}"
    );
}

#[test]
fn a_listener_address_in_use_fails_with_3() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        format!("[source]\ntype = \"tcp\"\nlisten = \"{addr}\"\n\n[sink]\ntype = \"stdout\"\n"),
    );
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("p.toml:2:8"), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn an_http_listener_address_in_use_fails_with_3() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        format!("[source]\ntype = \"http\"\nlisten = \"{addr}\"\n\n[sink]\ntype = \"stdout\"\n"),
    );
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains(&addr.to_string()), "{err}");
}

#[test]
fn a_metrics_address_in_use_fails_with_3() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"generate\"\ncount = 10\n\n[sink]\ntype = \"stdout\"\n",
    );
    let output = run_to_end(&[&"run", &pipeline, &"--quiet", &"--metrics-addr", &addr]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("cannot serve metrics on {addr}")),
        "{err}"
    );
}

#[test]
fn no_file_matched_fails_with_3() {
    let dir = Workdir::new();
    let pattern = dir.path("nothing-*.jsonl");
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\n\n[sink]\ntype = \"stdout\"\n",
            toml_path(&pattern)
        ),
    );
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("p.toml:2:8"), "{err}");
    assert!(err.contains("no file matches"), "{err}");
}

#[test]
fn a_fail_fast_stage_says_why_even_when_quiet() {
    let dir = Workdir::new();
    let input = dir.write("in.txt", "{\"ok\": 1}\nnot json\n");
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\n\n\
             [[stage]]\ntype = \"json\"\nfail_fast = true\n\n[sink]\ntype = \"stdout\"\n",
            toml_path(&input)
        ),
    );
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("fail-fast"), "{err}");
    assert!(err.contains("malformed JSON"), "{err}");
}

/// Whether process `pid` is running (a zombie, killed but not yet reaped,
/// is not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}

/// A command stage whose child writes its pid to `child.pid` and then
/// sleeps for 30 s, with `extra` stage options.
fn sleeping_child(dir: &Workdir, count: &str, extra: &str) -> std::path::PathBuf {
    dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"generate\"\n{count}\n\n\
             [[stage]]\ntype = \"command\"\nargv = [\"sh\", \"-c\", \"echo $$ > {}; exec sleep 30\"]\n{extra}\n\n\
             [sink]\ntype = \"stdout\"\n",
            toml_path(&dir.path("child.pid"))
        ),
    )
}

fn child_pid(dir: &Workdir, run: Option<&Running>) -> u32 {
    poll(Duration::from_secs(20), || {
        dir.lines("child.pid").first()?.trim().parse().ok()
    })
    .unwrap_or_else(|| {
        panic!(
            "the child never wrote its pid; stderr:\n{}",
            run.map(Running::stderr).unwrap_or_default()
        )
    })
}

#[test]
fn a_command_that_times_out_has_its_child_killed() {
    let dir = Workdir::new();
    let pipeline = sleeping_child(&dir, "count = 1", "timeout = \"300ms\"");
    let dead = dir.path("dead.jsonl");
    let started = std::time::Instant::now();
    let output = run_to_end(&[&"run", &pipeline, &"--quiet", &"--dead-letter", &dead]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for sleep 30"
    );
    assert_eq!(books(&err).dead_lettered, 1, "{err}");
    assert_eq!(dir.lines("dead.jsonl").len(), 1);
    let pid = child_pid(&dir, None);
    assert!(
        poll(Duration::from_secs(5), || (!alive(pid)).then_some(())).is_some(),
        "the timed-out child {pid} still runs"
    );
}

#[test]
fn a_stop_kills_the_running_child() {
    let dir = Workdir::new();
    let pipeline = sleeping_child(&dir, "", "");
    let run = Running::start(&[&"run", &pipeline, &"--quiet", &"--drain-timeout", &"200ms"]);
    let pid = child_pid(&dir, Some(&run));
    assert!(alive(pid), "the child {pid} runs before the stop");
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    assert!(books(&err).nacked >= 1, "{err}");
    assert!(
        poll(Duration::from_secs(5), || (!alive(pid)).then_some(())).is_some(),
        "the child {pid} outlived the stop"
    );
}
