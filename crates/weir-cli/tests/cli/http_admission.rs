//! The HTTP source pushes back by waiting first and refusing second: a
//! request whose records do not fit waits for room (in arrival order) up to
//! `admit_timeout`, and only then gets `503`; nothing is buffered beyond the
//! queue meanwhile.

use crate::common::{books, toml_path, Running, Workdir};

/// An http source (queue 4) feeding a 100/s step, admit timeout `admit`.
fn start(dir: &Workdir, admit: &str) -> Running {
    let pipeline = dir.write(
        "p.toml",
        format!(
            "[links]\ncapacity = 2\n\n\
             [source]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\nformat = \"json\"\n\
             queue = 4\nadmit_timeout = \"{admit}\"\n\n\
             [[stage]]\ntype = \"throttle\"\nrate = \"100/s\"\n\n\
             [sink]\ntype = \"file\"\npath = \"{}\"\n",
            toml_path(&dir.path("out.jsonl"))
        ),
    );
    Running::start(&[&"run", &pipeline, &"--quiet"])
}

/// Sends `requests` requests of 4 records at once; returns the statuses.
async fn burst(run: &Running, requests: usize) -> Vec<u16> {
    let url = format!("http://{}/ingest", run.listening());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let sent: Vec<_> = (0..requests)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            let body: String = (i * 4..i * 4 + 4)
                .map(|n| format!("{{\"n\": {n}}}\n"))
                .collect();
            tokio::spawn(async move { client.post(&url).body(body).send().await })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in sent {
        statuses.push(
            request
                .await
                .unwrap()
                .expect("a response")
                .status()
                .as_u16(),
        );
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_wait_for_room_instead_of_being_refused() {
    let dir = Workdir::new();
    let run = start(&dir, "10s");
    // 80 records at 100/s through a queue of 4: most requests wait, none is
    // refused, and every record arrives once.
    let statuses = burst(&run, 20).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    run.terminate();
    let (code, err) = run.wait(std::time::Duration::from_secs(10));
    assert_eq!(code, Some(130), "{err}");
    assert_eq!(books(&err).delivered, 80, "{err}");
    let seen = dir.sorted_numbers("out.jsonl", "n");
    assert_eq!(seen, (0..80).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_waits_past_admit_timeout_gets_503() {
    let dir = Workdir::new();
    let run = start(&dir, "50ms");
    // 80 records need 0.8 s at 100/s; a 50 ms wait cannot cover them.
    let statuses = burst(&run, 20).await;
    let refused = statuses.iter().filter(|s| **s == 503).count();
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert!(refused > 0, "{statuses:?}");
    assert!(accepted > 0, "{statuses:?}");
    assert_eq!(refused + accepted, 20, "{statuses:?}");
    run.terminate();
    let (_, err) = run.wait(std::time::Duration::from_secs(10));
    assert_eq!(books(&err).delivered, 4 * accepted as u64, "{err}");
}
