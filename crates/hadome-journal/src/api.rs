//! What the daemon's HTTP API journals of its own (issue 16): every request that would change the
//! estate and was refused (no token, a wrong token, a role that does not allow the verb), so that
//! a bot that keeps trying is seen; and the journal read a page at a time (`GET /v1/events`).
//!
//! What an allowed request does is journaled by the command it runs (`hadome run`'s intent with
//! the token's name as its actor, `hadome ack`'s ack), not here.

use hadome_core::fact::Timestamp;
use serde::Serialize;

use crate::record::RECORD_VERSION;
use crate::{event, Journal, JournalError, JournalEvent};

/// The kind of an event recording a request the API refused.
pub(crate) const API_REFUSED: &str = "api-refused";

/// A request the API refused: which, from where, who it claimed to be, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiRefusal {
    /// `POST`.
    pub method: String,
    /// `/v1/run`.
    pub path: String,
    /// The verb it needed (`run`, `ack`).
    pub verb: String,
    /// The token's name when the token was known (a known token whose role does not allow the
    /// verb); `None` for no token or an unknown one (never the secret itself).
    pub token: Option<String>,
    /// The peer's address.
    pub peer: String,
    /// Why, in words.
    pub reason: String,
    /// The HTTP status it was answered with (401 or 403).
    pub status: u16,
}

#[derive(Serialize)]
struct ApiRefusedRecord<'a> {
    version: u32,
    #[serde(flatten)]
    refusal: &'a ApiRefusal,
}

impl Journal {
    /// Appends an `api-refused` event (subject: the request's path).
    pub fn record_api_refusal(
        &mut self,
        at: Timestamp,
        refusal: &ApiRefusal,
    ) -> Result<(), JournalError> {
        let record = ApiRefusedRecord {
            version: RECORD_VERSION,
            refusal,
        };
        event::append(
            &self.connection,
            &self.path,
            at,
            API_REFUSED,
            &refusal.path,
            &record,
        )
    }

    /// At most `limit` events appended after event `after` (0: from the first), oldest first:
    /// one page of the journal; the next page starts after the last id returned.
    pub fn events_after(&self, after: i64, limit: u32) -> Result<Vec<JournalEvent>, JournalError> {
        event::after_id(&self.connection, &self.path, after, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_events_and_events_come_a_page_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
        for index in 0..5 {
            journal
                .record_api_refusal(
                    Timestamp(1_000 + index),
                    &ApiRefusal {
                        method: "POST".to_owned(),
                        path: "/v1/run".to_owned(),
                        verb: "run".to_owned(),
                        token: None,
                        peer: "127.0.0.1:5000".to_owned(),
                        reason: "no bearer token".to_owned(),
                        status: 401,
                    },
                )
                .unwrap();
        }
        let first = journal.events_after(0, 2).unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].kind, crate::KIND_API_REFUSED);
        assert_eq!(first[0].subject, "/v1/run");
        assert_eq!(first[0].body["reason"], "no bearer token");
        assert_eq!(first[0].body["status"], 401);
        assert_eq!(first[0].body["version"], RECORD_VERSION);
        let second = journal.events_after(first[1].id, 2).unwrap();
        assert_eq!(second.len(), 2);
        assert!(second[0].id > first[1].id);
        let last = journal.events_after(second[1].id, 2).unwrap();
        assert_eq!(last.len(), 1, "five events: 2 + 2 + 1");
        assert!(journal.events_after(last[0].id, 2).unwrap().is_empty());
    }
}
