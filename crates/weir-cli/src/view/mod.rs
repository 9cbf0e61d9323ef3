//! What the `weir` command shows on stderr while a pipeline runs, and the
//! summary at the end.
//!
//! On a terminal, [`LiveView`] redraws one line per component about four
//! times a second: its input queue's fill, its rate, how much of its
//! producers' time went into waiting on it, its starved/busy/blocked
//! verdict, its errors, and a mark on the bottleneck. Off a terminal, or
//! when quiet, it prints a progress line every five seconds instead.
//! [`print_summary`] writes the end-of-run table.

mod bar;
mod live;
mod progress;
mod screen;
mod style;
mod summary;
mod table;

use std::io::IsTerminal;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use weir::PipelineMonitor;

use screen::Screen;
use style::Palette;
pub use summary::print_summary;

/// Marks the bottleneck's line.
const BOTTLENECK_MARK: &str = "▶";

/// How often the live view redraws.
const LIVE_EVERY: Duration = Duration::from_millis(250);
/// How often the progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The running view; [`LiveView::finish`] stops it.
pub struct LiveView {
    /// `None` once finished; the task stops drawing when it finds it so.
    screen: Arc<Mutex<Option<Screen>>>,
    task: JoinHandle<()>,
}

impl LiveView {
    /// Starts showing `monitor`'s pipeline on stderr: live if stderr is a
    /// terminal that moves its cursor (not `TERM=dumb`) and not `quiet`,
    /// progress lines otherwise. Must be called within a tokio runtime.
    pub fn start(monitor: PipelineMonitor, quiet: bool) -> LiveView {
        let live = !quiet && std::io::stderr().is_terminal() && !dumb_terminal();
        let (screen, every) = if live {
            (Screen::live(Palette::from_env()), LIVE_EVERY)
        } else {
            (Screen::progress(&monitor), PROGRESS_EVERY)
        };
        let screen = Arc::new(Mutex::new(Some(screen)));
        let task = tokio::spawn(draw_every(every, monitor, screen.clone()));
        LiveView { screen, task }
    }

    /// Stops the view and takes the live frame off the screen.
    pub fn finish(self) {
        let screen = self.screen.lock().take();
        if let Some(screen) = screen {
            screen.clear();
        }
        self.task.abort();
    }
}

/// A terminal without cursor movement, which cannot redraw in place.
fn dumb_terminal() -> bool {
    std::env::var_os("TERM").is_some_and(|term| term == "dumb")
}

/// Draws `screen` every `every` until the view is finished.
async fn draw_every(every: Duration, monitor: PipelineMonitor, screen: Arc<Mutex<Option<Screen>>>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        match screen.lock().as_mut() {
            Some(screen) => screen.tick(&monitor),
            None => return,
        }
    }
}
