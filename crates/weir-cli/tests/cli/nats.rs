//! The `nats` source and sink against a real `nats-server -js` each test
//! starts for itself (see `nats_server.rs`): records make the round trip
//! with the books balanced on both sides; two workers share a consumer and
//! one killed with SIGKILL loses nothing; a slow pipeline stops the pulls;
//! a broker restart loses nothing; a poison message is dead-lettered once;
//! a message on its `max_deliver`-th delivery is dead-lettered with its
//! delivery count; a consumer with other settings is refused, naming the
//! setting.
//!
//! Sizes are kept small so the file runs in well under a minute: 20k
//! messages for the kill test, not a million (the million-message memory
//! run is the bench's `nats` suite).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::common::{books, poll, run_to_end, stderr, toml_path, Running, Workdir};
use crate::nats_server::NatsServer;

/// Publishes `count` generated records `{"kind": "a", "id": N}` to
/// `subject` through weir's `nats` sink, creating `stream`.
fn publish(server: &NatsServer, dir: &Workdir, stream: &str, subject: &str, count: u64) {
    publish_kind(server, dir, stream, subject, count, "a");
}

/// As [`publish`], the records of kind `kind`.
fn publish_kind(
    server: &NatsServer,
    dir: &Workdir,
    stream: &str,
    subject: &str,
    count: u64,
    kind: &str,
) {
    let pipeline = dir.write(
        "publish.toml",
        format!(
            "[source]\ntype = \"generate\"\ncount = {count}\ntemplate = {{ kind = \"{kind}\" }}\n\n\
             [sink]\ntype = \"nats\"\nurl = \"{}\"\nsubject = \"{subject}\"\nstream = \"{stream}\"\n",
            server.url()
        ),
    );
    let output = run_to_end(&[&"run", &pipeline]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let books = books(&err);
    assert_eq!((books.received, books.delivered), (count, count), "{err}");
}

/// A worker: the `nats` source on `stream`/`consumer`, `stages` (TOML),
/// a file sink to `out`.
fn worker(
    dir: &Workdir,
    name: &str,
    server: &NatsServer,
    source: &str,
    stages: &str,
    out: &str,
) -> PathBuf {
    dir.write(
        name,
        format!(
            "[links]\ncapacity = 32\n\n\
             [source]\ntype = \"nats\"\nurl = \"{}\"\nstream = \"EVENTS\"\nconsumer = \"workers\"\n\
             format = \"json\"\n{source}\n\n{stages}\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            server.url(),
            toml_path(&dir.path(out))
        ),
    )
}

/// Waits until file `out` has `count` lines.
fn wait_for_lines(dir: &Workdir, out: &str, count: usize, run: &Running) {
    poll(Duration::from_secs(30), || {
        (dir.lines(out).len() >= count).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "{} of {count} lines in {out}; stderr:\n{}",
            dir.lines(out).len(),
            run.stderr()
        )
    });
}

/// The ids in an output file, read while its worker may still write it or
/// after it was killed (at most one line torn).
fn ids(dir: &Workdir, out: &str) -> Vec<u64> {
    dir.sorted_numbers_after_kills(out, "id", 1)
}

#[test]
fn records_make_the_round_trip_and_the_books_balance_on_both_sides() {
    let server = NatsServer::start();
    let dir = Workdir::new();
    publish(&server, &dir, "EVENTS", "events.in", 2000);
    assert_eq!(server.stream_messages("EVENTS"), 2000);
    let pipeline = worker(&dir, "w.toml", &server, "", "", "out.jsonl");
    let run = Running::start(&[&"run", &pipeline]);
    wait_for_lines(&dir, "out.jsonl", 2000, &run);
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    let books = books(&err);
    assert_eq!((books.received, books.delivered), (2000, 2000), "{err}");
    assert!(books.balances(), "{books}");
    assert_eq!(ids(&dir, "out.jsonl"), (0..2000).collect::<Vec<_>>());
    let consumer = server.consumer("EVENTS", "workers");
    assert_eq!(consumer.num_ack_pending, 0, "{consumer:?}");
    assert_eq!(consumer.num_pending, 0, "{consumer:?}");
    assert_eq!(consumer.num_redelivered, 0, "{consumer:?}");
}

