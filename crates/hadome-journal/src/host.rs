//! The `host_boots` and `host_images` tables (schema version 6): what the journal remembers of
//! hosts (incident C).
//!
//! Every boot id hadome sees a host in is kept once, with when that boot started and when hadome
//! first saw it: the boots of hadome's own readings, and those the host's journal lists. So a
//! reboot count survives a host whose journal is volatile, or lost. Every final image hadome took
//! is kept with when it was taken and whether it was verified (`destroy-coverage`). Each new boot
//! appends a `host-boot` event; each image an `image` event. Rows are only inserted.

use std::collections::BTreeMap;
use std::path::Path;

use hadome_core::fact::Timestamp;
use hadome_core::host::{HostHistory, HostOutcome, HostProbe, ImageRecord, SeenBoot};
use rusqlite::Connection;
use serde::Serialize;

use crate::column::RowReader;
use crate::{event, JournalError, HOST_BOOT, IMAGE};

#[derive(Serialize)]
struct BootBody<'a> {
    version: u32,
    host: &'a str,
    boot_id: &'a str,
    booted_at_ms: i64,
    /// `hadome` (its own reading of the current boot) or `journald` (the host's boot list).
    seen_by: &'static str,
}

#[derive(Serialize)]
struct ImageBody<'a> {
    version: u32,
    host: &'a str,
    name: &'a str,
    taken_at_ms: i64,
    verified: bool,
}

/// Records the boots `probe` shows of `host`: its current boot, and every boot of the host's
/// own journal. Returns the boot ids new to the journal.
pub(crate) fn record_boots(
    connection: &Connection,
    path: &Path,
    host: &str,
    probe: &HostProbe,
) -> Result<Vec<String>, JournalError> {
    let HostOutcome::Answered(facts) = &probe.outcome else {
        return Ok(Vec::new());
    };
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "record a host's boots",
        source,
    };
    let mut boots = vec![(facts.boot_id.as_str(), facts.booted_at, "hadome")];
    for boot in facts.boots.iter().flatten() {
        boots.push((boot.boot_id.as_str(), boot.first_entry, "journald"));
    }
    let mut new = Vec::new();
    for (boot_id, booted_at, seen_by) in boots {
        let inserted = connection
            .prepare_cached(
                "INSERT OR IGNORE INTO host_boots (host, boot_id, booted_at_ms, first_seen_ms) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(failed)?
            .execute(rusqlite::params![host, boot_id, booted_at.0, probe.observed_at.0])
            .map_err(failed)?;
        if inserted == 1 {
            event::append(
                connection,
                path,
                booted_at,
                HOST_BOOT,
                host,
                &BootBody {
                    version: 1,
                    host,
                    boot_id,
                    booted_at_ms: booted_at.0,
                    seen_by,
                },
            )?;
            new.push(boot_id.to_owned());
        }
    }
    Ok(new)
}

/// Records a final image of `host`.
pub(crate) fn record_image(
    connection: &Connection,
    path: &Path,
    host: &str,
    image: &ImageRecord,
) -> Result<(), JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "record a host's image",
        source,
    };
    connection
        .prepare_cached(
            "INSERT INTO host_images (host, name, taken_at_ms, verified) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(failed)?
        .execute(rusqlite::params![
            host,
            image.name,
            image.taken_at.0,
            i64::from(image.verified)
        ])
        .map_err(failed)?;
    event::append(
        connection,
        path,
        image.taken_at,
        IMAGE,
        host,
        &ImageBody {
            version: 1,
            host,
            name: &image.name,
            taken_at_ms: image.taken_at.0,
            verified: image.verified,
        },
    )
}

/// Every host's boots (by when each started) and images (by when each was taken).
pub(crate) fn read_all(
    connection: &Connection,
    path: &Path,
) -> Result<BTreeMap<String, HostHistory>, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "read the hosts' boots and images",
        source,
    };
    let mut histories: BTreeMap<String, HostHistory> = BTreeMap::new();
    let mut statement = connection
        .prepare_cached(
            "SELECT host, boot_id, booted_at_ms, first_seen_ms FROM host_boots ORDER BY booted_at_ms, boot_id",
        )
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        let reader = RowReader {
            path,
            table: "host_boots",
            row: "a boot".to_owned(),
        };
        let host = reader.text(row, 0, "host")?;
        histories
            .entry(host)
            .or_default()
            .boots_seen
            .push(SeenBoot {
                boot_id: reader.text(row, 1, "boot_id")?,
                booted_at: Timestamp(reader.integer(row, 2, "booted_at_ms")?),
                first_seen: Timestamp(reader.integer(row, 3, "first_seen_ms")?),
            });
    }
    let mut statement = connection
        .prepare_cached(
            "SELECT id, host, name, taken_at_ms, verified FROM host_images ORDER BY taken_at_ms, id",
        )
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        let id = RowReader {
            path,
            table: "host_images",
            row: "a row".to_owned(),
        }
        .integer(row, 0, "id")?;
        let reader = RowReader {
            path,
            table: "host_images",
            row: format!("image {id}"),
        };
        let host = reader.text(row, 1, "host")?;
        let verified = match reader.integer(row, 4, "verified")? {
            0 => false,
            1 => true,
            other => {
                return Err(reader.corrupt("verified", format!("expected 0 or 1, found {other}")))
            }
        };
        histories.entry(host).or_default().images.push(ImageRecord {
            name: reader.text(row, 2, "name")?,
            taken_at: Timestamp(reader.integer(row, 3, "taken_at_ms")?),
            verified,
        });
    }
    Ok(histories)
}

