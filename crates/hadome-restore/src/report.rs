//! What a restore test found: the counts recorded at dump time against the restored ones.
//!
//! Pure: [`report`] compares two maps of counts and `pg_restore`'s error lines, and says whether
//! the test passed.

use std::collections::BTreeMap;

/// What a restore test found. `ok` holds exactly when the four lists are empty.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreTestReport {
    /// Whether the archive restored without error, every recorded table came back with its
    /// count, and no other table came back. With an empty `expected` (nothing recorded), every
    /// restored table is unexpected, so `ok` is false whenever the archive holds a table.
    pub ok: bool,
    /// The row counts recorded at dump time.
    pub expected: BTreeMap<String, u64>,
    /// The row counts of the restored database (also after a failed restore: what it got to).
    pub restored: BTreeMap<String, u64>,
    /// Tables recorded at dump time that the restored database lacks.
    pub missing_tables: Vec<String>,
    /// Tables of the restored database that were not recorded at dump time.
    pub unexpected_tables: Vec<String>,
    /// `(table, expected, restored)` for each table whose count differs.
    pub count_mismatches: Vec<(String, u64, u64)>,
    /// How long `pg_restore` ran.
    pub restore_seconds: f64,
    /// How long the whole test took: scratch server up, restore, counts, teardown.
    pub total_seconds: f64,
    /// `pg_restore`'s error lines (and their context: the TOC entry, the command), when it failed.
    pub pg_restore_errors: Vec<String>,
}

/// The report of a restore test: `expected` against `restored`.
pub(crate) fn report(
    expected: &BTreeMap<String, u64>,
    restored: BTreeMap<String, u64>,
    pg_restore_errors: Vec<String>,
    restore_seconds: f64,
    total_seconds: f64,
) -> RestoreTestReport {
    let missing_tables: Vec<String> = expected
        .keys()
        .filter(|table| !restored.contains_key(*table))
        .cloned()
        .collect();
    let unexpected_tables: Vec<String> = restored
        .keys()
        .filter(|table| !expected.contains_key(*table))
        .cloned()
        .collect();
    let count_mismatches: Vec<(String, u64, u64)> = expected
        .iter()
        .filter_map(|(table, &want)| {
            let got = *restored.get(table)?;
            (got != want).then(|| (table.clone(), want, got))
        })
        .collect();
    RestoreTestReport {
        ok: pg_restore_errors.is_empty()
            && missing_tables.is_empty()
            && unexpected_tables.is_empty()
            && count_mismatches.is_empty(),
        expected: expected.clone(),
        restored,
        missing_tables,
        unexpected_tables,
        count_mismatches,
        restore_seconds,
        total_seconds,
        pg_restore_errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_ok_only_when_nothing_differs() {
        let expected = BTreeMap::from([("a.x".to_owned(), 3), ("a.y".to_owned(), 0)]);
        let same = report(&expected, expected.clone(), Vec::new(), 1.0, 2.0);
        assert!(same.ok, "{same:?}");

        let restored = BTreeMap::from([("a.x".to_owned(), 2), ("a.z".to_owned(), 5)]);
        let different = report(&expected, restored, Vec::new(), 1.0, 2.0);
        assert!(!different.ok);
        assert_eq!(different.missing_tables, vec!["a.y".to_owned()]);
        assert_eq!(different.unexpected_tables, vec!["a.z".to_owned()]);
        assert_eq!(different.count_mismatches, vec![("a.x".to_owned(), 3, 2)]);

        let failed = report(
            &expected,
            expected.clone(),
            vec!["pg_restore: error: x".to_owned()],
            1.0,
            2.0,
        );
        assert!(
            !failed.ok,
            "a failed pg_restore fails the test however the counts look"
        );
    }
}
