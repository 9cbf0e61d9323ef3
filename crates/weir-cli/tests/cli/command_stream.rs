//! `type = "command"` with `mode = "stream"`: long-lived children fed a
//! record a line, through the real binary and real processes. Answers come
//! back in order; a child that exits is restarted and its records retried,
//! nothing lost; a child that never answers is killed after `timeout`,
//! restarted, and its records dead-lettered with its stderr; a stopped run
//! leaves no child behind.

use std::path::Path;
use std::time::Duration;

use crate::common::{books, run_to_end, stderr, toml_path, Running, Workdir};

/// A pipeline: a file of JSON lines through one command stage (its TOML
/// lines `stage`) to a file.
fn pipeline(dir: &Workdir, records: usize, stage: &str) -> std::path::PathBuf {
    let input: String = (0..records)
        .map(|n| format!("{{\"n\":{n},\"name\":\"ada-{n}\"}}\n"))
        .collect();
    let source = dir.write("in.jsonl", input);
    dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\nformat = \"json\"\n\n\
             [[stage]]\ntype = \"command\"\nmode = \"stream\"\n{stage}\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&source),
            toml_path(&dir.path("out.jsonl"))
        ),
    )
}

/// A Python script in the work dir; it appends its pid to `pids.txt` when
/// it starts. Returns the TOML `argv` line running it.
fn python(dir: &Workdir, body: &str) -> String {
    let script = format!(
        "import json, os, sys, time\n\
         with open({pids:?}, 'a') as f:\n    f.write(f'{{os.getpid()}}\\n')\n{body}",
        pids = dir.path("pids.txt").display().to_string()
    );
    let path = dir.write("child.py", script);
    format!("argv = [\"python3\", \"-u\", \"{}\"]", toml_path(&path))
}

fn pids(dir: &Workdir) -> Vec<u32> {
    dir.lines("pids.txt")
        .iter()
        .map(|line| line.parse().unwrap())
        .collect()
}

const UPPERCASE: &str = "for line in sys.stdin:\n    \
     record = json.loads(line)\n    \
     record['name'] = record['name'].upper()\n    \
     print(json.dumps(record, separators=(',', ':')), flush=True)\n";

#[test]
fn a_python_child_uppercases_a_field_in_order() {
    let dir = Workdir::new();
    let argv = python(&dir, UPPERCASE);
    let p = pipeline(
        &dir,
        3000,
        &format!(
            "{argv}\noutput = \"json_lines\"\nconcurrency = 2\nordered = true\ntimeout = \"10s\""
        ),
    );
    let output = run_to_end(&[&"run", &p]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let expected: Vec<String> = (0..3000)
        .map(|n| format!("{{\"n\":{n},\"name\":\"ADA-{n}\"}}"))
        .collect();
    assert_eq!(dir.lines("out.jsonl"), expected);
    assert_eq!(pids(&dir).len(), 2, "two long-lived children, no more");
    assert!(books(&err).balances());
}

#[test]
fn a_child_that_exits_after_n_records_is_restarted_and_nothing_is_lost() {
    let dir = Workdir::new();
    let body = "for count, line in enumerate(sys.stdin):\n    \
         print(line.strip(), flush=True)\n    \
         if count == 9:\n        sys.exit(0)\n";
    let argv = python(&dir, body);
    let p = pipeline(
        &dir,
        200,
        &format!(
            "{argv}\noutput = \"json_lines\"\ntimeout = \"10s\"\n\
             retries = {{ max_attempts = 50, backoff = \"1ms\", max_backoff = \"5ms\" }}"
        ),
    );
    let output = run_to_end(&[&"run", &p]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let books = books(&err);
    assert_eq!((books.received, books.delivered), (200, 200), "{books}");
    let out = dir.sorted_numbers("out.jsonl", "n");
    assert_eq!(out, (0..200).collect::<Vec<_>>());
    assert!(pids(&dir).len() >= 20, "restarted: {:?}", pids(&dir));
}

#[test]
fn a_child_that_never_answers_is_restarted_and_its_records_dead_lettered_with_its_stderr() {
    let dir = Workdir::new();
    let body = "for line in sys.stdin:\n    \
         print(f'stuck on {line.strip()}', file=sys.stderr, flush=True)\n";
    let argv = python(&dir, body);
    let p = pipeline(
        &dir,
        3,
        &format!(
            "{argv}\ntimeout = \"500ms\"\nretries = {{ max_attempts = 2, backoff = \"10ms\" }}"
        ),
    );
    let dead = dir.path("dead.jsonl");
    let output = run_to_end(&[&"run", &p, &"--dead-letter", &dead]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let books = books(&err);
    assert_eq!((books.received, books.dead_lettered), (3, 3), "{books}");
    for line in dir.lines("dead.jsonl") {
        let letter: serde_json::Value = serde_json::from_str(&line).unwrap();
        let reason = letter["reason"].as_str().unwrap();
        assert!(reason.contains("gave no answer for 500ms"), "{reason}");
        assert!(reason.contains("stuck on {\"n\":"), "{reason}");
    }
    assert!(pids(&dir).len() >= 2, "restarted: {:?}", pids(&dir));
}

/// Whether process `pid` still runs (a zombie waiting for its reaper does
/// not).
fn runs(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
    !state.starts_with('Z') && !state.starts_with('X')
}

#[test]
fn stopping_the_run_leaves_no_child_behind() {
    let dir = Workdir::new();
    // Answers slowly and ignores the end of its input for a while.
    let body = "for line in sys.stdin:\n    \
         time.sleep(0.01)\n    \
         print(line.strip(), flush=True)\n\
         time.sleep(60)\n";
    let argv = python(&dir, body);
    let p = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"generate\"\nrate = \"200/s\"\n\n\
             [[stage]]\ntype = \"command\"\nmode = \"stream\"\n{argv}\nconcurrency = 3\ntimeout = \"10s\"\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&dir.path("out.jsonl"))
        ),
    );
    let run = Running::start(&[&"run", &p]);
    let started = std::time::Instant::now();
    while pids(&dir).len() < 3 || dir.lines("out.jsonl").len() < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "children did not start: {}",
            run.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let children = pids(&dir);
    assert!(children.iter().all(|&pid| runs(pid)));
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    // The children are killed as the run ends; give the kernel a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while children.iter().any(|&pid| runs(pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = children.into_iter().filter(|&pid| runs(pid)).collect();
    assert!(left.is_empty(), "children left running: {left:?}");
    assert!(Path::new(&dir.path("out.jsonl")).exists());
}