#[cfg(test)]
mod tests {
    use hadome_core::fact::Facts;
    use hadome_core::host::{BootRecord, HostFacts};

    use crate::Journal;

    use super::*;

    fn probe(
        boot_id: &str,
        booted_at: i64,
        journald: Option<&[(&str, i64)]>,
        at: i64,
    ) -> HostProbe {
        HostProbe {
            observed_at: Timestamp(at),
            outcome: HostOutcome::Answered(Box::new(HostFacts {
                boot_id: boot_id.to_owned(),
                booted_at: Timestamp(booted_at),
                boots: journald.map(|boots| {
                    boots
                        .iter()
                        .map(|(id, at)| BootRecord {
                            boot_id: (*id).to_owned(),
                            first_entry: Timestamp(*at),
                            last_entry: Timestamp(*at + 1),
                        })
                        .collect()
                }),
                timers: Vec::new(),
                services: Vec::new(),
                failed_units: Vec::new(),
                data_paths: Vec::new(),
            })),
        }
    }

    fn pass(journal: &mut Journal, probe: HostProbe) {
        let mut facts = Facts::default();
        facts.hosts.insert("s512".to_owned(), probe);
        journal.record_facts(&facts).unwrap();
    }

    #[test]
    fn every_boot_seen_is_kept_once_and_outlives_the_hosts_own_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let mut journal = Journal::open(&path).unwrap();
        // The host's journal lists two boots; hadome sees the second.
        pass(
            &mut journal,
            probe("b2", 2_000, Some(&[("b1", 1_000), ("b2", 2_000)]), 2_500),
        );
        pass(
            &mut journal,
            probe("b2", 2_000, Some(&[("b1", 1_000), ("b2", 2_000)]), 3_000),
        );
        // Its journal is volatile now: only the current boot is known to it.
        pass(&mut journal, probe("b3", 4_000, None, 4_500));
        drop(journal);
        let journal = Journal::open(&path).unwrap();
        let history = journal.history().unwrap();
        let boots: Vec<(&str, i64, i64)> = history.hosts["s512"]
            .boots_seen
            .iter()
            .map(|boot| (boot.boot_id.as_str(), boot.booted_at.0, boot.first_seen.0))
            .collect();
        assert_eq!(
            boots,
            [
                ("b1", 1_000, 2_500),
                ("b2", 2_000, 2_500),
                ("b3", 4_000, 4_500)
            ]
        );
        let events = journal.events_since(Timestamp(0)).unwrap();
        let booted: Vec<&str> = events
            .iter()
            .filter(|event| event.kind == crate::KIND_HOST_BOOT)
            .map(|event| event.body["boot_id"].as_str().unwrap())
            .collect();
        assert_eq!(booted, ["b1", "b2", "b3"], "one event per new boot");
    }

    #[test]
    fn an_unreadable_host_records_no_boot() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        pass(
            &mut journal,
            HostProbe {
                observed_at: Timestamp(1),
                outcome: HostOutcome::Unreachable {
                    error: "ssh: connect to host s512 port 22: Connection refused".to_owned(),
                },
            },
        );
        assert!(journal.history().unwrap().hosts.is_empty());
    }

    #[test]
    fn images_are_kept_with_whether_they_were_verified() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        for (name, at, verified) in [("s512-final-1", 10, false), ("s512-final-2", 20, true)] {
            journal
                .record_image(
                    "s512",
                    &ImageRecord {
                        name: name.to_owned(),
                        taken_at: Timestamp(at),
                        verified,
                    },
                )
                .unwrap();
        }
        let images = &journal.history().unwrap().hosts["s512"].images;
        assert_eq!(images.len(), 2);
        assert_eq!(
            (images[1].name.as_str(), images[1].verified),
            ("s512-final-2", true)
        );
        assert!(!images[0].verified);
    }
}
