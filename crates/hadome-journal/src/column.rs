//! Reading one value of one row, where anything unexpected is a [`JournalError::Corrupt`].
//!
//! SQLite stores whatever it is given, whatever the column's declared type; a journal edited by
//! hand or damaged on disk may hold text where hadome wrote an integer. Every value read from the
//! file goes through here, so it becomes an error naming the table, row and column, never a panic.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::Row;

use crate::JournalError;

/// One row being read, for error messages.
pub(crate) struct RowReader<'a> {
    pub(crate) path: &'a Path,
    pub(crate) table: &'static str,
    /// "instance `db-1`", "event 17".
    pub(crate) row: String,
}

impl RowReader<'_> {
    /// The error for a bad value in `column`.
    pub(crate) fn corrupt(&self, column: &'static str, detail: String) -> JournalError {
        JournalError::Corrupt {
            path: self.path.to_owned(),
            table: self.table,
            row: self.row.clone(),
            column,
            detail,
        }
    }

    fn value<'row>(
        &self,
        row: &'row Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<ValueRef<'row>, JournalError> {
        row.get_ref(index)
            .map_err(|error| self.corrupt(column, error.to_string()))
    }

    /// An integer.
    pub(crate) fn integer(
        &self,
        row: &Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<i64, JournalError> {
        self.optional_integer(row, index, column)?
            .ok_or_else(|| self.corrupt(column, "expected an integer, found NULL".to_owned()))
    }

    /// An integer or NULL.
    pub(crate) fn optional_integer(
        &self,
        row: &Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<Option<i64>, JournalError> {
        match self.value(row, index, column)? {
            ValueRef::Integer(value) => Ok(Some(value)),
            ValueRef::Null => Ok(None),
            other => Err(self.corrupt(
                column,
                format!("expected an integer, found {}", describe(other)),
            )),
        }
    }

    /// 0 or 1.
    pub(crate) fn boolean(
        &self,
        row: &Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<bool, JournalError> {
        match self.integer(row, index, column)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.corrupt(column, format!("expected 0 or 1, found {other}"))),
        }
    }

    /// 0, 1 or NULL.
    pub(crate) fn optional_boolean(
        &self,
        row: &Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<Option<bool>, JournalError> {
        match self.optional_integer(row, index, column)? {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(other) => Err(self.corrupt(column, format!("expected 0 or 1, found {other}"))),
        }
    }

    /// Text.
    pub(crate) fn text(
        &self,
        row: &Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<String, JournalError> {
        self.optional_text(row, index, column)?
            .ok_or_else(|| self.corrupt(column, "expected text, found NULL".to_owned()))
    }

    /// Text or NULL.
    pub(crate) fn optional_text(
        &self,
        row: &Row<'_>,
        index: usize,
        column: &'static str,
    ) -> Result<Option<String>, JournalError> {
        match self.value(row, index, column)? {
            ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Ok(Some(text.to_owned())),
                Err(error) => Err(self.corrupt(column, format!("text that is not UTF-8: {error}"))),
            },
            ValueRef::Null => Ok(None),
            other => Err(self.corrupt(column, format!("expected text, found {}", describe(other)))),
        }
    }
}

/// A value, for an error message: `text "abc"`, `the integer 7`, `a blob of 3 bytes`.
pub(crate) fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(value) => format!("the integer {value}"),
        ValueRef::Real(value) => format!("the real {value}"),
        ValueRef::Text(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let shown: String = text.chars().take(40).collect();
            let ellipsis = if shown.len() < text.len() { "…" } else { "" };
            format!("text {shown:?}{ellipsis}")
        }
        ValueRef::Blob(bytes) => format!("a blob of {} bytes", bytes.len()),
    }
}
