//! The exit codes: 0 success, 1 dead letters, 2 config error, 3 run failed
//! (130 is in `sigterm`).

use crate::common::{books, run_to_end, stderr, toml_path, Workdir};

#[test]
fn a_clean_run_exits_0_with_its_books() {
    let dir = Workdir::new();
    let out = dir.path("out.jsonl");
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"generate\"\ncount = 500\ntemplate = {{ n = 1 }}\n\n\
             [[stage]]\ntype = \"json\"\nfilter = \".id >= 100\"\n\n\
             [[stage]]\ntype = \"batch\"\nsize = 100\nmax_wait = \"1s\"\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&out)
        ),
    );
    let output = run_to_end(&[&"run", &pipeline]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let books = books(&err);
    assert_eq!(
        (books.received, books.delivered, books.filtered),
        (500, 400, 100)
    );
    let batches = dir.lines("out.jsonl");
    assert_eq!(batches.len(), 4);
    let first: serde_json::Value = serde_json::from_str(&batches[0]).unwrap();
    assert_eq!(first[0]["id"], 100);
    assert!(
        output.stdout.is_empty(),
        "data went to stdout with a file sink"
    );
}

#[test]
fn data_goes_to_stdout_only_with_a_stdout_sink() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"generate\"\ncount = 3\n\n[sink]\ntype = \"stdout\"\n",
    );
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    let out = String::from_utf8(output.stdout).unwrap();
    assert_eq!(out, "{\"id\":0}\n{\"id\":1}\n{\"id\":2}\n");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn a_missing_file_is_a_config_error() {
    let output = run_to_end(&[&"run", &"/no/such/pipeline.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read /no/such/pipeline.toml"));
}

#[test]
fn a_fail_fast_stage_fails_the_run_with_3() {
    let dir = Workdir::new();
    dir.write("in.txt", "{\"ok\": 1}\nnot json\n");
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\n\n\
             [[stage]]\ntype = \"json\"\nfail_fast = true\n\n[sink]\ntype = \"stdout\"\n",
            toml_path(&dir.path("in.txt"))
        ),
    );
    let output = run_to_end(&[&"run", &pipeline]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("fail-fast"), "{err}");
}

#[test]
fn a_sink_that_cannot_connect_fails_with_3_and_points_at_it() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"generate\"\ncount = 1\n\n[sink]\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n",
    );
    let output = run_to_end(&[&"run", &pipeline]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(err.contains("p.toml:6:8"), "{err}");
    assert!(err.contains("cannot connect to 127.0.0.1:1"), "{err}");
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let output = run_to_end(&[&"--help"]);
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("weir run examples/quickstart.toml"), "{help}");
    assert!(help.contains("130 interrupted"), "{help}");
}
