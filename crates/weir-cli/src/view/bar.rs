//! The queue fill bar of the live view: `[█████░░░░░░░] 20/48`.

use super::style::Color;

/// Cells in a bar.
pub(crate) const BAR_WIDTH: usize = 12;

/// A bar `width` cells wide, filled in proportion to `len / capacity`
/// (rounded). A queue holding anything shows at least one filled cell, and
/// only a full one shows every cell filled.
pub(crate) fn fill_bar(len: usize, capacity: usize, width: usize) -> String {
    let filled = if capacity == 0 || len >= capacity {
        width
    } else {
        let rounded = (len * width + capacity / 2) / capacity;
        rounded.clamp(usize::from(len > 0), width.saturating_sub(1))
    };
    format!("[{}{}]", "█".repeat(filled), "░".repeat(width - filled))
}

/// Green below half full, yellow below 90%, red above.
pub(crate) fn fill_color(len: usize, capacity: usize) -> Color {
    let fraction = len as f64 / capacity.max(1) as f64;
    if fraction >= 0.9 {
        Color::Red
    } else if fraction >= 0.5 {
        Color::Yellow
    } else {
        Color::Green
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(fill_bar(0, 64, 4), "[░░░░]");
        assert_eq!(fill_bar(32, 64, 4), "[██░░]");
        assert_eq!(fill_bar(48, 64, 4), "[███░]");
        assert_eq!(fill_bar(64, 64, 4), "[████]");
    }

    #[test]
    fn bars_show_any_item_and_only_a_full_queue_as_full() {
        assert_eq!(fill_bar(1, 1000, 4), "[█░░░]");
        assert_eq!(fill_bar(999, 1000, 4), "[███░]");
        assert_eq!(fill_bar(5, 0, 4), "[████]");
    }

    #[test]
    fn colours_follow_the_fill() {
        assert_eq!(fill_color(10, 64), Color::Green);
        assert_eq!(fill_color(40, 64), Color::Yellow);
        assert_eq!(fill_color(64, 64), Color::Red);
    }
}
