//! Oversize lines, invalid UTF-8 and malformed JSON go to the dead letters
//! with their reasons, and the run goes on.

use crate::common::{assert_books_match, books, run_to_end, stderr, toml_path, Workdir};

#[test]
fn bad_lines_are_dead_lettered_with_reasons_and_the_run_goes_on() {
    let dir = Workdir::new();
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"n\": 1}\n");
    input.extend_from_slice(format!("{{\"long\": \"{}\"}}\n", "x".repeat(500)).as_bytes());
    input.extend_from_slice(b"{\"n\": 2}\n");
    input.extend_from_slice(b"{\"bad\": \"\xff\xfe\"}\n");
    input.extend_from_slice(b"{\"n\": 3\n");
    input.extend_from_slice(b"{\"n\": 4}\n");
    let input_path = dir.write("in.jsonl", input);
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\nformat = \"json\"\nmax_line_length = 100\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&input_path),
            toml_path(&dir.path("out.jsonl"))
        ),
    );
    let dead = dir.path("dead.jsonl");
    let output = run_to_end(&[&"run", &pipeline, &"--dead-letter", &dead]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let books = books(&err);
    assert_eq!(
        (books.received, books.delivered, books.dead_lettered),
        (6, 3, 3)
    );
    assert_eq!(
        dir.lines("out.jsonl"),
        vec!["{\"n\":1}", "{\"n\":2}", "{\"n\":4}"]
    );
    let letters: Vec<serde_json::Value> = dir
        .lines("dead.jsonl")
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let reasons: Vec<&str> = letters
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("longer than max_line_length"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("malformed JSON"), "{reasons:?}");
    assert!(reasons[2].starts_with("malformed JSON"), "{reasons:?}");
    for letter in &letters {
        assert_eq!(letter["stage"], "file");
        assert!(letter["time"].as_str().unwrap().ends_with('Z'));
    }
    assert!(letters[1]["record"].as_str().unwrap().contains('\u{fffd}'));
    assert_eq!(letters[2]["record"], "{\"n\": 3");
    assert_books_match(
        &books,
        &dir.lines("out.jsonl"),
        &dir.lines("dead.jsonl"),
        Some(6),
    );
}

#[test]
fn invalid_utf8_in_a_text_line_is_dead_lettered() {
    let dir = Workdir::new();
    let input_path = dir.write("in.txt", b"fine\n\xc3\x28\nalso fine\n");
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"file\"\npath = \"{}\"\n\n[sink]\ntype = \"stdout\"\n",
            toml_path(&input_path)
        ),
    );
    let dead = dir.path("dead.jsonl");
    let output = run_to_end(&[&"run", &pipeline, &"--dead-letter", &dead]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "fine\nalso fine\n");
    let letters = dir.lines("dead.jsonl");
    assert_eq!(letters.len(), 1);
    assert!(letters[0].contains("invalid UTF-8"), "{letters:?}");
    let written: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_books_match(&books(&stderr(&output)), &written, &letters, Some(3));
}
