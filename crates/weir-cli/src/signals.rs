//! SIGINT and SIGTERM during a run: the first drains the pipeline with a
//! deadline, a second stops it at once. Each prints the books so far.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use weir::{PipelineMonitor, ShutdownHandle};

/// Whether a signal stopped the run; shared with the signal task.
#[derive(Debug, Clone, Default)]
pub struct Interrupted(Arc<AtomicBool>);

impl Interrupted {
    /// Whether a signal came.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Listens for SIGINT and SIGTERM for the rest of the process.
pub fn watch(
    shutdown: ShutdownHandle,
    monitor: PipelineMonitor,
    deadline: Duration,
) -> std::io::Result<Interrupted> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let interrupted = Interrupted::default();
    let flag = interrupted.0.clone();
    tokio::spawn(async move {
        let name = next_signal(&mut interrupt, &mut terminate).await;
        flag.store(true, Ordering::Relaxed);
        eprintln!(
            "\n{name}: draining (at most {}); a second signal stops at once\n{}",
            humantime::format_duration(deadline),
            monitor.snapshot().accounting
        );
        shutdown.drain(deadline);
        let name = next_signal(&mut interrupt, &mut terminate).await;
        eprintln!(
            "\n{name}: stopping now; what is held is nacked\n{}",
            monitor.snapshot().accounting
        );
        shutdown.stop_now();
    });
    Ok(interrupted)
}

async fn next_signal(interrupt: &mut Signal, terminate: &mut Signal) -> &'static str {
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
