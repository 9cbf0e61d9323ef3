//! The `jq` stage gives what the `jq` binary gives: a corpus of programs run
//! through the real `weir` binary and through `jq -c` on the same input,
//! record by record (outputs, filtered records, runtime errors dead-lettered
//! with the message), with the books balanced. A compile error is a config
//! error located in the pipeline file and in the program.

use std::process::Command;

use crate::common::{books, run_to_end, stderr, toml_path, Workdir};

/// The input: one JSON object a line, as logs are, and a few lines that
/// are not.
const INPUT: &[&str] = &[
    r#"{"id":0,"service":"api","level":"info","latency_ms":12,"msg":"GET /users","tags":["api","fast"]}"#,
    r#"{"id":1,"service":"db","level":"error","latency_ms":250,"msg":"timeout on query","tags":["db"],"nested":{"a":1}}"#,
    r#"{"id":2,"service":"auth","level":"warn","latency_ms":99.5,"msg":"slow login for \"bob\"","tags":[]}"#,
    r#"{"id":3,"service":"api","level":"error","latency_ms":1200,"msg":"upstream 502","tags":["api","retry","edge"]}"#,
    r#"{"id":4,"service":"café","level":"info","latency_ms":7,"msg":"ok ☕","tags":["ascii?"],"nested":{"a":null,"b":[1,2]}}"#,
    r#"{"id":5,"service":"db","level":"debug","latency_ms":0,"msg":"","tags":["db","idle"]}"#,
    // Where the jq stage's fast path must still answer as jq does: a key
    // repeated (the last wins), escapes in a compared field, a fraction
    // with a trailing zero, a value it skips unread, and a line that is
    // not an object (jaq runs it). (Not an array: jaq's `from_entries`
    // takes numbers as keys, jq 1.6 refuses them.)
    r#"{"id":6,"service":"a\u0070i","level":"info","latency_ms":1.50,"msg":"x","level":"error","tags":["x"],"skip":{"deep":[[["\ud83d\ude00"]]]}}"#,
    r#"{"id":7,"service":"db","level":"err\u006fr","latency_ms":3,"msg":"y","tags":[]}"#,
    r#""text""#,
];

/// Programs covering what people write: paths, `select`, object
/// construction, `map`, `to_entries`, several outputs, string functions,
/// arithmetic, `if`, `empty`, `error`, reductions.
const CORPUS: &[&str] = &[
    ".",
    ".service",
    ".nested.a",
    r#"select(.level == "error")"#,
    r#"select(.level == "error" and .latency_ms > 100) | {id, service, latency_ms}"#,
    r#"select(.level == "info" or .service == "db") | .id"#,
    "{id, fast: (.latency_ms < 100), n: (.tags | length)}",
    r#"{(.service): .level}"#,
    r#".tags | map(. + "!")"#,
    "to_entries | map(select(.value | type == \"number\")) | from_entries",
    r#"with_entries(.key |= ascii_upcase) | keys"#,
    "range(.id % 3)",
    ".tags[]",
    "[limit(2; .tags[])]",
    ".msg | ascii_upcase",
    r#".msg | split(" ") | length"#,
    r#".msg | test("time|slow")"#,
    r#""\(.service)/\(.level)#\(.id)""#,
    r#".msg | ltrimstr("GET ") | rtrimstr("502")"#,
    ".latency_ms * 2 + 1",
    ".latency_ms / 4",
    "(.latency_ms / 7 | floor), .id % 4",
    r#"if .level == "error" then "bad" elif .level == "warn" then "meh" else empty end"#,
    "empty",
    "del(.msg, .tags)",
    r#".nested.b // "none""#,
    r#"any(.tags[]; . == "db")"#,
    "reduce .tags[] as $t (0; . + ($t | length))",
    ".tags | sort | unique | join(\",\")",
    ".id as $i | [range($i)] | add",
    ".latency_ms | tostring",
    "tojson",
    r#"if .level == "error" then error("bad record \(.id)") else .id end"#,
    ".msg.x",
    r#".latency_ms + .service"#,
];

/// What `jq -c` makes of one input line: its output lines, or its error
/// message.
fn jq(program: &str, line: &str) -> Result<Vec<String>, String> {
    let dir = Workdir::new();
    let input = dir.write("in.json", line);
    let output = Command::new("jq")
        .arg("-c")
        .arg(program)
        .arg(&input)
        .output()
        .expect("the jq binary (Debian's `jq`; .ci/run installs it)");
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    if output.status.success() {
        Ok(text.lines().map(str::to_owned).collect())
    } else {
        Err(stderr(&output))
    }
}

/// What the sink writes for one line of `jq -c` output: a string's text
/// (a string record is written raw), anything else as jq prints it.
fn as_written(jq_line: &str) -> String {
    match serde_json::from_str(jq_line) {
        Ok(serde_json::Value::String(text)) => text,
        _ => jq_line.to_owned(),
    }
}