#[test]
fn a_worker_killed_mid_run_leaves_its_messages_to_the_other() {
    const COUNT: u64 = 20_000;
    let server = NatsServer::start();
    let dir = Workdir::new();
    publish(&server, &dir, "EVENTS", "events.in", COUNT);
    let source = "ack_wait = \"2s\"";
    let slow = "[[stage]]\ntype = \"throttle\"\nrate = \"4000/s\"";
    let a = worker(&dir, "a.toml", &server, source, slow, "a.jsonl");
    let b = worker(&dir, "b.toml", &server, source, slow, "b.jsonl");
    let mut first = Running::start(&[&"run", &a]);
    let second = Running::start(&[&"run", &b]);
    wait_for_lines(&dir, "a.jsonl", 2000, &first);
    first.child.kill().expect("SIGKILL the first worker");
    let _ = first.child.wait();
    // Everything arrives: the dead worker's unacked messages come back to
    // the other after ack_wait.
    poll(Duration::from_secs(40), || {
        let mut seen = ids(&dir, "a.jsonl");
        seen.extend(ids(&dir, "b.jsonl"));
        seen.sort_unstable();
        seen.dedup();
        (seen.len() as u64 == COUNT).then_some(())
    })
    .unwrap_or_else(|| panic!("not every message arrived; stderr:\n{}", second.stderr()));
    second.terminate();
    let (code, err) = second.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for id in ids(&dir, "a.jsonl").into_iter().chain(ids(&dir, "b.jsonl")) {
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!(counts.len() as u64, COUNT);
    let duplicates: u32 = counts.values().map(|n| n - 1).sum();
    // What the dead worker can have had in flight: a pull batch (the link
    // capacity, 32) not yet taken, two links of 32, a record in the
    // throttle and one in the sink.
    assert!(duplicates <= 32 * 3 + 2, "{duplicates} duplicates");
    let consumer = server.consumer("EVENTS", "workers");
    assert_eq!(consumer.num_ack_pending, 0, "{consumer:?}");
    assert_eq!(consumer.num_pending, 0, "{consumer:?}");
}

#[test]
fn a_slow_pipeline_stops_the_pulls() {
    let server = NatsServer::start();
    let dir = Workdir::new();
    publish(&server, &dir, "EVENTS", "events.in", 5000);
    let slow = "[[stage]]\ntype = \"throttle\"\nrate = \"100/s\"";
    let pipeline = worker(&dir, "w.toml", &server, "", slow, "out.jsonl");
    let run = Running::start(&[&"run", &pipeline]);
    wait_for_lines(&dir, "out.jsonl", 50, &run);
    let mut most = 0;
    for _ in 0..10 {
        most = most.max(server.consumer("EVENTS", "workers").num_ack_pending);
        std::thread::sleep(Duration::from_millis(100));
    }
    // A pull batch (32) beyond two links of 32 and the records in the
    // throttle and the sink: far less than the 5000 the stream holds.
    assert!(most <= 32 * 3 + 2, "{most} unacked");
    assert!(most > 0);
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    let books = books(&err);
    assert_eq!(books.nacked, 0, "{err}");
    // Drained: every message the worker had was acked or nakked, none is
    // left to wait for ack_wait.
    let consumer = server.consumer("EVENTS", "workers");
    assert_eq!(consumer.num_ack_pending, 0, "{consumer:?}");
    assert_eq!(
        consumer.num_pending + books.delivered,
        5000,
        "{consumer:?} {books}"
    );
}

#[test]
fn a_broker_restart_loses_nothing() {
    const COUNT: u64 = 3000;
    let mut server = NatsServer::start();
    let dir = Workdir::new();
    publish(&server, &dir, "EVENTS", "events.in", COUNT);
    let pipeline = dir.write(
        "relay.toml",
        format!(
            "[links]\ncapacity = 32\n\n\
             [source]\ntype = \"nats\"\nurl = \"{url}\"\nstream = \"EVENTS\"\nconsumer = \"relay\"\n\
             format = \"json\"\n\n\
             [[stage]]\ntype = \"throttle\"\nrate = \"500/s\"\n\n\
             [sink]\ntype = \"nats\"\nurl = \"{url}\"\nsubject = \"copies.{{kind}}\"\nstream = \"COPIES\"\n",
            url = server.url()
        ),
    );
    let run = Running::start(&[&"run", &pipeline]);
    poll(Duration::from_secs(20), || {
        (server.stream_messages("COPIES") > 500).then_some(())
    })
    .unwrap_or_else(|| panic!("no copies; stderr:\n{}", run.stderr()));
    server.restart();
    poll(Duration::from_secs(40), || {
        (server.stream_messages("COPIES") >= COUNT).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "copies missing after the restart; stderr:\n{}",
            run.stderr()
        )
    });
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    // Every message copied, once: a message redelivered after the restart
    // carries its origin as message id, so the copy stream drops it.
    assert_eq!(server.stream_messages("COPIES"), COUNT);
    let consumer = server.consumer("EVENTS", "relay");
    assert_eq!(consumer.num_pending, 0, "{consumer:?}");
    // The progress lines and the summary show the reconnect, the source's
    // with its pending acks, the sink's on its own.
    assert!(
        err.contains("pending_acks 0, redeliveries 0, connected to NATS (1 reconnect)"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|line| line.trim() == "nats: connected to NATS (1 reconnect)"),
        "{err}"
    );
}

