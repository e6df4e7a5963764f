//! The backups section of `hadome status`: each backup as listed now (copies are not read), with
//! the journal's last restore test and the daemon's schedule.

use hadome_core::finding::{human_bytes, human_duration};
use serde_json::{json, Value};

use super::{Seen, StatusSection};
use crate::output::Table;

/// Each backup as listed now (copies are not read: `hadome backup verify` and `check` do that),
/// with the journal's last restore test and the daemon's schedule.
pub(crate) fn backups_status(pass: &Seen<'_>) -> StatusSection {
    if pass.estate.backups.is_empty() {
        return StatusSection {
            text: String::new(),
            json: json!([]),
        };
    }
    let mut table = Table::new([
        "BACKUP",
        "TYPE",
        "COPIES",
        "NEWEST",
        "AGE",
        "SIZE",
        "RESTORE TEST",
        "SCHEDULE",
    ]);
    let mut entries = Vec::new();
    let dash = || "-".to_owned();
    for backup in &pass.estate.backups {
        let observation = pass.facts.backups.get(&backup.name);
        let (copies, error) = match observation.map(|observation| &observation.copies) {
            Some(Ok(copies)) => (copies.as_slice(), None),
            Some(Err(error)) => (&[][..], Some(error.to_string())),
            None => (&[][..], Some("not looked at".to_owned())),
        };
        let newest = copies.first();
        let age = newest.map(|copy| pass.now.seconds_since(copy.modified_at).max(0.0));
        let test = pass
            .history
            .backups
            .get(&backup.name)
            .and_then(|history| history.last_restore_test.as_ref());
        let test_text = test.map_or_else(
            || "never".to_owned(),
            |test| {
                format!(
                    "{} {} ago",
                    if test.ok { "passed" } else { "FAILED" },
                    human_duration(pass.now.seconds_since(test.at).max(0.0))
                )
            },
        );
        let mut schedule = Vec::new();
        if let Some(every) = backup.every_seconds {
            schedule.push(format!("copy every {}", human_duration(every)));
        }
        if let Some(every) = backup.restore_test_every_seconds {
            schedule.push(format!("test every {}", human_duration(every)));
        }
        table.row([
            backup.name.clone(),
            backup.kind.as_str().to_owned(),
            copies.len().to_string(),
            newest.map_or_else(dash, |copy| {
                copy.path
                    .file_name()
                    .map_or_else(dash, |name| name.to_string_lossy().into_owned())
            }),
            age.map_or_else(dash, human_duration),
            newest.map_or_else(dash, |copy| human_bytes(copy.size_bytes)),
            test_text,
            if schedule.is_empty() {
                "none (by hand)".to_owned()
            } else {
                schedule.join(", ")
            },
        ]);
        if let Some(error) = &error {
            table.footer(format!("{}: {error}", backup.name));
        }
        entries.push(json!({
            "name": backup.name,
            "type": backup.kind.as_str(),
            "copies": copies.len(),
            "newest": newest.map(|copy| json!({
                "path": copy.path.display().to_string(),
                "size_bytes": copy.size_bytes,
                "age_seconds": age,
            })),
            "last_restore_test": test.map(|test| json!({
                "ok": test.ok,
                "path": test.path.display().to_string(),
                "seconds_ago": pass.now.seconds_since(test.at).max(0.0),
                "detail": test.detail,
            })),
            "every_seconds": backup.every_seconds,
            "restore_test_every_seconds": backup.restore_test_every_seconds,
            "error": error,
        }));
    }
    StatusSection {
        text: format!(
            "backups (listed, not read: `hadome backup verify NAME` reads and judges a copy)\n{table}\n"
        ),
        json: Value::Array(entries),
    }
}
