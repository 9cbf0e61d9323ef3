//! A slow pipeline makes a TCP sender's writes block (weir stops reading),
//! while weir's memory stays bounded.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Running, Workdir};

const LINE: usize = 1024;
const LINES: usize = 64 * 1024; // 64 MiB in all

#[test]
fn a_stalled_pipeline_blocks_the_sender_and_memory_stays_bounded() {
    let dir = Workdir::new();
    let pipeline = dir.write(
        "p.toml",
        "[links]\ncapacity = 64\n\n\
         [source]\ntype = \"tcp\"\nlisten = \"127.0.0.1:0\"\nonce = true\n\n\
         [[stage]]\ntype = \"throttle\"\nrate = \"100/s\"\n\n\
         [sink]\ntype = \"stdout\"\n",
    );
    let run = Running::start(&[&"run", &pipeline, &"--quiet"]);
    let addr = run.listening();
    let baseline_kib = run.rss_kib();

    let sent = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let sender = {
        let (sent, finished) = (sent.clone(), finished.clone());
        std::thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).expect("connect");
            let mut line = vec![b'x'; LINE - 1];
            line.push(b'\n');
            for _ in 0..LINES {
                if stream.write_all(&line).is_err() {
                    return;
                }
                sent.fetch_add(LINE as u64, Ordering::Relaxed);
            }
            finished.store(true, Ordering::Relaxed);
        })
    };

    std::thread::sleep(Duration::from_secs(3));
    let after_3s = sent.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(1));
    let after_4s = sent.load(Ordering::Relaxed);
    assert!(
        !finished.load(Ordering::Relaxed),
        "the sender's writes never blocked"
    );
    // 100 records/s of 1 KiB, plus what the socket buffers hold.
    let total = (LINE * LINES) as u64;
    assert!(after_4s < total / 4, "sent {after_4s} of {total} bytes");
    assert!(
        after_4s - after_3s < 4 << 20,
        "the sender was not held back: {after_3s} → {after_4s}"
    );
    let rss_kib = run.rss_kib();
    assert!(
        rss_kib < baseline_kib + 32 * 1024,
        "weir grew from {baseline_kib} KiB to {rss_kib} KiB"
    );

    run.terminate();
    let (code, err) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{err}");
    drop(sender);
}
