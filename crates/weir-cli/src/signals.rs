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

/// SIGINT and SIGTERM, caught from the moment [`Signals::listen`] returns:
/// one that comes before the run is watched (while the pipeline is built,
/// or in the instant after it starts) waits for [`Signals::watch`] instead
/// of killing the process with the records it holds.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Catches SIGINT and SIGTERM for the rest of the process.
    pub fn listen() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal's name, while nothing runs yet to drain.
    pub async fn next(&mut self) -> &'static str {
        next_signal(&mut self.interrupt, &mut self.terminate).await
    }

    /// Acts on them: the first drains the run with `deadline`, a second
    /// stops it at once.
    pub fn watch(
        self,
        shutdown: ShutdownHandle,
        monitor: PipelineMonitor,
        deadline: Duration,
    ) -> Interrupted {
        let Signals {
            mut interrupt,
            mut terminate,
        } = self;
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
        interrupted
    }
}

async fn next_signal(interrupt: &mut Signal, terminate: &mut Signal) -> &'static str {
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
