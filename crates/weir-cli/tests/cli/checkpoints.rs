//! The file source's checkpoints, with the real binary on real files: a run
//! killed with SIGKILL at random points and run again with the same data
//! directory delivers every line, with duplicates within the stated bound;
//! a drain (SIGTERM) and a resume deliver every line exactly once; follow
//! mode survives rotation and truncation; the data directory is locked; a
//! damaged checkpoint is reported, never guessed around.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rand::Rng;

use crate::common::{books, poll, run_to_end, stderr, toml_path, weir, Running, Workdir};

/// Lines `{"n": from}` .. `{"n": to - 1}`.
fn numbered(from: u64, to: u64) -> String {
    (from..to).map(|n| format!("{{\"n\":{n}}}\n")).collect()
}

/// How often each number occurs in the output file, where `kills` runs
/// were killed with SIGKILL (each may have torn a line).
fn counts(work: &Workdir, name: &str, kills: usize) -> BTreeMap<u64, u64> {
    let mut counts = BTreeMap::new();
    for n in work.sorted_numbers_after_kills(name, "n", kills) {
        *counts.entry(n).or_insert(0) += 1;
    }
    counts
}

fn pipeline(work: &Workdir, source_extra: &str, rate: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
        [source]
        type = "file"
        path = "{input}"
        format = "json"
        checkpoint_interval = "100ms"
        {source_extra}

        [[stage]]
        type = "throttle"
        rate = "{rate}"

        [sink]
        type = "file"
        path = "{output}"
        "#,
        input = toml_path(&work.path("in.jsonl")),
        output = toml_path(&work.path("out.jsonl")),
    );
    work.write("p.toml", text)
}

fn start(pipeline: &Path, data: &Path, extra: &[&str]) -> Running {
    let mut command = weir(&[&"run", &pipeline, &"--data-dir", &data]);
    command.args(extra);
    Running::spawn(command)
}

#[test]
fn killed_runs_resume_and_every_line_arrives_with_bounded_duplicates() {
    const LINES: u64 = 200_000;
    const RATE: u64 = 50_000;
    let work = Workdir::new();
    work.write("in.jsonl", numbered(0, LINES));
    let pipeline = pipeline(&work, "", &format!("{RATE}/s"));
    let data = work.path("data");
    let mut rng = rand::rng();
    let mut kills = 0;
    let mut resumed = 0;
    for _ in 0..5 {
        let run = start(&pipeline, &data, &[]);
        std::thread::sleep(Duration::from_millis(rng.random_range(150..600)));
        if run.child.id() > 0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &run.child.id().to_string()])
                .status();
        }
        let (code, text) = run.wait(Duration::from_secs(10));
        if code.is_some() {
            // It ended before the kill: nothing to resume from.
            break;
        }
        kills += 1;
        resumed += usize::from(text.contains("resuming"));
    }
    let output = weir(&[&"run", &pipeline, &"--data-dir", &data])
        .output()
        .expect("run weir");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(kills >= 3, "the runs were killed mid-way ({kills} kills)");
    assert!(
        text.contains("resuming") && text.contains("in.jsonl at line"),
        "the last run resumed: {text}"
    );
    let counts = counts(&work, "out.jsonl", kills as usize);
    assert_eq!(counts.len() as u64, LINES, "every input line arrived");
    let duplicates: u64 = counts.values().map(|n| n - 1).sum();
    // Per kill: what finished since the last checkpoint write (at most
    // RATE per second for the 100ms interval, with a write that may take a
    // moment more) plus what was written but not yet flushed and
    // acknowledged (at most one flush batch of 1024).
    let bound = kills * (RATE / 10 * 2 + 1024);
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates after {kills} kills (bound {bound})"
    );
    eprintln!("{kills} kills, {resumed} resumed runs before the last, {duplicates} duplicates");
    // Every killed run but the first (and one killed before its first
    // checkpoint write) resumed.
    assert!(
        resumed + 2 >= kills as usize,
        "{resumed} of {kills} resumed"
    );
    // The batch was read to its end: its checkpoints are forgotten, so a
    // new run reads the file again.
    assert!(!data.join("checkpoints/file.json").exists());
}

#[test]
fn a_drained_run_resumes_with_every_line_exactly_once() {
    const LINES: u64 = 30_000;
    let work = Workdir::new();
    work.write("in.jsonl", numbered(0, LINES));
    let pipeline = pipeline(&work, "", "20000/s");
    let data = work.path("data");
    let run = start(&pipeline, &data, &[]);
    poll(Duration::from_secs(10), || {
        (work.lines("out.jsonl").len() > 2000).then_some(())
    })
    .expect("the run delivers");
    run.terminate();
    let (code, first) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{first}");
    let delivered_first = books(&first).delivered;
    assert!(delivered_first < LINES, "interrupted mid-way: {first}");
    assert!(data.join("checkpoints/file.json").exists());

    let output = weir(&[&"run", &pipeline, &"--data-dir", &data])
        .output()
        .expect("run weir");
    let second = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{second}");
    let line = delivered_first + 1;
    assert!(
        second.contains(&format!(
            "resuming {} at line {line} (byte",
            work.path("in.jsonl").display()
        )),
        "{second}"
    );
    assert_eq!(books(&second).received, LINES - delivered_first, "{second}");
    let counts = counts(&work, "out.jsonl", 0);
    assert_eq!(counts.len() as u64, LINES);
    assert!(counts.values().all(|&n| n == 1), "no line twice");

    // Finished: a third run reads everything again.
    let output = weir(&[&"run", &pipeline, &"--data-dir", &data])
        .output()
        .expect("run weir");
    assert_eq!(books(&stderr(&output)).received, LINES);
}

