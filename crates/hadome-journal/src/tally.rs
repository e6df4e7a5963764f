//! Counts of what the journal recorded, for the daemon's Prometheus metrics (issue 16): verdicts,
//! intents, outcomes and escalations counted from the event log, a range of event ids at a time,
//! and failovers counted from their records.
//!
//! Counting from the journal rather than in the daemon's memory makes the counters survive a
//! restart (a counter that drops to zero would read as a reset, and lose what happened before it),
//! and counts what every process did: the daemon's automation, a person's `hadome run`, the API's.
//! The event log only grows, and its ids increase in commit order (SQLite has one writer at a
//! time), so a caller that keeps [`EventTally::through`] and asks for what came after it reads
//! each event once: a scrape costs the events appended since the last one, not the whole log.

use std::collections::BTreeMap;

use rusqlite::OptionalExtension;

use crate::column::RowReader;
use crate::record::{ESCALATION, INTENT, OUTCOME, VERDICT};
use crate::{Journal, JournalError};

/// What the journal recorded in a range of its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventTally {
    /// The id of the last event of the range: the next tally starts after it.
    pub through: i64,
    /// `verdict` events by (action name, verdict): `("rebuild", "deny")`.
    pub verdicts: BTreeMap<(String, String), u64>,
    /// `intent` events by (action name, actor as the intent records it).
    pub intents: BTreeMap<(String, String), u64>,
    /// `outcome` events by (action name, actor, succeeded).
    pub outcomes: BTreeMap<(String, String, bool), u64>,
    /// `escalation` events by (cluster, rule).
    pub escalations: BTreeMap<(String, String), u64>,
}

impl EventTally {
    /// Adds `later`, a tally of the events after this one's, to this one.
    pub fn add(&mut self, later: EventTally) {
        fn merge<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
            for (key, count) in from {
                *into.entry(key).or_default() += count;
            }
        }
        self.through = self.through.max(later.through);
        merge(&mut self.verdicts, later.verdicts);
        merge(&mut self.intents, later.intents);
        merge(&mut self.outcomes, later.outcomes);
        merge(&mut self.escalations, later.escalations);
    }
}

/// One row per kind and key: the two key columns (for an intent or outcome, its intent's action
/// name and actor, from the `intents` table), whether an outcome succeeded, and the count.
const TALLY: &str = "
    SELECT e.kind,
           CASE e.kind WHEN 'verdict' THEN json_extract(e.body, '$.action.name')
                       WHEN 'escalation' THEN json_extract(e.body, '$.cluster')
                       ELSE i.action_name END,
           CASE e.kind WHEN 'verdict' THEN json_extract(e.body, '$.verdict')
                       WHEN 'escalation' THEN json_extract(e.body, '$.rule')
                       ELSE i.actor END,
           CASE e.kind WHEN 'outcome' THEN json_extract(e.body, '$.ok') END,
           COUNT(*)
    FROM events e
    LEFT JOIN intents i
           ON e.kind IN ('intent', 'outcome') AND i.id = json_extract(e.body, '$.intent')
    WHERE e.id > ?1 AND e.id <= ?2 AND e.kind IN ('verdict', 'intent', 'outcome', 'escalation')
    GROUP BY 1, 2, 3, 4";

/// The first event of the range that [`TALLY`] reads whose body is not JSON.
const NOT_JSON: &str = "
    SELECT id FROM events
    WHERE id > ?1 AND id <= ?2 AND kind IN ('verdict', 'intent', 'outcome', 'escalation')
          AND NOT json_valid(body)
    ORDER BY id LIMIT 1";

