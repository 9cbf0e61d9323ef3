//! SIGTERM in the middle of a run drains it: nothing is lost (records in =
//! records out + dead letters), the books are printed, the exit code is 130.

use std::time::Duration;

use crate::common::{books, toml_path, Running, Workdir};

#[test]
fn sigterm_drains_and_loses_nothing() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[links]\ncapacity = 32\n\n\
             [source]\ntype = \"generate\"\ntemplate = {{ payload = \"x\" }}\n\n\
             [[stage]]\ntype = \"json\"\nfilter = 'has(\"payload\")'\n\n\
             [[stage]]\ntype = \"throttle\"\nrate = \"400/s\"\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&dir.path("out.jsonl"))
        ),
    );
    let dead = dir.path("dead.jsonl");
    let run = Running::start(&[&"run", &pipeline, &"--dead-letter", &dead]);
    std::thread::sleep(Duration::from_millis(1500));
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("SIGTERM: draining"), "{err}");
    let books = books(&err);
    assert!(books.received > 100, "{books:?}");
    assert_eq!(books.nacked, 0, "{books:?}");
    assert_eq!(
        books.received,
        books.delivered + books.dead_lettered,
        "{books:?}"
    );
    assert_eq!(dir.lines("out.jsonl").len() as u64, books.delivered);
    assert_eq!(dir.lines("dead.jsonl").len() as u64, books.dead_lettered);
}

fn slow_pipeline(dir: &Workdir) -> std::path::PathBuf {
    dir.write(
        "slow.toml",
        "[source]\ntype = \"generate\"\n\n\
         [[stage]]\ntype = \"throttle\"\nname = \"crawl\"\nrate = \"5/s\"\n\n\
         [sink]\ntype = \"stdout\"\n",
    )
}

#[test]
fn a_second_signal_stops_at_once_and_names_what_was_left() {
    let dir = Workdir::new();
    let pipeline = slow_pipeline(&dir);
    let run = Running::start(&[&"run", &pipeline]);
    std::thread::sleep(Duration::from_millis(800));
    run.terminate();
    std::thread::sleep(Duration::from_millis(300));
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("SIGTERM: stopping now"), "{err}");
    assert!(err.contains("at crawl (nacked)"), "{err}");
    let books = books(&err);
    assert!(books.nacked > 0, "{books:?}");
    assert_eq!(books.received, books.delivered + books.nacked, "{books:?}");
}

#[test]
fn a_drain_past_its_deadline_abandons_the_rest() {
    let dir = Workdir::new();
    let pipeline = slow_pipeline(&dir);
    let run = Running::start(&[&"run", &pipeline, &"--drain-timeout", &"300ms"]);
    std::thread::sleep(Duration::from_millis(800));
    let terminated = std::time::Instant::now();
    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    let drained = terminated.elapsed();
    assert_eq!(code, Some(130), "{err}");
    // The 64 held records need ~13 s at 5/s, more than the 10 s default: the
    // drain ended at the 300 ms given, not at the default or when done.
    assert!(
        drained >= Duration::from_millis(300) && drained < Duration::from_secs(5),
        "the drain took {drained:?}"
    );
    let books = books(&err);
    assert!(books.nacked > 0, "{books:?}");
    assert_eq!(books.received, books.delivered + books.nacked, "{books:?}");
}