#[test]
fn follow_mode_survives_rotation_and_truncation() {
    let work = Workdir::new();
    let log = work.path("in.jsonl");
    let append = |from: u64, to: u64| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        file.write_all(numbered(from, to).as_bytes()).unwrap();
    };
    let delivered = |n: usize| {
        poll(Duration::from_secs(10), || {
            (work.lines("out.jsonl").len() >= n).then_some(())
        })
        .unwrap_or_else(|| panic!("{n} lines delivered; got {}", work.lines("out.jsonl").len()))
    };
    append(0, 100);
    let pipeline = pipeline(&work, "follow = true\npoll_interval = \"20ms\"", "100000/s");
    let data = work.path("data");
    let run = start(&pipeline, &data, &[]);
    delivered(100);
    // Lines appended later, one without its newline yet.
    append(100, 150);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"{\"n\":15")
        .unwrap();
    delivered(150);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"0}\n")
        .unwrap();
    delivered(151);

    // Rename and create.
    std::fs::rename(&log, work.path("in.jsonl.1")).unwrap();
    append(151, 200);
    delivered(200);

    // Copy-truncate: copied away, then truncated in place, then written.
    std::fs::copy(&log, work.path("in.jsonl.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    poll(Duration::from_secs(10), || {
        run.stderr().contains("was truncated").then_some(())
    })
    .expect("the truncation is seen");
    append(200, 210);
    delivered(210);

    // Replaced by a shorter file (a new inode).
    std::fs::write(work.path("next"), numbered(210, 212)).unwrap();
    std::fs::rename(work.path("next"), &log).unwrap();
    delivered(212);

    run.terminate();
    let (code, text) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{text}");
    let counts = counts(&work, "out.jsonl", 0);
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (0..212).collect::<Vec<_>>()
    );
    assert!(
        counts.values().all(|&n| n == 1),
        "no line twice: {counts:?}"
    );
    let name = log.display().to_string();
    assert!(
        text.contains(&format!("warning: {name} was truncated")),
        "{text}"
    );
    assert!(text.contains(&format!("{name} is a new file")), "{text}");

    // Follow mode keeps its checkpoints: a new run reads only what is new.
    append(212, 215);
    let run = start(&pipeline, &data, &[]);
    delivered(215);
    run.terminate();
    let (_, text) = run.wait(Duration::from_secs(20));
    assert_eq!(books(&text).received, 3, "{text}");
}

#[test]
fn a_locked_data_directory_is_refused_and_a_killed_run_leaves_no_lock() {
    let work = Workdir::new();
    work.write("in.jsonl", numbered(0, 10));
    let pipeline = pipeline(&work, "follow = true", "1000/s");
    let data = work.path("data");
    let first = start(&pipeline, &data, &[]);
    poll(Duration::from_secs(10), || {
        (work.lines("out.jsonl").len() == 10).then_some(())
    })
    .expect("the first run delivers");
    let second = run_to_end(&[&"run", &pipeline, &"--data-dir", &data]);
    let text = stderr(&second);
    assert_eq!(second.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "data directory {} is in use by another weir run (pid {})",
            data.display(),
            first.child.id()
        )),
        "{text}"
    );
    let checkpoint = data.join("checkpoints/file.json");
    poll(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&checkpoint).ok()?;
        text.contains("\"line\": 10").then_some(())
    })
    .expect("the first run checkpoints its 10 lines");
    drop(first); // SIGKILL
    let third = start(&pipeline, &data, &[]);
    poll(Duration::from_secs(10), || {
        third.stderr().contains("resuming").then_some(())
    })
    .unwrap_or_else(|| panic!("the next run starts: {}", third.stderr()));
}

#[test]
fn a_damaged_checkpoint_is_reported_and_from_start_starts_over() {
    let work = Workdir::new();
    work.write("in.jsonl", numbered(0, 50));
    let pipeline = pipeline(&work, "", "100000/s");
    let data = work.path("data");
    let checkpoint = data.join("checkpoints/file.json");
    std::fs::create_dir_all(checkpoint.parent().unwrap()).unwrap();
    std::fs::write(&checkpoint, "{\"version\":1,\"crc").unwrap();
    let output = run_to_end(&[&"run", &pipeline, &"--data-dir", &data]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "the checkpoint file {} is corrupt",
            checkpoint.display()
        )),
        "{text}"
    );
    assert!(text.contains("--from-start"), "{text}");
    assert!(work.lines("out.jsonl").is_empty(), "nothing was read");

    let output = run_to_end(&[&"run", &pipeline, &"--data-dir", &data, &"--from-start"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(work.lines("out.jsonl").len(), 50);
}

#[test]
fn the_default_data_directory_is_named_after_the_pipeline_file() {
    let work = Workdir::new();
    work.write("in.jsonl", numbered(0, 5));
    let pipeline = pipeline(&work, "", "1000/s");
    let output = weir(&[&"run", &pipeline])
        .env_remove("WEIR_DATA_DIR")
        .current_dir(work.path(""))
        .output()
        .expect("run weir");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(work.path(".weir/p/lock").exists());
}
