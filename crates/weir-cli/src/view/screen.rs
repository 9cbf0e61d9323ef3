//! What the view writes to stderr over time: a live frame redrawn in place
//! on a terminal, or a progress line now and then.

use std::collections::VecDeque;
use std::time::Duration;

use weir::metrics::PipelineSnapshot;
use weir::PipelineMonitor;

use super::live::render_live;
use super::progress::render_progress;
use super::style::Palette;
use crate::stderr;

/// How far back the live view's rates look.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// The view's state between ticks.
pub(crate) enum Screen {
    /// A frame redrawn in place.
    Live {
        palette: Palette,
        /// Recent snapshots, oldest first, spanning about [`RATE_WINDOW`].
        recent: VecDeque<PipelineSnapshot>,
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
        match self {
            Screen::Live { palette, recent } => {
                while recent.len() > 1
                    && now.elapsed.saturating_sub(recent[1].elapsed) >= RATE_WINDOW
                {
                    recent.pop_front();
                }
                let earlier = recent.front().unwrap_or(&now);
                let frame = render_live(earlier, &now, &monitor.window_verdicts(), *palette);
                stderr::draw_frame(&frame);
                recent.push_back(now);
            }
            Screen::Progress { previous } => {
                let line = render_progress(previous, &now, monitor.bottleneck().as_deref());
                *previous = now;
                stderr::write_above(format!("{line}\n").as_bytes());
            }
        }
    }

    /// Takes the live frame off the screen (the summary comes next).
    pub(crate) fn clear(self) {
        if let Screen::Live { .. } = self {
            stderr::clear_frame();
        }
    }
}
