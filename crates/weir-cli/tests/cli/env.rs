//! `${NAME}` is replaced by the environment's `NAME` in every string of a
//! pipeline file, the http stage's `url` and `body` included, while
//! `{field}` templates are left for the record; an unset variable is a
//! config error that names it and points at its line.

use std::process::Stdio;

use weir_testserver::ServerConfig;

use crate::common::{books, stderr, toml_path, weir, Workdir};

#[test]
fn variables_fill_url_and_body_and_templates_stay() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime
        .block_on(weir_testserver::start(ServerConfig::default()))
        .unwrap();
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"generate\"\ncount = 3\n\n\
             [[stage]]\ntype = \"http\"\nmethod = \"POST\"\n\
             url = \"${{WEIR_TEST_BASE}}/items/{{id}}\"\n\
             body = '{{\"tag\": \"${{WEIR_TEST_TAG}}\", \"id\": {{id}}}}'\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&dir.path("out.jsonl"))
        ),
    );
    let output = weir(&[&"run", &pipeline, &"--quiet"])
        .env("WEIR_TEST_BASE", server.url())
        .env("WEIR_TEST_TAG", "blue")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_eq!(books(&err).delivered, 3);
    let mut outputs: Vec<serde_json::Value> = dir
        .lines("out.jsonl")
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    outputs.sort_by_key(|output| output["input"]["id"].as_u64());
    for (id, output) in outputs.iter().enumerate() {
        assert_eq!(output["body"]["path"], format!("/items/{id}"));
        let body = format!(r#"{{"tag": "blue", "id": {id}}}"#);
        assert_eq!(output["body"]["body_bytes"], body.len(), "{output}");
    }
}

#[test]
fn an_unset_variable_is_a_config_error_naming_it() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"generate\"\ncount = 1\n\n\
         [sink]\ntype = \"http\"\nurl = \"${WEIR_TEST_UNSET}/ingest\"\n",
    );
    let output = weir(&[&"validate", &pipeline])
        .env_remove("WEIR_TEST_UNSET")
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("p.toml:7:7"), "{err}");
    assert!(
        err.contains("field `url`: environment variable `WEIR_TEST_UNSET` is not set"),
        "{err}"
    );
}
