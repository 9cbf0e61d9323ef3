//! Text tables with aligned columns, optionally coloured cell by cell; the
//! padding is computed on the text, so colours never shift a column.

use super::style::{Color, Palette};

/// How a column lines up its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// One cell: its text and colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cell {
    text: String,
    color: Option<Color>,
}

impl Cell {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            color: None,
        }
    }

    pub(crate) fn colored(text: impl Into<String>, color: Option<Color>) -> Self {
        Cell {
            text: text.into(),
            color,
        }
    }

    fn width(&self) -> usize {
        self.text.chars().count()
    }
}

/// A table: headers, alignments and rows of cells.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    headers: Vec<(&'static str, Align)>,
    /// The least width of each column, so that a table redrawn as its
    /// values change keeps its columns in place.
    min_widths: Vec<usize>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub(crate) fn new(headers: Vec<(&'static str, Align)>) -> Self {
        Table {
            headers,
            min_widths: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Columns at least this wide, in column order.
    pub(crate) fn min_widths(mut self, widths: &[usize]) -> Self {
        self.min_widths = widths.to_vec();
        self
    }

    pub(crate) fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// The header line then one line per row, two spaces between columns,
    /// no trailing spaces.
    pub(crate) fn render(&self, palette: Palette) -> Vec<String> {
        let widths: Vec<usize> = self
            .headers
            .iter()
            .enumerate()
            .map(|(column, (header, _))| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(column).map(Cell::width))
                    .chain([
                        header.chars().count(),
                        self.min_widths.get(column).copied().unwrap_or(0),
                    ])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let header = self
            .headers
            .iter()
            .map(|(text, _)| Cell::colored(*text, Some(Color::Bold)))
            .collect::<Vec<_>>();
        std::iter::once(&header)
            .chain(&self.rows)
            .map(|cells| {
                let line = cells
                    .iter()
                    .zip(&widths)
                    .zip(&self.headers)
                    .map(|((cell, &width), &(_, align))| {
                        let pad = " ".repeat(width.saturating_sub(cell.width()));
                        let text = palette.paint(&cell.text, cell.color);
                        match align {
                            Align::Left => format!("{text}{pad}"),
                            Align::Right => format!("{pad}{text}"),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ");
                line.trim_end().to_string()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_whatever_the_colours() {
        let mut table = Table::new(vec![("name", Align::Left), ("n", Align::Right)]);
        table.row(vec![
            Cell::new("a"),
            Cell::colored("1000", Some(Color::Red)),
        ]);
        table.row(vec![Cell::new("longer"), Cell::new("7")]);
        assert_eq!(
            table.render(Palette::plain()),
            ["name       n", "a       1000", "longer     7"]
        );
        let colored = table.render(Palette::colored());
        assert_eq!(colored[1], "a       \x1b[31m1000\x1b[0m");
        let wider = table.min_widths(&[0, 6]).render(Palette::plain());
        assert_eq!(wider[2], "longer       7");
    }
}
