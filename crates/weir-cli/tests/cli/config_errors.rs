//! Config errors name the file, line, column and field, and say what was
//! expected; `weir validate` warns about choices that defeat backpressure.

use crate::common::{run_to_end, stderr, Workdir};

const GOOD_TAIL: &str = "
[source]
type = \"generate\"
count = 1

[sink]
type = \"stdout\"
";

fn validate(pipeline: &str) -> (Option<i32>, String) {
    let dir = Workdir::new();
    let path = dir.write("pipeline.toml", pipeline);
    let output = run_to_end(&[&"validate", &path]);
    (output.status.code(), stderr(&output))
}

#[test]
fn a_zero_capacity_points_at_the_field() {
    let (code, err) = validate(&format!("[links]\ncapacity = 0\n{GOOD_TAIL}"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:2:12"), "{err}");
    assert!(err.contains("field `capacity`"), "{err}");
    assert!(err.contains("nonzero"), "{err}");
}

#[test]
fn an_unknown_field_is_named_with_the_expected_ones() {
    let pipeline = "[source]\ntype = \"file\"\npth = \"in.txt\"\n\n[sink]\ntype = \"stdout\"\n";
    let (code, err) = validate(pipeline);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:3:1"), "{err}");
    assert!(err.contains("unknown field `pth`"), "{err}");
    assert!(err.contains("path"), "{err}");
}

#[test]
fn a_bad_duration_in_a_stage_points_at_it() {
    let pipeline = format!("{GOOD_TAIL}\n[[stage]]\ntype = \"json\"\ntimeout = \"5 parsecs\"\n");
    let (code, err) = validate(&pipeline);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:11:11"), "{err}");
    assert!(err.contains("field `timeout`"), "{err}");
    assert!(err.contains("expected a duration"), "{err}");
}

#[test]
fn an_unknown_type_lists_the_known_ones() {
    let (code, err) = validate("[source]\ntype = \"kafka\"\n\n[sink]\ntype = \"stdout\"\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:2:8"), "{err}");
    assert!(
        err.contains("expected one of stdin, file, tcp, http, generate"),
        "{err}"
    );
}

#[test]
fn an_unset_environment_variable_is_named() {
    let pipeline = "[source]\ntype = \"file\"\npath = \"${WEIR_TEST_UNSET_VARIABLE}/in\"\n\n[sink]\ntype = \"stdout\"\n";
    let (code, err) = validate(pipeline);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:3:8"), "{err}");
    assert!(
        err.contains("`WEIR_TEST_UNSET_VARIABLE` is not set"),
        "{err}"
    );
}

#[test]
fn a_toml_syntax_error_is_located() {
    let (code, err) = validate("[links\ncapacity = 1\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:1:"), "{err}");
}

#[test]
fn a_throttle_without_a_rate_is_refused() {
    let (code, err) = validate(&format!("{GOOD_TAIL}\n[[stage]]\ntype = \"throttle\"\n"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:10:8"), "{err}");
    assert!(err.contains("needs a `rate`"), "{err}");
}

#[test]
fn validate_warns_about_choices_that_defeat_backpressure() {
    let pipeline = format!(
        "[links]\nwhen_full = \"drop_newest\"\n{GOOD_TAIL}\n[[stage]]\ntype = \"jq\"\nprogram = \".\"\nconcurrency = 4\n"
    );
    let (code, err) = validate(&pipeline);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("pipeline.toml:2:13"), "{err}");
    assert!(err.contains("dropping `when_full`"), "{err}");
    assert!(err.contains("pipeline.toml:14:15"), "{err}");
    assert!(err.contains("`concurrency` without a `timeout`"), "{err}");
    assert!(err.contains("2 warnings"), "{err}");
}

#[test]
fn an_unknown_link_policy_names_the_ones_there_are() {
    let (code, err) = validate(&format!("[links]\nwhen_full = \"discard\"\n{GOOD_TAIL}"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pipeline.toml:2:13"), "{err}");
    assert!(
        err.contains("`block`, `drop_oldest`, `drop_newest`, `reject`"),
        "{err}"
    );
}

#[test]
fn reject_without_a_dead_letter_file_is_warned_about() {
    let (code, err) = validate(&format!("[links]\nwhen_full = \"reject\"\n{GOOD_TAIL}"));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning"), "{err}");
    // The warning itself, where it points, and the count: not just the
    // "0 warnings" every validation prints.
    assert!(err.contains("pipeline.toml:2:13"), "{err}");
    assert!(err.contains("dropping `when_full`"), "{err}");
    assert!(err.contains("no dead-letter file"), "{err}");
    assert!(err.contains("1 warning)"), "{err}");
}

#[test]
fn reject_with_a_dead_letter_file_is_not_warned_about() {
    let (code, err) = validate(&format!(
        "[links]\nwhen_full = \"reject\"\n{GOOD_TAIL}\n[dead_letter]\npath = \"dead.jsonl\"\n"
    ));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("0 warnings"), "{err}");
    assert!(!err.contains("dropping `when_full`"), "{err}");
}

#[test]
fn large_links_and_a_command_without_a_timeout_are_warned_about() {
    let (code, err) = validate(&format!(
        "[links]\ncapacity = 200000\n{GOOD_TAIL}\n[[stage]]\ntype = \"command\"\nargv = [\"cat\"]\n"
    ));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("pipeline.toml:2:12"), "{err}");
    assert!(
        err.contains("links of capacity 200000 can hold that many records"),
        "{err}"
    );
    assert!(err.contains("pipeline.toml:12:8"), "{err}");
    assert!(err.contains("a command stage without a `timeout`"), "{err}");
    assert!(err.contains("2 warnings"), "{err}");
}

#[test]
fn run_shows_the_warnings_unless_quiet() {
    let dir = Workdir::new();
    let path = dir.write(
        "pipeline.toml",
        format!("[links]\nwhen_full = \"drop_oldest\"\n{GOOD_TAIL}"),
    );
    let loud = run_to_end(&[&"run", &path]);
    let err = stderr(&loud);
    assert_eq!(loud.status.code(), Some(0), "{err}");
    assert!(err.contains("dropping `when_full`"), "{err}");
    let quiet = run_to_end(&[&"run", &path, &"--quiet"]);
    let err = stderr(&quiet);
    assert_eq!(quiet.status.code(), Some(0), "{err}");
    assert!(!err.contains("dropping `when_full`"), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn a_dead_letter_flag_silences_the_dropping_warning_of_run() {
    let dir = Workdir::new();
    let path = dir.write(
        "pipeline.toml",
        format!("[links]\nwhen_full = \"drop_oldest\"\n{GOOD_TAIL}"),
    );
    let dead = dir.path("dead.jsonl");
    let output = run_to_end(&[&"run", &path, &"--dead-letter", &dead]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(!err.contains("dropping `when_full`"), "{err}");
}

#[test]
fn invalid_utf8_in_the_file_is_located() {
    let dir = Workdir::new();
    let path = dir.write(
        "pipeline.toml",
        b"[source]\ntype = \"generate\"\n# caf\xe9 au lait\n\n[sink]\ntype = \"stdout\"\n",
    );
    let output = run_to_end(&[&"validate", &path]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("pipeline.toml:3:6"), "{err}");
    assert!(err.contains("invalid UTF-8"), "{err}");
}
