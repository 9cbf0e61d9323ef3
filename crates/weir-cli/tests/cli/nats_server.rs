//! A private `nats-server -js` for a test: on 127.0.0.1, an ephemeral port,
//! a temporary store directory; stopped (killed) when dropped. It can be
//! restarted on the same port and store, to test reconnects. The binary is
//! Debian's `nats-server` (`scripts/test.sh` installs it when missing).
//!
//! Also a small JetStream client for what the tests check on the broker.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use async_nats::jetstream::consumer::Info;

/// A running server.
pub struct NatsServer {
    child: Child,
    port: u16,
    store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        let store = tempfile::tempdir().expect("temp dir");
        let (child, port) = spawn(&store, None);
        NatsServer { child, port, store }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        let (child, _) = spawn(&self.store, Some(self.port));
        self.child = child;
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The consumer's state on the server.
    pub fn consumer(&self, stream: &str, consumer: &str) -> Info {
        let url = self.url();
        let (stream, consumer) = (stream.to_owned(), consumer.to_owned());
        block_on(async move {
            let client = async_nats::connect(url).await.expect("connect to nats");
            let js = async_nats::jetstream::new(client);
            let stream = js.get_stream(stream).await.expect("the stream");
            stream.consumer_info(consumer).await.expect("the consumer")
        })
    }

    /// How many messages the stream holds (0 while it does not exist).
    pub fn stream_messages(&self, stream: &str) -> u64 {
        let url = self.url();
        let stream = stream.to_owned();
        block_on(async move {
            let client = async_nats::connect(url).await.expect("connect to nats");
            let js = async_nats::jetstream::new(client);
            match js.get_stream(stream).await {
                Ok(mut stream) => stream.info().await.expect("stream info").state.messages,
                Err(_) => 0,
            }
        })
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// Starts `nats-server -js` and waits until it listens; returns its port.
fn spawn(store: &tempfile::TempDir, port: Option<u16>) -> (Child, u16) {
    let port_arg = port.map_or("-1".to_owned(), |port| port.to_string());
    let mut child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port_arg, "-sd"])
        .arg(store.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-server (Debian's `nats-server`; scripts/test.sh installs it)");
    let (found, listening) = mpsc::channel();
    let log = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        let mut port = None;
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            if let Some((_, addr)) = line.split_once("Listening for client connections on ") {
                port = addr
                    .trim()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok());
            }
            if line.contains("Server is ready") {
                let _ = found.send(port);
            }
        }
    });
    let port = listening
        .recv_timeout(Duration::from_secs(20))
        .ok()
        .flatten()
        .expect("nats-server did not start");
    (child, port)
}
