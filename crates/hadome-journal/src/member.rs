//! The `member_last_known` and `member_episodes` tables (schema version 7): what the journal
//! remembers of quorum members (issue 13, incident D), so that "`etcd-3` down for 14 min"
//! survives a restart of hadome, and "how long it took to come back before" can be answered.
//!
//! Each member's last answer is kept with when (an older answer never replaces a newer one), and
//! `last_healthy`, the last time a pass judged it healthy (the core's `member_health`, the
//! judgement the `quorum` rule makes). A down **episode** opens at the first pass that judges a
//! member not healthy (with its last healthy time then) and closes at the first pass that judges
//! it healthy again; each appends an event (`member-down`, `member-back`). Episodes are never
//! deleted.

use std::collections::BTreeMap;
use std::path::Path;

use hadome_core::fact::Timestamp;
use hadome_core::quorum::{DownEpisode, MemberLastKnown, MemberOutcome, MemberProbe, MemberState};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::column::RowReader;
use crate::{event, JournalError, MEMBER_BACK, MEMBER_DOWN};

/// A member's last answer as the journal stores it (`state`, JSON). Ids are text: etcd's member
/// ids are 64-bit and SQLite's JSON and integers are signed.
#[derive(Serialize, Deserialize)]
struct StateRecord {
    version: u32,
    member_id: String,
    leader_id: String,
    raft_term: u64,
    raft_index: u64,
    db_size_bytes: u64,
    is_learner: bool,
    errors: Vec<String>,
    alarms: Vec<String>,
    members: Vec<(String, String)>,
}

impl StateRecord {
    fn of(state: &MemberState) -> StateRecord {
        StateRecord {
            version: 1,
            member_id: format!("{:x}", state.member_id),
            leader_id: format!("{:x}", state.leader_id),
            raft_term: state.raft_term,
            raft_index: state.raft_index,
            db_size_bytes: state.db_size_bytes,
            is_learner: state.is_learner,
            errors: state.errors.clone(),
            alarms: state.alarms.clone(),
            members: state
                .members
                .iter()
                .map(|(id, name)| (format!("{id:x}"), name.clone()))
                .collect(),
        }
    }

    fn state(self) -> Result<MemberState, String> {
        let id = |text: &str| {
            u64::from_str_radix(text, 16).map_err(|error| format!("member id `{text}`: {error}"))
        };
        Ok(MemberState {
            member_id: id(&self.member_id)?,
            leader_id: id(&self.leader_id)?,
            raft_term: self.raft_term,
            raft_index: self.raft_index,
            db_size_bytes: self.db_size_bytes,
            is_learner: self.is_learner,
            errors: self.errors,
            alarms: self.alarms,
            members: self
                .members
                .iter()
                .map(|(member_id, name)| Ok((id(member_id)?, name.clone())))
                .collect::<Result<_, String>>()?,
        })
    }
}

#[derive(Serialize)]
struct EpisodeBody<'a> {
    version: u32,
    member: &'a str,
    last_healthy_at_ms: Option<i64>,
}

/// Keeps each answering member's answer, unless the journal holds a later one.
pub(crate) fn record_answers(
    connection: &Connection,
    path: &Path,
    members: &BTreeMap<String, MemberProbe>,
) -> Result<(), JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "record a member's answer",
        source,
    };
    for (name, probe) in members {
        let MemberOutcome::Answered(state) = &probe.outcome else {
            continue;
        };
        let body = serde_json::to_string(&StateRecord::of(state)).map_err(|source| {
            JournalError::Encode {
                path: path.to_owned(),
                what: "member state",
                source,
            }
        })?;
        connection
            .prepare_cached(
                "INSERT INTO member_last_known (member, state, state_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (member) DO UPDATE SET state = excluded.state,
                     state_at_ms = excluded.state_at_ms
                 WHERE state_at_ms IS NULL OR state_at_ms <= excluded.state_at_ms",
            )
            .map_err(failed)?
            .execute(rusqlite::params![name, body, probe.observed_at.0])
            .map_err(failed)?;
    }
    Ok(())
}