struct Run {
    code: Option<i32>,
    out: Vec<String>,
    dead: Vec<serde_json::Value>,
    stderr: String,
}

/// Runs `weir` with one jq stage (its TOML lines `stage`) on `input`.
fn weir_jq(stage: &str, input: &[String]) -> Run {
    let dir = Workdir::new();
    let source = dir.write("in.jsonl", input.join("\n") + "\n");
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\n\n[[stage]]\ntype = \"jq\"\n{stage}\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&source),
            toml_path(&dir.path("out.jsonl"))
        ),
    );
    let dead = dir.path("dead.jsonl");
    let output = run_to_end(&[&"run", &pipeline, &"--dead-letter", &dead]);
    Run {
        code: output.status.code(),
        out: dir.lines("out.jsonl"),
        dead: dir
            .lines("dead.jsonl")
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect(),
        stderr: stderr(&output),
    }
}

fn program_line(program: &str) -> String {
    format!("program = '''{program}'''")
}

#[test]
fn every_program_of_the_corpus_gives_what_jq_c_gives() {
    let input: Vec<String> = INPUT.iter().map(|line| line.to_string()).collect();
    let mut failures = Vec::new();
    for program in CORPUS {
        let (mut expected, mut errors, mut filtered, mut delivered) =
            (Vec::new(), Vec::new(), 0, 0);
        for line in &input {
            match jq(program, line) {
                Ok(lines) if lines.is_empty() => filtered += 1,
                Ok(lines) => {
                    delivered += 1;
                    expected.extend(lines.iter().map(|l| as_written(l)));
                }
                Err(message) => errors.push(message),
            }
        }
        let run = weir_jq(&program_line(program), &input);
        let books = books(&run.stderr);
        let expected_code = if errors.is_empty() { 0 } else { 1 };
        let reasons: Vec<&str> = run
            .dead
            .iter()
            .map(|letter| letter["reason"].as_str().unwrap_or_default())
            .collect();
        let same = run.out == expected
            && run.code == Some(expected_code)
            && books.balances()
            && (
                books.received,
                books.delivered,
                books.filtered,
                books.dead_lettered,
            ) == (input.len() as u64, delivered, filtered, errors.len() as u64)
            && reasons.len() == errors.len()
            && run.dead.iter().all(|letter| letter["stage"] == "jq");
        if !same {
            failures.push(format!(
                "program {program}\n  jq:   {expected:?} errors {errors:?}\n  weir: {:?} dead {reasons:?}\n  books {books}\n{}",
                run.out, run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where jaq and jq 1.6 differ, as the README says: `%` of a fraction
/// keeps the fraction in jaq, jq truncates its operands to integers.
#[test]
fn the_documented_difference_from_jq_holds() {
    let input = vec![r#"{"x":99.5}"#.to_owned()];
    let run = weir_jq(&program_line(".x % 5"), &input);
    assert_eq!(run.out, ["4.5"], "{}", run.stderr);
    assert_eq!(jq(".x % 5", &input[0]), Ok(vec!["4".to_owned()]));
}

#[test]
fn a_runtime_error_dead_letters_the_record_with_jqs_message() {
    // The logs only, not the lines of odd shapes.
    let input: Vec<String> = INPUT[..6].iter().map(|line| line.to_string()).collect();
    let run = weir_jq(
        &program_line(r#"if .level == "error" then error("bad record \(.id)") else .id end"#),
        &input,
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.out, ["0", "2", "4", "5"]);
    let letters: Vec<(&str, &str)> = run
        .dead
        .iter()
        .map(|l| (l["reason"].as_str().unwrap(), l["record"].as_str().unwrap()))
        .collect();
    assert_eq!(
        letters,
        [("bad record 1", INPUT[1]), ("bad record 3", INPUT[3])]
    );
    let books = books(&run.stderr);
    assert!(books.balances(), "{books}");
    assert_eq!((books.delivered, books.dead_lettered), (4, 2));
}

#[test]
fn several_outputs_split_one_records_acknowledgement() {
    let input = vec![r#"{"n":3}"#.to_owned(), r#"{"n":0}"#.to_owned()];
    let run = weir_jq(&program_line("range(.n)"), &input);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.out, ["0", "1", "2"]);
    let books = books(&run.stderr);
    assert_eq!(
        (books.received, books.delivered, books.filtered),
        (2, 1, 1),
        "{books}"
    );
}

#[test]
fn env_and_args_are_bound_as_jq_binds_them() {
    let dir = Workdir::new();
    let source = dir.write("in.jsonl", "{\"id\":7}\n");
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\n\n[[stage]]\ntype = \"jq\"\n\
             program = '{{id, who: $who, team: $team, home: $ENV.WEIR_JQ_TEST}}'\n\
             args = {{ who = \"ops\", team = \"blue\" }}\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&source),
            toml_path(&dir.path("out.jsonl"))
        ),
    );
    let output = crate::common::weir(&[&"run", &pipeline])
        .env("WEIR_JQ_TEST", "here")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let expected = Command::new("jq")
        .env("WEIR_JQ_TEST", "here")
        .args(["-c", "--arg", "who", "ops", "--arg", "team", "blue"])
        .arg("{id, who: $who, team: $team, home: $ENV.WEIR_JQ_TEST}")
        .arg(&source)
        .output()
        .unwrap();
    let expected: Vec<String> = String::from_utf8(expected.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(dir.lines("out.jsonl"), expected);
    assert_eq!(
        expected,
        [r#"{"id":7,"who":"ops","team":"blue","home":"here"}"#]
    );
}

#[test]
fn concurrency_runs_workers_and_ordered_keeps_the_input_order() {
    let input: Vec<String> = (0..5000)
        .map(|id| format!("{{\"id\":{id},\"pad\":\"{}\"}}", "x".repeat(id % 50)))
        .collect();
    let expected: Vec<String> = (0..5000).map(|id| (id * 2).to_string()).collect();
    let ordered = weir_jq(
        &format!(
            "{}\nconcurrency = 4\nordered = true",
            program_line(".id * 2")
        ),
        &input,
    );
    assert_eq!(ordered.code, Some(0), "{}", ordered.stderr);
    assert_eq!(ordered.out, expected);
    let unordered = weir_jq(
        &format!("{}\nconcurrency = 4", program_line(".id * 2")),
        &input,
    );
    assert_eq!(unordered.code, Some(0), "{}", unordered.stderr);
    let mut out = unordered.out.clone();
    out.sort_by_key(|n| n.parse::<u64>().unwrap());
    assert_eq!(out, expected);
}

fn validate(pipeline: &str) -> (Option<i32>, String) {
    let dir = Workdir::new();
    let path = dir.write("pipeline.toml", pipeline);
    let output = run_to_end(&[&"validate", &path]);
    (output.status.code(), stderr(&output))
}

const TAIL: &str = "[source]\ntype = \"generate\"\ncount = 1\n\n[sink]\ntype = \"stdout\"\n";

#[test]
fn a_compile_error_points_at_the_program_field_and_into_the_program() {
    let pipeline = format!("{TAIL}\n[[stage]]\ntype = \"jq\"\nprogram = '.a | {{b: }}'\n");
    let (code, err) = validate(&pipeline);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:10:11"), "{err}");
    assert!(err.contains("field `program`"), "{err}");
    assert!(err.contains("at line 1, column 10 of the program"), "{err}");

    let pipeline = format!(
        "{TAIL}\n[[stage]]\ntype = \"jq\"\nprogram = '''\nselect(.ok)\n| nosuch(.x)\n'''\n"
    );
    let (code, err) = validate(&pipeline);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:10:11"), "{err}");
    assert!(err.contains("undefined filter `nosuch/1`"), "{err}");
    assert!(err.contains("at line 2, column 3 of the program"), "{err}");
}

#[test]
fn a_program_file_is_read_and_its_errors_name_it() {
    let dir = Workdir::new();
    let good = dir.write("good.jq", "select(.id > 0)\n| {id}\n");
    let bad = dir.write("bad.jq", "select(.id > 0)\n| {id\n");
    for (file, expect_ok) in [(&good, true), (&bad, false)] {
        let pipeline = dir.write(
            "p.toml",
            format!(
                "{TAIL}\n[[stage]]\ntype = \"jq\"\nprogram_file = \"{}\"\n",
                toml_path(file)
            ),
        );
        let output = run_to_end(&[&"validate", &pipeline]);
        let err = stderr(&output);
        if expect_ok {
            assert_eq!(output.status.code(), Some(0), "{err}");
        } else {
            assert_eq!(output.status.code(), Some(2), "{err}");
            assert!(err.contains("bad.jq:"), "{err}");
            assert!(err.contains("field `program_file`"), "{err}");
        }
    }
    let (code, err) = validate(&format!("{TAIL}\n[[stage]]\ntype = \"jq\"\n"));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("exactly one of `program` and `program_file`"),
        "{err}"
    );
}

#[test]
fn an_old_json_condition_explains_that_filter_is_jq_now() {
    let pipeline = format!("{TAIL}\n[[stage]]\ntype = \"json\"\nfilter = 'level == \"error\"'\n");
    let (code, err) = validate(&pipeline);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:10:10"), "{err}");
    assert!(err.contains("undefined filter `level/0`"), "{err}");
    assert!(err.contains("`filter` is a jq expression"), "{err}");
    assert!(err.contains("`.level =="), "{err}");
    let pipeline = format!("{TAIL}\n[[stage]]\ntype = \"json\"\nfilter = '.level == \"error\"'\n");
    let (code, err) = validate(&pipeline);
    assert_eq!(code, Some(0), "{err}");
}
