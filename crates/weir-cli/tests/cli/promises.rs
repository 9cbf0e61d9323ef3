//! Promises of the README, each checked through the real binary against
//! what it wrote and what a client sent: the stdin source, `ordered`, a
//! batch's `max_wait`, bad input through tcp and stdin, exit 1 for dropped
//! records, the first ten dead letters on stderr, the tcp sink's
//! backpressure, and the HTTP source's 413.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    assert_books_match, books, http_client, poll, stderr, toml_path, weir, Running, Workdir,
};

/// Runs `weir` with `input` on its stdin; returns (exit code, stdout, stderr).
fn run_with_stdin(
    args: &[&dyn AsRef<std::ffi::OsStr>],
    input: &[u8],
) -> (Option<i32>, String, String) {
    let mut child = weir(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weir");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("wait for weir");
    writer.join().unwrap().expect("write stdin");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr(&output),
    )
}

#[test]
fn the_stdin_source_reads_lines_and_dead_letters_bad_ones() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"stdin\"\nmax_line_length = 20\n\n[sink]\ntype = \"stdout\"\n",
    );
    let dead = dir.path("dead.jsonl");
    let input = b"alpha\nbeta\n\xff\xfe\nthis line is far too long for the limit\ngamma\n";
    let (code, out, err) = run_with_stdin(&[&"run", &pipeline, &"--dead-letter", &dead], input);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out, "alpha\nbeta\ngamma\n");
    let books = books(&err);
    assert_eq!(
        (books.received, books.delivered, books.dead_lettered),
        (5, 3, 2),
        "{err}"
    );
    let letters = dir.lines("dead.jsonl");
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(letters[0].contains("invalid UTF-8"), "{letters:?}");
    assert!(
        letters[1].contains("longer than max_line_length"),
        "{letters:?}"
    );
    let written: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_books_match(&books, &written, &letters, Some(5));
}

#[test]
fn the_stdin_source_reads_json_and_skips_blank_lines() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"stdin\"\nformat = \"json\"\n\n[sink]\ntype = \"stdout\"\n",
    );
    let dead = dir.path("dead.jsonl");
    let input = b"{\"n\": 1}\n\n   \n{broken\n{\"n\": 2}\n";
    let (code, out, err) = run_with_stdin(&[&"run", &pipeline, &"--dead-letter", &dead], input);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out, "{\"n\":1}\n{\"n\":2}\n");
    let books = books(&err);
    assert_eq!(
        (books.received, books.delivered, books.dead_lettered),
        (3, 2, 1),
        "{err}"
    );
    let letters = dir.lines("dead.jsonl");
    assert_eq!(letters.len(), 1);
    assert!(letters[0].contains("malformed JSON"), "{letters:?}");
    let written: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_books_match(&books, &written, &letters, Some(3));
}

/// Eight records through a command stage of concurrency 4 in which record
/// 0 takes 300 ms and the others no time; the ids in output order.
fn through_a_slow_first_record(ordered: bool) -> Vec<u64> {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"generate\"\ncount = 8\n\n\
             [[stage]]\ntype = \"command\"\n\
             argv = [\"sh\", \"-c\", '''read x; case \"$x\" in *'\"id\":0}}'*) sleep 0.3;; esac; echo \"$x\"''']\n\
             concurrency = 4\ntimeout = \"20s\"\nordered = {ordered}\n\n\
             [sink]\ntype = \"stdout\"\n"
        ),
    );
    let (code, out, err) = run_with_stdin(&[&"run", &pipeline, &"--quiet"], b"");
    assert_eq!(code, Some(0), "{err}");
    out.lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn ordered_keeps_the_input_order_with_concurrency() {
    assert_eq!(
        through_a_slow_first_record(true),
        (0..8).collect::<Vec<_>>()
    );
    // Without `ordered`, the slow first record is overtaken: the check above
    // could fail.
    let unordered = through_a_slow_first_record(false);
    let mut sorted = unordered.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..8).collect::<Vec<_>>());
    assert_ne!(unordered[0], 0, "{unordered:?}");
}

/// A tcp source (one connection) into `stages` and a file sink `out.jsonl`.
fn tcp_pipeline(dir: &Workdir, stages: &str) -> std::path::PathBuf {
    dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"tcp\"\nlisten = \"127.0.0.1:0\"\nformat = \"json\"\nonce = true\n\n\
             {stages}\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&dir.path("out.jsonl"))
        ),
    )
}

#[test]
fn a_partial_batch_leaves_after_max_wait() {
    let dir = Workdir::new();
    let pipeline = tcp_pipeline(
        &dir,
        "[[stage]]\ntype = \"batch\"\nsize = 100\nmax_wait = \"300ms\"\n",
    );
    let run = Running::start(&[&"run", &pipeline, &"--quiet"]);
    let mut sender = TcpStream::connect(run.listening()).unwrap();
    sender
        .write_all(b"{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n")
        .unwrap();
    let sent = Instant::now();
    // The connection stays open: only max_wait can let the batch go.
    let batch = poll(Duration::from_secs(10), || dir.lines("out.jsonl").pop())
        .unwrap_or_else(|| panic!("no batch while the sender waits; stderr:\n{}", run.stderr()));
    let waited = sent.elapsed();
    assert_eq!(batch, "[{\"n\":1},{\"n\":2},{\"n\":3}]");
    assert!(
        waited >= Duration::from_millis(250),
        "left after {waited:?}"
    );
    drop(sender);
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(books(&err).delivered, 3, "{err}");
}