/// Records one pass's judgement of each member at `at`: `last_healthy` moves forward for a
/// healthy member and closes its open episode; a member not healthy opens one unless it has one.
pub(crate) fn record_health(
    connection: &Connection,
    path: &Path,
    at: Timestamp,
    healthy: &BTreeMap<String, bool>,
) -> Result<(), JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "record a member's health",
        source,
    };
    for (name, healthy) in healthy {
        let last_healthy: Option<i64> = connection
            .prepare_cached("SELECT last_healthy_ms FROM member_last_known WHERE member = ?1")
            .map_err(failed)?
            .query_row([name], |row| row.get::<_, Option<i64>>(0))
            .optional()
            .map_err(failed)?
            .flatten();
        let open: Option<i64> = connection
            .prepare_cached(
                "SELECT id FROM member_episodes WHERE member = ?1 AND back_at_ms IS NULL \
                 ORDER BY id DESC LIMIT 1",
            )
            .map_err(failed)?
            .query_row([name], |row| row.get(0))
            .optional()
            .map_err(failed)?;
        if *healthy {
            connection
                .prepare_cached(
                    "INSERT INTO member_last_known (member, last_healthy_ms) VALUES (?1, ?2)
                     ON CONFLICT (member) DO UPDATE SET last_healthy_ms = excluded.last_healthy_ms
                     WHERE last_healthy_ms IS NULL OR last_healthy_ms < excluded.last_healthy_ms",
                )
                .map_err(failed)?
                .execute(rusqlite::params![name, at.0])
                .map_err(failed)?;
            if let Some(id) = open {
                connection
                    .prepare_cached("UPDATE member_episodes SET back_at_ms = ?2 WHERE id = ?1")
                    .map_err(failed)?
                    .execute(rusqlite::params![id, at.0])
                    .map_err(failed)?;
                let body = EpisodeBody {
                    version: 1,
                    member: name,
                    last_healthy_at_ms: last_healthy,
                };
                event::append(connection, path, at, MEMBER_BACK, name, &body)?;
            }
        } else if open.is_none() {
            connection
                .prepare_cached(
                    "INSERT INTO member_episodes (member, last_healthy_before_ms, first_seen_down_ms) \
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(failed)?
                .execute(rusqlite::params![name, last_healthy, at.0])
                .map_err(failed)?;
            let body = EpisodeBody {
                version: 1,
                member: name,
                last_healthy_at_ms: last_healthy,
            };
            event::append(connection, path, at, MEMBER_DOWN, name, &body)?;
        }
    }
    Ok(())
}

