//! stderr, shared by the live view's frame and everything else written
//! there (log lines): a line written while a frame is on screen goes above
//! it, never into it.
//!
//! The live view redraws its frame in place by moving the cursor up over
//! the lines it drew last. Anything else written in between would be
//! overwritten, or would push the frame down so the next redraw lands in
//! the wrong place. So every write goes through here: [`write_above`]
//! erases the frame, writes the text and forgets the frame (the next
//! [`draw_frame`] draws it anew below the text).

use std::io::Write;
use std::sync::Mutex;

/// Lines of the live frame on screen now (0: none).
static FRAME_LINES: Mutex<usize> = Mutex::new(0);

/// Turns off the terminal's line wrapping while a frame is drawn, so each
/// line takes exactly one row whatever the terminal's width and moving up
/// over the frame lands on its first line.
const NO_WRAP: &str = "\x1b[?7l";
const WRAP: &str = "\x1b[?7h";

/// Replaces the frame on screen with `frame` (each line ending in a
/// newline), in one write so it never shows half drawn.
pub(crate) fn draw_frame(frame: &str) {
    let mut lines = FRAME_LINES.lock().unwrap_or_else(|e| e.into_inner());
    write(&format!("{}{NO_WRAP}{frame}{WRAP}", erase(*lines)));
    *lines = frame.lines().count();
}

/// Takes the frame off the screen.
pub(crate) fn clear_frame() {
    let mut lines = FRAME_LINES.lock().unwrap_or_else(|e| e.into_inner());
    write(&erase(*lines));
    *lines = 0;
}

/// Writes `text` where the frame was (or at the end, if there is none);
/// the frame comes back below it at the next redraw.
pub(crate) fn write_above(text: &[u8]) {
    let mut lines = FRAME_LINES.lock().unwrap_or_else(|e| e.into_inner());
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(erase(*lines).as_bytes());
    let _ = stderr.write_all(text);
    let _ = stderr.flush();
    *lines = 0;
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

/// One write; a failed one (stderr closed) only costs what was shown.
fn write(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use super::erase;

    #[test]
    fn erasing_moves_up_over_the_frame_only_when_there_is_one() {
        assert_eq!(erase(0), "");
        assert_eq!(erase(3), "\x1b[3A\r\x1b[J");
    }
}