#[test]
fn bad_input_through_tcp_is_dead_lettered_and_the_run_goes_on() {
    let dir = Workdir::new();
    let pipeline = tcp_pipeline(&dir, "");
    let dead = dir.path("dead.jsonl");
    let run = Running::start(&[&"run", &pipeline, &"--quiet", &"--dead-letter", &dead]);
    let mut sender = TcpStream::connect(run.listening()).unwrap();
    sender
        .write_all(b"{\"n\": 1}\nnot json\n\xff\xfe\n{\"n\": 2}\n")
        .unwrap();
    drop(sender);
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{err}");
    let books = books(&err);
    assert_eq!(
        (books.received, books.delivered, books.dead_lettered),
        (4, 2, 2),
        "{err}"
    );
    assert_eq!(dir.lines("out.jsonl"), vec!["{\"n\":1}", "{\"n\":2}"]);
    let letters = dir.lines("dead.jsonl");
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(
        letters.iter().all(|l| l.contains("malformed JSON")),
        "{letters:?}"
    );
    assert_books_match(&books, &dir.lines("out.jsonl"), &letters, Some(4));
}

#[test]
fn dropped_records_exit_1_and_the_books_match_the_output() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[links]\ncapacity = 1\nwhen_full = \"drop_newest\"\n\n\
             [source]\ntype = \"generate\"\ncount = 300\n\n\
             [[stage]]\ntype = \"throttle\"\nrate = \"100/s\"\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&dir.path("out.jsonl"))
        ),
    );
    let (code, _, err) = run_with_stdin(&[&"run", &pipeline, &"--quiet"], b"");
    assert_eq!(code, Some(1), "{err}");
    let books = books(&err);
    assert!(books.dropped > 0, "{err}");
    assert_eq!(books.received, 300, "{err}");
    assert_eq!(books.received, books.delivered + books.dropped, "{err}");
    assert_eq!(dir.lines("out.jsonl").len() as u64, books.delivered);
}

#[test]
fn the_first_ten_dead_letters_are_shown_on_stderr_and_the_rest_counted() {
    let dir = Workdir::new();
    let input: String = (0..12).map(|n| format!("bad {n}\n")).collect::<String>() + "{\"ok\": 1}\n";
    let input = dir.write("in.jsonl", input);
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\nformat = \"json\"\n\n[sink]\ntype = \"stdout\"\n",
            toml_path(&input)
        ),
    );
    let (code, out, err) = run_with_stdin(&[&"run", &pipeline], b"");
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(out, "{\"ok\":1}\n");
    let shown = err
        .lines()
        .filter(|l| l.starts_with("dead letter at"))
        .count();
    assert_eq!(shown, 10, "{err}");
    assert!(err.contains("further dead letters are counted"), "{err}");
    assert_eq!(books(&err).dead_lettered, 12, "{err}");
}

#[test]
fn a_slow_tcp_reader_holds_the_pipeline_back_and_loses_nothing() {
    let reader = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = Workdir::new();
    let count = 40_000;
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"generate\"\ncount = {count}\ntemplate = {{ pad = \"{}\" }}\n\n\
             [sink]\ntype = \"tcp\"\naddress = \"{}\"\n",
            "x".repeat(1000),
            reader.local_addr().unwrap()
        ),
    );
    let mut run = Running::start(&[&"run", &pipeline, &"--quiet"]);
    let (connection, _) = reader.accept().unwrap();
    // 40 MB cannot fit in the socket buffers: while nobody reads, the sink
    // waits, and so does the run.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "the run ended while its reader read nothing; stderr:\n{}",
        run.stderr()
    );
    let mut lines = 0u64;
    let mut ids = Vec::new();
    for line in BufReader::new(connection).lines() {
        let line = line.unwrap();
        let record: serde_json::Value = serde_json::from_str(&line).unwrap();
        ids.push(record["id"].as_u64().unwrap());
        lines += 1;
    }
    let (code, err) = run.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(lines, count, "{err}");
    assert_eq!(ids, (0..count).collect::<Vec<_>>());
    assert_eq!(books(&err).delivered, count, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_source_refuses_a_body_too_large_with_413() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 64\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&dir.path("out.txt"))
        ),
    );
    let run = Running::start(&[&"run", &pipeline, &"--quiet"]);
    let url = format!("http://{}/ingest", run.listening());
    let client = http_client();
    let large = "y".repeat(200) + "\n";
    let response = client.post(&url).body(large).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let response = client.post(&url).body("small\n").send().await.unwrap();
    assert_eq!(response.status(), 200);
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    let books = books(&err);
    assert_eq!((books.received, books.delivered), (1, 1), "{err}");
    assert_eq!(dir.lines("out.txt"), vec!["small"]);
}
