//! HTTPS through rustls, against a real TLS server on 127.0.0.1 with a CA
//! the test makes: the http stage and the http sink trust a private CA with
//! `tls.ca_file`, present a client certificate with `tls.client_cert` and
//! `tls.client_key`, and fail (dead letters, with the reason) without them.

use weir_testserver::{RunningServer, ServerConfig, TestPki};

use crate::common::{books, run_to_end, stderr, toml_path, Workdir};

/// A TLS test server on its own runtime (the binary under test is a child
/// process, so the test thread only waits).
fn https_server(pki: &TestPki, mutual: bool) -> (tokio::runtime::Runtime, RunningServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(weir_testserver::start(ServerConfig {
            tls: Some(pki.server(mutual)),
            ..ServerConfig::default()
        }))
        .unwrap();
    (runtime, server)
}

/// Requests answered 200: (GETs of `/items/..` by the stage, POSTs to
/// `/ingest` by the sink).
fn served(server: &RunningServer) -> (usize, usize) {
    let ok = |requests: &Vec<weir_testserver::RequestLog>| {
        requests.iter().filter(|r| r.status == Some(200)).count()
    };
    let by_key = server.requests_by_key();
    let items = by_key
        .iter()
        .filter(|(key, _)| key.starts_with("/items/"))
        .map(|(_, requests)| ok(requests))
        .sum();
    (items, by_key.get("/ingest").map_or(0, ok))
}

/// generate (n records) → http stage → http sink, both with `tls`; returns
/// the exit code and stderr.
fn run_https(dir: &Workdir, url: &str, n: u64, tls: &str) -> (Option<i32>, String) {
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"generate\"\ncount = {n}\n\n\
             [[stage]]\ntype = \"http\"\nurl = \"{url}/items/{{id}}\"\n\
             retries = {{ max_attempts = 1 }}\ntls = {tls}\n\n\
             [sink]\ntype = \"http\"\nurl = \"{url}/ingest\"\nbatch_size = 10\n\
             retries = {{ max_attempts = 1 }}\ntls = {tls}\n\n\
             [dead_letter]\npath = \"{}\"\n",
            toml_path(&dir.path("dead.jsonl"))
        ),
    );
    let output = run_to_end(&[&"run", &pipeline, &"--quiet"]);
    (output.status.code(), stderr(&output))
}

#[test]
fn the_stage_and_the_sink_trust_a_private_ca() {
    let pki = TestPki::generate();
    let (_runtime, server) = https_server(&pki, false);
    assert!(server.url().starts_with("https://"));
    let dir = Workdir::new();
    let ca = dir.write("ca.pem", &pki.ca_pem);
    let tls = format!("{{ ca_file = \"{}\" }}", toml_path(&ca));
    let (code, err) = run_https(&dir, &server.url(), 25, &tls);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(books(&err).delivered, 25, "{err}");
    // 25 GETs by the stage; the sink's batches hold at most 10 records.
    let (items, batches) = served(&server);
    assert_eq!(items, 25);
    assert!((3..=25).contains(&batches), "{batches} batches");
}

#[test]
fn without_the_ca_nothing_gets_through_and_the_reason_says_why() {
    let pki = TestPki::generate();
    let (_runtime, server) = https_server(&pki, false);
    let dir = Workdir::new();
    let (code, err) = run_https(&dir, &server.url(), 5, "{}");
    assert_eq!(code, Some(1), "{err}");
    let books = books(&err);
    assert_eq!((books.delivered, books.dead_lettered), (0, 5), "{err}");
    let dead = dir.lines("dead.jsonl");
    assert_eq!(dead.len(), 5);
    assert!(dead[0].contains("certificate"), "{}", dead[0]);
    assert_eq!(server.stats().requests, 0, "a request got through");
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let pki = TestPki::generate();
    let (_runtime, server) = https_server(&pki, true);
    let dir = Workdir::new();
    let ca = toml_path(&dir.write("ca.pem", &pki.ca_pem));
    let cert = toml_path(&dir.write("client.pem", &pki.client_cert_pem));
    let key = toml_path(&dir.write("client.key", &pki.client_key_pem));

    let with_cert =
        format!("{{ ca_file = \"{ca}\", client_cert = \"{cert}\", client_key = \"{key}\" }}");
    let (code, err) = run_https(&dir, &server.url(), 10, &with_cert);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(books(&err).delivered, 10, "{err}");
    let before = served(&server);
    assert_eq!(before.0, 10);
    assert!(before.1 >= 1);

    let without_cert = format!("{{ ca_file = \"{ca}\" }}");
    let (code, err) = run_https(&dir, &server.url(), 3, &without_cert);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(books(&err).dead_lettered, 3, "{err}");
    assert_eq!(served(&server), before, "served without a certificate");
}

#[test]
fn a_tls_file_that_cannot_be_read_is_named() {
    let dir = Workdir::new();
    let tls = "{ ca_file = \"/no/such/ca.pem\" }";
    let (code, err) = run_https(&dir, "https://127.0.0.1:9", 1, tls);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("cannot read /no/such/ca.pem"), "{err}");
}
