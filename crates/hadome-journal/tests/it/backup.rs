//! Backup records (schema version 4): the copies hadome made and the restore tests, read back
//! into `History::backups`, each with its event.

use hadome_core::fact::Timestamp;

use crate::support::position;

#[test]
fn backup_records_round_trip_into_the_history() {
    use hadome_journal::{BackupMade, RestoreTestDone};
    let (_dir, _path, mut journal) = crate::support::new_journal();
    let copy = std::path::PathBuf::from("/backups/nightly-1.dump");
    let made = BackupMade {
        backup: "nightly".to_owned(),
        path: copy.clone(),
        size_bytes: 4096,
        sha256_hex: "ab".repeat(32),
        duration_ms: 1200,
        position: Some(position(
            u64::MAX - 1,
            2,
            0x3A00_0000,
            Some(&[(1, 0x3900_0000)]),
        )),
        row_counts: std::collections::BTreeMap::from([("public.notes".to_owned(), 7)]),
        structure: "a pg_dump archive".to_owned(),
    };
    journal.record_backup_made(Timestamp(1_000), &made).unwrap();
    journal
        .record_backup_failed(Timestamp(1_500), "nightly", "verify", "empty (0 bytes)")
        .unwrap();
    for (at, ok) in [(2_000, true), (3_000, false)] {
        journal
            .record_restore_test(
                Timestamp(at),
                &RestoreTestDone {
                    backup: "nightly".to_owned(),
                    path: copy.clone(),
                    ok,
                    detail: format!("ok = {ok}"),
                    restore_seconds: 0.5,
                    mismatches: Vec::new(),
                },
            )
            .unwrap();
    }
    let history = journal.history().unwrap();
    let backup = &history.backups["nightly"];
    let recorded = &backup.made[&copy];
    assert_eq!(recorded.made_at, Timestamp(1_000));
    assert_eq!(recorded.sha256_hex, made.sha256_hex);
    assert_eq!(recorded.position, made.position);
    assert_eq!(recorded.row_counts, made.row_counts);
    assert_eq!(
        backup.last_restore_test.as_ref().map(|test| test.ok),
        Some(false)
    );
    assert_eq!(
        backup.last_restore_pass.as_ref().map(|test| test.at),
        Some(Timestamp(2_000))
    );
    assert_eq!(
        journal
            .made_copy("nightly", &copy)
            .unwrap()
            .map(|copy| copy.size_bytes),
        Some(4096)
    );
    let kinds: Vec<String> = journal
        .events_since(Timestamp(0))
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "backup-made",
            "backup-failed",
            "restore-test",
            "restore-test"
        ]
    );
}
