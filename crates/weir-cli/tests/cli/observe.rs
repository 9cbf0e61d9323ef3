//! Watching a running weir from outside: its `/metrics` pass `promtool
//! check metrics` and a real Prometheus scrapes them and computes a rate;
//! `/ready` and `/health` answer; `weir top` sums two workers, names the
//! bottleneck and marks a worker that died, and draws under tmux until `q`;
//! `--log-format json` writes JSON log lines.
//!
//! Prometheus and promtool come from Debian's `prometheus` package, tmux
//! from Debian's `tmux` (`scripts/test.sh` installs them when missing).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{poll, run_to_end, stderr, weir, Running, Workdir};

/// Two workers' pipeline: a source as fast as it goes, a stage held to
/// 200 records a second per worker (the bottleneck), stdout.
const THROTTLED: &str = "[source]\ntype = \"generate\"\n\n\
     [[stage]]\ntype = \"throttle\"\nname = \"slow\"\nrate = \"200/s\"\n\n\
     [sink]\ntype = \"stdout\"\n";

/// A weir running `THROTTLED` with its metrics on an ephemeral port, once
/// `/ready` says it runs.
fn throttled_weir(dir: &Workdir) -> (Running, String) {
    let pipeline = dir.write("p.toml", THROTTLED);
    let run = Running::start(&[
        &"run",
        &pipeline,
        &"--quiet",
        &"--metrics-addr",
        &"127.0.0.1:0",
    ]);
    let url = run.metrics_url();
    let base = url.trim_end_matches("/metrics").to_string();
    let ready = poll(Duration::from_secs(10), || {
        (get(&format!("{base}/ready")).0 == 200).then_some(())
    });
    assert!(ready.is_some(), "never ready; stderr:\n{}", run.stderr());
    (run, base)
}

/// Status and body of a GET (status 0: no answer).
fn get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match crate::common::http_client().get(url).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    })
}

#[test]
fn promtool_finds_nothing_to_complain_about_and_health_and_ready_answer() {
    let dir = Workdir::new();
    let (run, base) = throttled_weir(&dir);
    assert_eq!(get(&format!("{base}/health")), (200, "ok\n".to_string()));
    assert_eq!(get(&format!("{base}/ready")), (200, "ready\n".to_string()));
    let (status, metrics) = get(&format!("{base}/metrics"));
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE weir_latency_seconds histogram"),
        "{metrics}"
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) is installed");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool: {said}\n{metrics}");
    assert_eq!(said.trim(), "", "promtool found problems\n{metrics}");
    drop(run);
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_real_prometheus_scrapes_weir_and_computes_a_positive_rate() {
    let dir = Workdir::new();
    let (_run, base) = throttled_weir(&dir);
    let target = base.trim_start_matches("http://");
    let config = dir.write(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: weir\n    static_configs:\n      \
             - targets: ['{target}']\n"
        ),
    );
    let port = free_port();
    let prometheus = KillOnDrop(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's prometheus package) is installed"),
    );
    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=\
         rate(weir_records_out_total%7Bstage%3D%22slow%22%7D%5B5s%5D)"
    );
    let mut last = String::new();
    let rate = poll(Duration::from_secs(25), || {
        std::thread::sleep(Duration::from_millis(250));
        let (status, body) = get(&query);
        last = body;
        if status != 200 {
            return None;
        }
        let answer: serde_json::Value = serde_json::from_str(&last).ok()?;
        let value = answer["data"]["result"][0]["value"][1].as_str()?;
        value.parse::<f64>().ok().filter(|rate| *rate > 0.0)
    });
    assert!(
        rate.is_some(),
        "no positive rate from Prometheus; last answer: {last}"
    );
    drop(prometheus);
}

/// `weir top --plain` over `urls`: its last frame.
fn top(urls: &[&str]) -> String {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
        &"top",
        &"--plain",
        &"--count",
        &"3",
        &"--interval",
        &"700ms",
    ];
    for url in urls {
        args.push(url);
    }
    let output = run_to_end(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let last = text
        .rfind("weir top:")
        .unwrap_or_else(|| panic!("no frame in\n{text}"));
    text[last..].to_string()
}