#[test]
fn a_poison_message_is_dead_lettered_once_and_acked() {
    let server = NatsServer::start();
    let dir = Workdir::new();
    publish(&server, &dir, "EVENTS", "events.in", 100);
    let failing = "[[stage]]\ntype = \"json\"\n\
                   filter = 'if .id == 42 then error(\"poison\") else . end'";
    let pipeline = worker(
        &dir,
        "w.toml",
        &server,
        "ack_wait = \"1s\"",
        failing,
        "out.jsonl",
    );
    let dead = dir.path("dead.jsonl");
    let run = Running::start(&[&"run", &pipeline, &"--dead-letter", &dead]);
    wait_for_lines(&dir, "out.jsonl", 99, &run);
    // Longer than ack_wait: a message left unacked would come back.
    std::thread::sleep(Duration::from_millis(2500));
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    let books = books(&err);
    assert_eq!((books.received, books.dead_lettered), (100, 1), "{err}");
    let letters = dir.lines("dead.jsonl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].contains("poison"), "{letters:?}");
    let consumer = server.consumer("EVENTS", "workers");
    assert_eq!(consumer.num_ack_pending, 0, "{consumer:?}");
    assert_eq!(consumer.num_redelivered, 0, "{consumer:?}");
}

#[test]
fn a_message_at_max_deliver_is_dead_lettered_with_its_delivery_count() {
    let server = NatsServer::start();
    let dir = Workdir::new();
    publish_kind(&server, &dir, "EVENTS", "events.in", 1, "poison");
    // The poison fails a fail-fast stage: the run stops (exit 3) and the
    // message is nakked, so it comes again at once, to the next run.
    let failing = "[[stage]]\ntype = \"json\"\nfail_fast = true\n\
                   filter = 'if .kind == \"poison\" then error(\"poison\") else . end'";
    let pipeline = worker(
        &dir,
        "w.toml",
        &server,
        "max_deliver = 3\nack_wait = \"1s\"",
        failing,
        "out.jsonl",
    );
    let dead = dir.path("dead.jsonl");
    for delivery in 1..=2 {
        let output = run_to_end(&[&"run", &pipeline, &"--dead-letter", &dead]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(3), "delivery {delivery}: {err}");
        assert_eq!(books(&err).nacked, 1, "delivery {delivery}: {err}");
        // Each failed run took it once: its nak did not come straight
        // back to the run's own pull request.
        let consumer = server.consumer("EVENTS", "workers");
        assert_eq!(
            consumer.delivered.consumer_sequence, delivery,
            "{consumer:?}"
        );
    }
    // The third delivery is the consumer's last: dead-lettered at the
    // source (the stage never sees it), acked; the run goes on with the
    // messages that follow.
    publish(&server, &dir, "EVENTS", "events.in", 10);
    let run = Running::start(&[&"run", &pipeline, &"--dead-letter", &dead]);
    wait_for_lines(&dir, "out.jsonl", 10, &run);
    poll(Duration::from_secs(10), || {
        (dir.lines("dead.jsonl").len() == 1).then_some(())
    })
    .unwrap_or_else(|| panic!("no dead letter; stderr:\n{}", run.stderr()));
    // Longer than ack_wait: a message left unacked would come back.
    std::thread::sleep(Duration::from_millis(2500));
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    let books = books(&err);
    assert_eq!((books.received, books.delivered), (11, 10), "{err}");
    assert_eq!(books.dead_lettered, 1, "{err}");
    let letters = dir.lines("dead.jsonl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0].contains("delivered 3 times (the consumer's max_deliver)"),
        "{letters:?}"
    );
    assert!(letters[0].contains("poison"), "{letters:?}");
    assert_eq!(ids(&dir, "out.jsonl"), (0..10).collect::<Vec<_>>());
    let consumer = server.consumer("EVENTS", "workers");
    assert_eq!(consumer.num_ack_pending, 0, "{consumer:?}");
    assert_eq!(consumer.num_pending, 0, "{consumer:?}");
    // Three deliveries of the poison, one of each of the ten.
    assert_eq!(consumer.delivered.consumer_sequence, 13, "{consumer:?}");
}

#[test]
fn a_consumer_with_other_settings_is_refused_naming_the_setting() {
    let server = NatsServer::start();
    let dir = Workdir::new();
    publish(&server, &dir, "EVENTS", "events.in", 10);
    let first = worker(&dir, "a.toml", &server, "", "", "a.jsonl");
    let run = Running::start(&[&"run", &first]);
    wait_for_lines(&dir, "a.jsonl", 10, &run);
    run.terminate();
    run.wait(Duration::from_secs(20));
    let other = worker(&dir, "b.toml", &server, "ack_wait = \"10s\"", "", "b.jsonl");
    let output = run_to_end(&[&"run", &other]);
    let err = stderr(&output);
    assert_ne!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains("ack_wait = 30s, the pipeline asks for 10s"),
        "{err}"
    );
}

#[test]
fn a_missing_stream_without_a_subject_is_an_error_that_says_so() {
    let server = NatsServer::start();
    let dir = Workdir::new();
    let pipeline = worker(&dir, "w.toml", &server, "", "", "out.jsonl");
    let output = run_to_end(&[&"run", &pipeline]);
    let err = stderr(&output);
    assert_ne!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains("stream \"EVENTS\" does not exist (give `subject` to create it)"),
        "{err}"
    );
}
