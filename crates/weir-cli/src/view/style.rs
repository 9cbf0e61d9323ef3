//! Terminal colours, or none: `NO_COLOR` (https://no-color.org) and output
//! that is not a terminal get plain text.

/// The colours the view uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Color {
    Red,
    Green,
    Yellow,
    Cyan,
    Dim,
    Bold,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Red => "31",
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Cyan => "36",
            Color::Dim => "2",
            Color::Bold => "1",
        }
    }
}

/// Whether to paint text with ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Palette {
    colors: bool,
}

impl Palette {
    /// Colours, unless `NO_COLOR` is set to something non-empty.
    pub(crate) fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Palette { colors: !no_color }
    }

    /// Plain text, always.
    pub(crate) fn plain() -> Self {
        Palette { colors: false }
    }

    /// Colours, always.
    #[cfg(test)]
    pub(crate) fn colored() -> Self {
        Palette { colors: true }
    }

    /// `text` in `color`, or as is without colours.
    pub(crate) fn paint(self, text: &str, color: Option<Color>) -> String {
        match color {
            Some(color) if self.colors && !text.is_empty() => {
                format!("\x1b[{}m{text}\x1b[0m", color.code())
            }
            _ => text.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_palette_adds_no_escape_codes() {
        assert_eq!(Palette::plain().paint("busy", Some(Color::Red)), "busy");
        assert_eq!(
            Palette::colored().paint("busy", Some(Color::Red)),
            "\x1b[31mbusy\x1b[0m"
        );
        assert_eq!(Palette::colored().paint("busy", None), "busy");
        assert_eq!(Palette::colored().paint("", Some(Color::Red)), "");
    }
}