/// Whether component `name`'s row in `frame` is marked as the
/// bottleneck, and its cells from the name on.
fn row<'a>(frame: &'a str, name: &str) -> (bool, Vec<&'a str>) {
    frame
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find_map(|cells| match cells.as_slice() {
            [">", first, ..] if *first == name => Some((true, cells[1..].to_vec())),
            [first, ..] if *first == name => Some((false, cells)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no row {name} in\n{frame}"))
}

#[test]
fn weir_top_sums_two_workers_names_the_bottleneck_and_marks_a_dead_one() {
    let (dir_a, dir_b) = (Workdir::new(), Workdir::new());
    let (_a, url_a) = throttled_weir(&dir_a);
    let (mut b, url_b) = throttled_weir(&dir_b);

    let frame = top(&[&url_a, &url_b]);
    assert!(frame.contains("2 of 2 workers answering"), "{frame}");
    assert!(frame.contains("bottleneck: slow (busy"), "{frame}");
    let (marked, slow) = row(&frame, "slow");
    assert!(marked, "the bottleneck's row is marked\n{frame}");
    assert_eq!(slow[2], "2", "one worker each, summed\n{frame}");
    // Each worker's input link holds 64: the queue column adds them up.
    // (Rates are summed the same way; their values depend on the machine's
    // speed, so the unit tests check that sum.)
    assert!(slow[5].ends_with("/128"), "queue capacity summed\n{frame}");

    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let frame = top(&[&url_a, &url_b]);
    assert!(frame.contains("1 of 2 workers answering"), "{frame}");
    assert!(
        frame.contains(&format!("DOWN  {url_b}/metrics: connection refused")),
        "{frame}"
    );
    assert!(frame.contains(&format!("up    {url_a}/metrics")), "{frame}");
    let (_, slow) = row(&frame, "slow");
    assert_eq!(slow[2], "1", "{frame}");
    assert!(
        slow[5].ends_with("/64"),
        "the dead worker no longer counts\n{frame}"
    );
}

/// The tmux server of one test, on its own socket, killed at the end.
struct Tmux(std::path::PathBuf);

impl Tmux {
    fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .output()
            .expect("tmux is installed")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.command(&["capture-pane", "-p", "-t", "top"]).stdout)
            .into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command(&["kill-server"]);
    }
}

#[test]
fn weir_top_draws_on_a_terminal_under_tmux_and_q_quits() {
    let dir = Workdir::new();
    let (_run, base) = throttled_weir(&dir);
    let tmux = Tmux(dir.path("tmux.sock"));
    let shell = format!(
        "{} top {base}; echo top-exited-$?; sleep 30",
        env!("CARGO_BIN_EXE_weir")
    );
    let started = tmux.command(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "150",
        "-y",
        "30",
        &shell,
    ]);
    assert!(started.status.success(), "{started:?}");
    let drawn = poll(Duration::from_secs(15), || {
        let screen = tmux.screen();
        screen.contains("bottleneck: slow (busy").then_some(screen)
    });
    let screen = drawn.unwrap_or_else(|| panic!("no bottleneck drawn:\n{}", tmux.screen()));
    assert!(screen.contains("q quits"), "{screen}");
    assert!(screen.lines().any(|l| l.starts_with(">  slow")), "{screen}");
    tmux.command(&["send-keys", "-t", "top", "q"]);
    let quit = poll(Duration::from_secs(10), || {
        tmux.screen().contains("top-exited-0").then_some(())
    });
    assert!(quit.is_some(), "q did not quit:\n{}", tmux.screen());
}

#[test]
fn log_lines_are_json_with_the_flag_and_off_below_warnings_by_default() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[source]\ntype = \"generate\"\ncount = 10\n\n[sink]\ntype = \"stdout\"\n",
    );
    let output = run_to_end(&[
        &"--log-format",
        &"json",
        &"run",
        &pipeline,
        &"--quiet",
        &"--log-level",
        &"info",
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let finished: serde_json::Value = err
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["fields"]["message"] == "pipeline finished")
        .unwrap_or_else(|| panic!("no JSON log line of the finish in\n{err}"));
    assert_eq!(finished["level"], "INFO", "{finished}");
    assert_eq!(finished["fields"]["delivered"], 10, "{finished}");

    let quiet = stderr(&run_to_end(&[&"run", &pipeline, &"--quiet"]));
    assert!(!quiet.contains("pipeline finished"), "{quiet}");

    let output = weir(&[&"run", &pipeline, &"--quiet"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stderr(&output);
    assert!(
        text.lines()
            .any(|l| l.contains("INFO") && l.contains("pipeline finished")),
        "RUST_LOG=info shows the event as text\n{text}"
    );

    let bad = run_to_end(&[&"run", &pipeline, &"--log-level", &"loud=="]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("invalid log level"),
        "{}",
        stderr(&bad)
    );
}