impl Journal {
    /// What the events appended after event `after` (0: from the first) recorded, through the
    /// last event committed now ([`EventTally::through`]; `after` itself when there is none).
    pub fn tally_events_after(&self, after: i64) -> Result<EventTally, JournalError> {
        let failed = |source| JournalError::Sqlite {
            path: self.path.clone(),
            action: "count events",
            source,
        };
        // The range's end is read first: an event committed while the counts are read falls
        // after it, and is counted by the next tally.
        let last: Option<i64> = self
            .connection
            .query_row("SELECT MAX(id) FROM events", [], |row| row.get(0))
            .map_err(failed)?;
        let through = last.unwrap_or(after).max(after);
        let mut tally = EventTally {
            through,
            ..EventTally::default()
        };
        if through == after {
            return Ok(tally);
        }
        // SQLite's `json_extract` fails the whole query on one body that is not JSON, with an
        // error that names no event: the first such event is found first and named, as
        // `events_since` names it (found by fuzzing, `hadome-fuzz`'s `journal` target).
        let not_json: Option<i64> = self
            .connection
            .prepare_cached(NOT_JSON)
            .and_then(|mut statement| {
                statement
                    .query_row([after, through], |row| row.get(0))
                    .optional()
            })
            .map_err(failed)?;
        if let Some(id) = not_json {
            return Err(RowReader {
                path: &self.path,
                table: "events",
                row: format!("event {id}"),
            }
            .corrupt("body", "not JSON".to_owned()));
        }
        let mut statement = self.connection.prepare_cached(TALLY).map_err(failed)?;
        let mut rows = statement.query([after, through]).map_err(failed)?;
        while let Some(row) = rows.next().map_err(failed)? {
            let reader = RowReader {
                path: &self.path,
                table: "events",
                row: format!("events {} to {through}", after + 1),
            };
            let kind = reader.text(row, 0, "kind")?;
            // An intent or outcome whose intent row is missing has no name: counted as such,
            // never dropped (the journal never deletes one, so this is a damaged file).
            let first = reader
                .optional_text(row, 1, "body")?
                .unwrap_or_else(|| "unknown".to_owned());
            let second = reader
                .optional_text(row, 2, "body")?
                .unwrap_or_else(|| "unknown".to_owned());
            let count = u64::try_from(reader.integer(row, 4, "COUNT(*)")?).unwrap_or(0);
            match kind.as_str() {
                VERDICT => *tally.verdicts.entry((first, second)).or_default() += count,
                INTENT => *tally.intents.entry((first, second)).or_default() += count,
                OUTCOME => {
                    let ok = reader.optional_integer(row, 3, "body")? == Some(1);
                    *tally.outcomes.entry((first, second, ok)).or_default() += count;
                }
                ESCALATION => *tally.escalations.entry((first, second)).or_default() += count,
                _ => {}
            }
        }
        Ok(tally)
    }

    /// Per cluster, how many failovers were ever started (one per failover intent, whatever its
    /// phase now).
    pub fn failover_counts(&self) -> Result<BTreeMap<String, u64>, JournalError> {
        let failed = |source| JournalError::Sqlite {
            path: self.path.clone(),
            action: "count failovers",
            source,
        };
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT cluster, COUNT(DISTINCT intent_id) FROM failover_records GROUP BY cluster",
            )
            .map_err(failed)?;
        let mut rows = statement.query([]).map_err(failed)?;
        let mut counts = BTreeMap::new();
        while let Some(row) = rows.next().map_err(failed)? {
            let reader = RowReader {
                path: &self.path,
                table: "failover_records",
                row: "a cluster's failovers".to_owned(),
            };
            let cluster = reader.text(row, 0, "cluster")?;
            let count = u64::try_from(reader.integer(row, 1, "COUNT(intent_id)")?).unwrap_or(0);
            counts.insert(cluster, count);
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use hadome_core::action::Action;
    use hadome_core::fact::Timestamp;
    use hadome_core::finding::Verdict;
    use hadome_core::supervise::{Failover, FailoverPhase};

    use super::*;

    fn rebuild() -> Action {
        Action::Rebuild {
            target: "db-3".to_owned(),
            source: "db-1".to_owned(),
        }
    }

    fn failover(cluster: &str, phase: FailoverPhase) -> Failover {
        Failover {
            cluster: cluster.to_owned(),
            old_primary: "db-1".to_owned(),
            evidence: "`db-1` has not answered for 1.6 s".to_owned(),
            synchronous: Vec::new(),
            phase,
            fenced: phase > FailoverPhase::Fencing,
            new_primary: None,
            followers: Vec::new(),
            synchronous_restored: false,
            stopped_because: String::new(),
        }
    }

    fn open() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        (dir, journal)
    }

    #[test]
    fn a_body_that_is_not_json_is_refused_naming_its_event() {
        let (dir, mut journal) = open();
        journal
            .record_verdict(Timestamp(1), &rebuild(), Verdict::Deny, &[])
            .unwrap();
        // Damage on disk, past the journal's API: a verdict whose body is not JSON.
        let raw = rusqlite::Connection::open(dir.path().join("journal.sqlite")).unwrap();
        raw.execute(
            "INSERT INTO events (at_ms, kind, subject, body) VALUES (2, 'verdict', 'db-3', '{')",
            [],
        )
        .unwrap();
        let error = journal.tally_events_after(0).unwrap_err();
        assert!(
            matches!(error, JournalError::Corrupt { .. }),
            "a damaged body is a corrupt value, not SQLite's `malformed JSON`: {error}"
        );
        assert!(
            error
                .to_string()
                .contains("corrupt value in `events.body` of event 2: not JSON"),
            "{error}"
        );
        let tally = journal.tally_events_after(2).unwrap();
        assert_eq!(tally.through, 2, "events after the damaged one are counted");
    }

