//! The HTTP source answers 503 with Retry-After when the pipeline is full,
//! accepts again once it has room, and replies with the true outcome of
//! each request's records.

use std::time::Duration;

use crate::common::{
    books, http_client, http_client_with, poll, run_to_end, stderr, toml_path, Running, Workdir,
};

fn body(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("{{\"n\": {n}}}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_503_when_full_and_accepts_again_after() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[links]\ncapacity = 2\n\n\
         [source]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\nformat = \"json\"\nqueue = 4\n\
         admit_timeout = \"100ms\"\ntoken = \"${WEIR_TEST_TOKEN}\"\n\n\
         [[stage]]\ntype = \"json\"\nfilter = \".n != 3\"\n\n\
         [[stage]]\ntype = \"throttle\"\nrate = \"40/s\"\n\n\
         [sink]\ntype = \"stdout\"\n",
    );
    let run = Running::start_with_env(
        &[&"run", &pipeline, &"--quiet"],
        &[("WEIR_TEST_TOKEN", "s3cret")],
    );
    let url = format!("http://{}/ingest", run.listening());
    let client = http_client();
    let anonymous = client.post(&url).body(body(0, 1)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", "Bearer s3cret".parse().unwrap());
    let client = http_client_with(reqwest::Client::builder().default_headers(headers));

    let requests: Vec<_> = (0..12)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.post(&url).body(body(i * 4, 4)).send().await })
        })
        .collect();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for request in requests {
        let response = request.await.unwrap().expect("a response");
        match response.status().as_u16() {
            200 => accepted.push(response.json::<serde_json::Value>().await.unwrap()),
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(refused > 0, "never answered 503 while full");
    assert!(!accepted.is_empty(), "never accepted anything");
    for counts in &accepted {
        let finished: u64 = ["delivered", "filtered", "dead_lettered", "dropped"]
            .iter()
            .map(|k| counts[k].as_u64().unwrap())
            .sum();
        assert_eq!(finished, 4, "{counts}");
        assert_eq!(counts["nacked"], 0, "{counts}");
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    let response = client.post(&url).body(body(0, 4)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let counts: serde_json::Value = response.json().await.unwrap();
    assert_eq!(counts["delivered"], 3, "{counts}");
    assert_eq!(counts["filtered"], 1, "{counts}");

    let response = client.post(&url).body("{broken\n").send().await.unwrap();
    let broken: serde_json::Value = response.json().await.unwrap();
    assert_eq!(broken["dead_lettered"], 1, "{broken}");

    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    // What the clients were told, request by request, adds up to the books;
    // refused requests' records never entered.
    let books = books(&err);
    let told = |key: &str| -> u64 {
        accepted
            .iter()
            .chain([&counts, &broken])
            .map(|c| c[key].as_u64().unwrap())
            .sum()
    };
    assert_eq!(books.received, 4 * accepted.len() as u64 + 4 + 1, "{err}");
    assert_eq!(books.delivered, told("delivered"), "{err}");
    assert_eq!(books.filtered, told("filtered"), "{err}");
    assert_eq!(books.dead_lettered, told("dead_lettered"), "{err}");
    assert_eq!(books.nacked, 0, "{err}");
}

/// One weir sends to another over HTTP: the sender's records count as
/// delivered only once the receiver delivered them, so it goes at the
/// receiver's pace and nothing is lost.
#[test]
fn weir_to_weir_over_http_goes_at_the_receivers_pace() {
    let dir = Workdir::new();
    let received = dir.path("received.jsonl");
    let receiver = dir.write(
        "receiver.toml",
        format!(
            "[links]\ncapacity = 8\n\n\
             [source]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\nformat = \"json\"\nqueue = 20\n\n\
             [[stage]]\ntype = \"throttle\"\nrate = \"200/s\"\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&received)
        ),
    );
    let run = Running::start(&[&"run", &receiver, &"--quiet"]);
    let sender = dir.write(
        "sender.toml",
        format!(
            "[source]\ntype = \"generate\"\ncount = 300\n\n\
             [sink]\ntype = \"http\"\nurl = \"http://{}/ingest\"\nbatch_size = 10\n",
            run.listening()
        ),
    );
    let started = std::time::Instant::now();
    let output = run_to_end(&[&"run", &sender, &"--quiet"]);
    let elapsed = started.elapsed();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert_eq!(books(&err).delivered, 300, "{err}");
    // 300 records at 200/s take over a second at the receiver.
    assert!(elapsed > Duration::from_millis(1200), "sent in {elapsed:?}");
    let mut ids: Vec<u64> = dir
        .lines("received.jsonl")
        .iter()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..300).collect::<Vec<_>>());

    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_abandoned_by_a_stop_get_503_with_their_counts() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[source]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\n\n\
             [[stage]]\ntype = \"throttle\"\nrate = \"1/s\"\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&dir.path("out.txt"))
        ),
    );
    let run = Running::start(&[&"run", &pipeline, &"--quiet", &"--drain-timeout", &"200ms"]);
    let url = format!("http://{}/ingest", run.listening());
    let request = tokio::spawn(async move {
        http_client()
            .post(&url)
            .body("a\nb\nc\nd\ne\n")
            .send()
            .await
    });
    // Once the request's records are in the pipeline, stop it.
    let running = poll(Duration::from_secs(10), || {
        (!dir.lines("out.txt").is_empty()).then_some(())
    });
    assert!(running.is_some(), "the first record never arrived");
    run.terminate();
    let response = request.await.unwrap().expect("a reply");
    assert_eq!(response.status(), 503);
    let counts: serde_json::Value = response.json().await.unwrap();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    let books = books(&err);
    assert!(counts["nacked"].as_u64().unwrap() >= 1, "{counts}");
    assert_eq!(counts["nacked"], books.nacked, "{counts} vs {err}");
    assert_eq!(counts["delivered"], books.delivered, "{counts} vs {err}");
    assert_eq!(books.received, 5, "{err}");
    assert_eq!(dir.lines("out.txt").len() as u64, books.delivered);
}