/// Every member's last answer, last healthy time and episodes (oldest first).
pub(crate) fn read_all(
    connection: &Connection,
    path: &Path,
) -> Result<BTreeMap<String, MemberLastKnown>, JournalError> {
    let failed = |source| JournalError::Sqlite {
        path: path.to_owned(),
        action: "read the members' last known states",
        source,
    };
    let mut known: BTreeMap<String, MemberLastKnown> = BTreeMap::new();
    let mut statement = connection
        .prepare_cached(
            "SELECT member, state, state_at_ms, last_healthy_ms FROM member_last_known ORDER BY member",
        )
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        let name = RowReader {
            path,
            table: "member_last_known",
            row: "a row".to_owned(),
        }
        .text(row, 0, "member")?;
        let reader = RowReader {
            path,
            table: "member_last_known",
            row: format!("member `{name}`"),
        };
        let last_state = match (
            reader.optional_text(row, 1, "state")?,
            reader.optional_integer(row, 2, "state_at_ms")?,
        ) {
            (Some(body), Some(at)) => {
                let record: StateRecord = serde_json::from_str(&body)
                    .map_err(|error| reader.corrupt("state", error.to_string()))?;
                let state = record
                    .state()
                    .map_err(|detail| reader.corrupt("state", detail))?;
                Some((Timestamp(at), state))
            }
            _ => None,
        };
        let entry = known.entry(name).or_default();
        entry.last_state = last_state;
        entry.last_healthy = reader
            .optional_integer(row, 3, "last_healthy_ms")?
            .map(Timestamp);
    }
    let mut statement = connection
        .prepare_cached(
            "SELECT id, member, last_healthy_before_ms, first_seen_down_ms, back_at_ms \
             FROM member_episodes ORDER BY first_seen_down_ms, id",
        )
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        let id = RowReader {
            path,
            table: "member_episodes",
            row: "a row".to_owned(),
        }
        .integer(row, 0, "id")?;
        let reader = RowReader {
            path,
            table: "member_episodes",
            row: format!("episode {id}"),
        };
        let name = reader.text(row, 1, "member")?;
        known.entry(name).or_default().episodes.push(DownEpisode {
            last_healthy_before: reader
                .optional_integer(row, 2, "last_healthy_before_ms")?
                .map(Timestamp),
            first_seen_down: Timestamp(reader.integer(row, 3, "first_seen_down_ms")?),
            back_at: reader
                .optional_integer(row, 4, "back_at_ms")?
                .map(Timestamp),
        });
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use hadome_core::fact::{Facts, FailureKind};

    use crate::Journal;

    use super::*;

    fn state(raft_index: u64) -> MemberState {
        MemberState {
            // Above i64::MAX, as etcd's random ids often are.
            member_id: 0xfd42_2379_fda5_0b2f,
            leader_id: 0xfd42_2379_fda5_0b2f,
            raft_term: 3,
            raft_index,
            db_size_bytes: 20_480,
            is_learner: false,
            errors: Vec::new(),
            alarms: vec!["NOSPACE".to_owned()],
            members: vec![(0xfd42_2379_fda5_0b2f, "etcd-3".to_owned())],
        }
    }

    /// One pass: `etcd-3` answered (or not) at `at`, judged healthy (or not).
    fn pass(journal: &mut Journal, at: i64, answered: Option<u64>, healthy: bool) {
        let mut facts = Facts::default();
        facts.members.insert(
            "etcd-3".to_owned(),
            MemberProbe {
                observed_at: Timestamp(at),
                outcome: match answered {
                    Some(index) => MemberOutcome::Answered(state(index)),
                    None => MemberOutcome::Unreachable {
                        error: "connection refused".to_owned(),
                        kind: FailureKind::Down,
                    },
                },
            },
        );
        journal.record_facts(&facts).unwrap();
        journal
            .record_member_health(
                Timestamp(at),
                &BTreeMap::from([("etcd-3".to_owned(), healthy)]),
            )
            .unwrap();
    }

    #[test]
    fn down_for_and_each_episode_survive_a_reopened_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let mut journal = Journal::open(&path).unwrap();
        pass(&mut journal, 1_000, Some(10), true);
        pass(&mut journal, 2_000, None, false);
        pass(&mut journal, 3_000, None, false);
        pass(&mut journal, 9_000, Some(12), true);
        pass(&mut journal, 10_000, None, false);
        drop(journal);

        let journal = Journal::open(&path).unwrap();
        let history = journal.history().unwrap();
        let known = &history.members["etcd-3"];
        assert_eq!(known.last_healthy, Some(Timestamp(9_000)));
        let (at, state) = known.last_state.as_ref().unwrap();
        assert_eq!((*at, state), (Timestamp(9_000), &super::tests::state(12)));
        assert_eq!(
            known.episodes,
            [
                DownEpisode {
                    last_healthy_before: Some(Timestamp(1_000)),
                    first_seen_down: Timestamp(2_000),
                    back_at: Some(Timestamp(9_000)),
                },
                DownEpisode {
                    last_healthy_before: Some(Timestamp(9_000)),
                    first_seen_down: Timestamp(10_000),
                    back_at: None,
                },
            ],
            "one episode per time down, the second still open"
        );
        assert_eq!(known.episodes[0].down_seconds(Timestamp(99_000)), 8.0);
        assert_eq!(known.episodes[1].down_seconds(Timestamp(16_000)), 7.0);
        let kinds: Vec<String> = journal
            .events_since(Timestamp(0))
            .unwrap()
            .into_iter()
            .filter(|event| event.subject == "etcd-3")
            .map(|event| event.kind)
            .collect();
        assert_eq!(kinds, [MEMBER_DOWN, MEMBER_BACK, MEMBER_DOWN]);
    }

    #[test]
    fn an_older_answer_never_replaces_a_newer_one_and_a_member_never_healthy_has_no_last_healthy() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        pass(&mut journal, 5_000, Some(50), false);
        pass(&mut journal, 4_000, Some(40), false);
        let known = &journal.history().unwrap().members["etcd-3"];
        assert_eq!(known.last_state.as_ref().unwrap().1.raft_index, 50);
        assert_eq!(known.last_healthy, None);
        assert_eq!(known.episodes.len(), 1);
        assert_eq!(known.episodes[0].last_healthy_before, None);
    }
}
