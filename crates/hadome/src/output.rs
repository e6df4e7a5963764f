//! stdout: aligned tables for people, JSON for scripts; a closed pipe ends the program quietly.

use std::fmt;
use std::io::Write;

use serde::Serialize;

/// Writes `text` to stdout. When the reader has gone (`hadome … | head`), exits 0 at once.
pub(crate) fn print_text(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(error) = written {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: could not write to stdout: {error}");
        std::process::exit(i32::from(crate::exit_code::FAILURE));
    }
}

/// Writes `value` as pretty JSON and a newline to stdout.
pub(crate) fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => print_text(&(text + "\n")),
        Err(error) => {
            eprintln!("error: internal error in hadome (a bug: please report it): output does not serialize: {error}");
            std::process::exit(i32::from(crate::exit_code::FAILURE));
        }
    }
}

/// A table with a header row, columns padded to their widest cell, and footnotes after it.
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
    footers: Vec<String>,
}

impl Table {
    pub(crate) fn new<const N: usize>(header: [&str; N]) -> Table {
        Table {
            rows: vec![header.iter().map(|cell| (*cell).to_owned()).collect()],
            footers: Vec::new(),
        }
    }

    pub(crate) fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.to_vec());
    }

    pub(crate) fn footer(&mut self, line: String) {
        self.footers.push(line);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                self.rows
                    .iter()
                    .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                if column + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[column]));
                }
            }
            writeln!(formatter, "{}", line.trim_end())?;
        }
        for footer in &self.footers {
            writeln!(formatter, "{footer}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let mut table = Table::new(["NODE", "PORT"]);
        table.row(["db-1".to_owned(), "5432".to_owned()]);
        table.row(["db-1000".to_owned(), "1".to_owned()]);
        table.footer("cut links: a -> b".to_owned());
        assert_eq!(
            table.to_string(),
            "NODE     PORT\ndb-1     5432\ndb-1000  1\ncut links: a -> b\n"
        );
    }
}

/// Colour for stdout: only on a terminal, and never when `NO_COLOR` is set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint {
    enabled: bool,
}

impl Paint {
    pub(crate) fn for_stdout() -> Paint {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Paint {
            enabled: std::io::stdout().is_terminal() && !no_color,
        }
    }

    /// No colour: text for a file, a pipe or an HTTP answer.
    pub(crate) fn plain() -> Paint {
        Paint { enabled: false }
    }

    fn wrap(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn red(self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    pub(crate) fn yellow(self, text: &str) -> String {
        self.wrap("1;33", text)
    }

    pub(crate) fn green(self, text: &str) -> String {
        self.wrap("1;32", text)
    }
}