    #[test]
    fn verdicts_intents_outcomes_and_escalations_are_counted_once_a_range_at_a_time() {
        let (_dir, mut journal) = open();
        let empty = journal.tally_events_after(0).unwrap();
        assert_eq!(
            empty,
            EventTally::default(),
            "an empty journal counts nothing"
        );

        journal
            .record_verdict(Timestamp(1), &rebuild(), Verdict::Deny, &[])
            .unwrap();
        journal
            .record_verdict(Timestamp(2), &rebuild(), Verdict::Deny, &[])
            .unwrap();
        let promote = Action::Promote {
            target: "db-2".to_owned(),
        };
        let by_daemon = journal
            .record_intent(Timestamp(3), &promote, Verdict::Allow, &[], &[], "daemon")
            .unwrap();
        journal
            .record_step(by_daemon, Timestamp(4), "fence `db-1`", true, "fenced")
            .unwrap();
        let mut total = journal.tally_events_after(0).unwrap();
        assert_eq!(
            total.verdicts,
            BTreeMap::from([(("rebuild".to_owned(), "deny".to_owned()), 2)])
        );
        assert_eq!(
            total.intents,
            BTreeMap::from([(("promote".to_owned(), "daemon".to_owned()), 1)])
        );
        assert!(total.outcomes.is_empty(), "an open intent has no outcome");

        journal
            .record_outcome(by_daemon, Timestamp(5), true, "db-2 is the primary")
            .unwrap();
        let by_person = journal
            .record_intent(
                Timestamp(6),
                &rebuild(),
                Verdict::Allow,
                &[],
                &[],
                "ann (hadome run)",
            )
            .unwrap();
        journal
            .record_outcome(by_person, Timestamp(7), false, "pg_basebackup failed")
            .unwrap();
        journal
            .record_escalation(
                Timestamp(8),
                "trio",
                "db-1",
                "replication-stalled",
                "stalled",
            )
            .unwrap();
        let later = journal.tally_events_after(total.through).unwrap();
        assert_eq!(
            later.verdicts,
            BTreeMap::new(),
            "the range starts after `through`"
        );
        total.add(later);
        assert_eq!(
            total.outcomes,
            BTreeMap::from([
                (("promote".to_owned(), "daemon".to_owned(), true), 1),
                (
                    ("rebuild".to_owned(), "ann (hadome run)".to_owned(), false),
                    1
                ),
            ])
        );
        assert_eq!(total.intents.values().sum::<u64>(), 2);
        assert_eq!(
            total.escalations,
            BTreeMap::from([(("trio".to_owned(), "replication-stalled".to_owned()), 1)])
        );
        assert_eq!(
            total,
            journal.tally_events_after(0).unwrap(),
            "one range or two"
        );
        let nothing_new = journal.tally_events_after(total.through).unwrap();
        assert_eq!(nothing_new.through, total.through);
        assert!(nothing_new.intents.is_empty());
    }

    #[test]
    fn a_failover_counts_once_whatever_phases_it_reached() {
        let (_dir, mut journal) = open();
        assert!(journal.failover_counts().unwrap().is_empty());
        let promote = Action::Promote {
            target: "db-2".to_owned(),
        };
        for (cluster, phases) in [
            ("trio", &[FailoverPhase::Fencing, FailoverPhase::Done][..]),
            ("trio", &[FailoverPhase::Fencing][..]),
            (
                "other",
                &[FailoverPhase::Fencing, FailoverPhase::Escalated][..],
            ),
        ] {
            let intent = journal
                .record_intent(Timestamp(1), &promote, Verdict::Allow, &[], &[], "daemon")
                .unwrap();
            for phase in phases {
                journal
                    .record_failover(intent, Timestamp(2), &failover(cluster, *phase))
                    .unwrap();
            }
        }
        assert_eq!(
            journal.failover_counts().unwrap(),
            BTreeMap::from([("other".to_owned(), 1), ("trio".to_owned(), 2)])
        );
    }
}
