//! What the view writes to stderr over time: a live frame redrawn in place
//! on a terminal, or a progress line now and then.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use weir::metrics::PipelineSnapshot;
use weir::PipelineMonitor;

use super::live::render_live;
use super::progress::render_progress;
use super::style::Palette;

/// How far back the live view's rates look.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Turns off the terminal's line wrapping while a frame is drawn, so each
/// line takes exactly one row whatever the terminal's width and moving up
/// over the frame lands on its first line.
const NO_WRAP: &str = "\x1b[?7l";
const WRAP: &str = "\x1b[?7h";

/// The view's state between ticks.
pub(crate) enum Screen {
    /// A frame redrawn in place.
    Live {
        palette: Palette,
        /// Recent snapshots, oldest first, spanning about [`RATE_WINDOW`].
        recent: VecDeque<PipelineSnapshot>,
        /// Lines of the frame on screen now.
        lines_drawn: usize,
    },
    /// A progress line per tick.
    Progress { previous: PipelineSnapshot },
}

impl Screen {
    /// A live frame, not drawn yet.
    pub(crate) fn live(palette: Palette) -> Self {
        Screen::Live {
            palette,
            recent: VecDeque::new(),
            lines_drawn: 0,
        }
    }

    /// Progress lines, the first one's rate measured from now.
    pub(crate) fn progress(monitor: &PipelineMonitor) -> Self {
        Screen::Progress {
            previous: monitor.snapshot(),
        }
    }

    /// Draws the pipeline as it is now.
    pub(crate) fn tick(&mut self, monitor: &PipelineMonitor) {
        let now = monitor.snapshot();
        let text = match self {
            Screen::Live {
                palette,
                recent,
                lines_drawn,
            } => {
                while recent.len() > 1
                    && now.elapsed.saturating_sub(recent[1].elapsed) >= RATE_WINDOW
                {
                    recent.pop_front();
                }
                let earlier = recent.front().unwrap_or(&now);
                let frame = render_live(earlier, &now, &monitor.window_verdicts(), *palette);
                let text = format!("{}{NO_WRAP}{frame}{WRAP}", erase(*lines_drawn));
                *lines_drawn = frame.lines().count();
                recent.push_back(now);
                text
            }
            Screen::Progress { previous } => {
                let line = render_progress(previous, &now, monitor.bottleneck().as_deref());
                *previous = now;
                format!("{line}\n")
            }
        };
        write_stderr(&text);
    }

    /// Takes the live frame off the screen (the summary comes next).
    pub(crate) fn clear(self) {
        if let Screen::Live { lines_drawn, .. } = self {
            write_stderr(&erase(lines_drawn));
        }
    }
}

/// Moves up over the last `lines` lines drawn and clears to the end of the
/// screen.
fn erase(lines: usize) -> String {
    if lines == 0 {
        String::new()
    } else {
        format!("\x1b[{lines}A\r\x1b[J")
    }
}

/// One write per frame, so the frame never shows half drawn. A failed
/// write (stderr closed) only costs the view.
fn write_stderr(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}
