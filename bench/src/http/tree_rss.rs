//! Peak memory of a child process and all its descendants (e.g. `xargs` and
//! its `curl`s), by sampling `/proc` while it runs: the sum of the tree's
//! `VmRSS` at each sample, and the highest sum seen. Linux only.

use std::collections::HashMap;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the tree is sampled.
pub const EVERY: Duration = Duration::from_millis(20);

/// Samples a process tree until stopped.
pub struct TreeSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl TreeSampler {
    pub fn start(child: &Child) -> Self {
        let root = child.id();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(tree_rss_bytes(root));
                std::thread::sleep(EVERY);
            }
            peak
        });
        TreeSampler { stop, thread }
    }

    /// Stops sampling; the highest summed RSS seen, in bytes.
    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

/// The summed RSS of `root` and its descendants now, in bytes.
fn tree_rss_bytes(root: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut parent_of = HashMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.insert(pid, ppid);
        }
    }
    let in_tree = |mut pid: u32| loop {
        if pid == root {
            return true;
        }
        match parent_of.get(&pid) {
            Some(&parent) if parent != pid && parent != 0 => pid = parent,
            _ => return false,
        }
    };
    parent_of
        .keys()
        .filter(|pid| in_tree(**pid))
        .map(|pid| rss_bytes(*pid))
        .sum()
}

/// `VmRSS` of one process, in bytes (0 if it is gone).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}
