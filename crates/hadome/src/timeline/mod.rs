//! The incident timeline (issue 16): the journal's events in a time window, in words, merged in
//! time order and condensed, as markdown to paste into a postmortem and as JSON.
//!
//! Every kind of event becomes an entry (`describe.rs`): fact changes, findings raised and
//! cleared, verdicts with each finding's rule and message (numbers included), intents with their
//! plan, overrides, steps, outcomes, leases, pauses, acks, escalations, backups, restore tests,
//! failover phases, host boots and images, quorum members down and back, requests the daemon's
//! API refused. Then it is condensed, per subject, so that a story told a hundred times reads
//! once:
//!
//! - an entry that says what the subject's previous entry said (the same key: a verdict on the
//!   same action with the same rules, the same fact change) joins it, which then shows how many
//!   times and from when to when (`×12, 14:02:03–14:02:14`) with the first one's words; an entry
//!   about another subject in between does not separate them, one about the same subject does;
//! - a subject alternating between two keys of one group (a fact flapping between two summaries,
//!   a finding raised and cleared, a member down and back) becomes one `flapping` entry;
//! - a notification of an escalation folds into the escalation's entry (delivered, or why not).
//!
//! The daemon's API (`GET /v1/timeline`) and `hadome timeline` share [`timeline`].

mod describe;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use hadome_core::fact::Timestamp;
use hadome_core::finding::human_duration;
use hadome_journal::{Journal, JournalEvent};
use serde_json::{json, Value};

use crate::error::CliError;

use describe::{describe, notified, Context, Flap};

/// The timeline's JSON version.
const VERSION: u32 = 1;

/// The longest text a markdown line shows (a step's detail may hold a command's whole output);
/// the JSON keeps it whole.
const MARKDOWN_TEXT_CHARS: usize = 1_000;

/// The journal's story in a time window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timeline {
    /// The window as asked: `None` for an open end.
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    /// How many events it read.
    events: usize,
    entries: Vec<Entry>,
}

/// One line of the timeline: one event, or several condensed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The first event's time.
    pub(crate) at: Timestamp,
    /// The last event's time (`at` for one event).
    pub(crate) until: Timestamp,
    /// How many events it stands for (a folded notification not counted).
    pub(crate) count: u32,
    /// The first event's kind (`fact-changed`, `finding-raised`, `verdict` …).
    pub(crate) kind: String,
    /// What it is about: an instance, a cluster, a backup, a host, a member.
    pub(crate) subject: String,
    /// What happened, in words.
    pub(crate) text: String,
    /// The events it stands for, folded notifications included.
    pub(crate) event_ids: Vec<i64>,
}

/// An entry while the timeline is built.
struct Building {
    entry: Entry,
    key: String,
    flap: Option<Flap>,
    /// The two keys it alternates between, once it flaps.
    flapping: Option<(String, String)>,
    /// For an escalation: its notifications (attempts, the last one's result).
    notifications: u32,
    last_notification: Option<Result<(), Option<String>>>,
    /// Condensed into another entry.
    gone: bool,
}

/// The timeline of `journal` from `since` to `until` (both included; `None`: an open end).
pub(crate) fn timeline(
    journal: &Journal,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Result<Timeline, CliError> {
    let events = journal.events_between(
        since.unwrap_or(Timestamp(i64::MIN)),
        until.unwrap_or(Timestamp(i64::MAX)),
    )?;
    Ok(condense(since, until, &events))
}

/// The timeline of `events` (oldest first, as the journal returns them).
pub(crate) fn condense(
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    events: &[JournalEvent],
) -> Timeline {
    let mut building: Vec<Building> = Vec::new();
    // Per subject, its live entries in order.
    let mut by_subject: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    // Per escalation id, its entry.
    let mut escalations: BTreeMap<i64, usize> = BTreeMap::new();
    let mut context = Context::default();
    for event in events {
        if let Some(notification) = notified(event) {
            if let Some(&index) = escalations.get(&notification.escalation) {
                let entry = &mut building[index];
                entry.notifications += 1;
                entry.last_notification = Some(if notification.ok {
                    Ok(())
                } else {
                    Err(notification.error)
                });
                entry.entry.event_ids.push(event.id);
                continue;
            }
        }
        let described = describe(event, &mut context);
        let trail = by_subject.entry(event.subject.clone()).or_default();
        if let Some(index) = joins(&building, trail, &event.kind, &described) {
            let entry = &mut building[index];
            entry.entry.count += 1;
            entry.entry.until = event.at;
            entry.entry.event_ids.push(event.id);
            if let Some(id) = described.escalation {
                escalations.insert(id, index);
            }
            continue;
        }
        if let Some((first, second)) = starts_flapping(&building, trail, &described) {
            // first, second, this: A, B, A — one flapping entry where the first was.
            let (second_ids, second_count) = {
                let second = &mut building[second];
                second.gone = true;
                (second.entry.event_ids.clone(), second.entry.count)
            };
            trail.pop();
            let key = building[second].key.clone();
            let entry = &mut building[first];
            entry.entry.count += second_count + 1;
            entry.entry.until = event.at;
            entry.entry.event_ids.extend(second_ids);
            entry.entry.event_ids.push(event.id);
            entry.flapping = Some((entry.key.clone(), key));
            if let Some(flap) = &entry.flap {
                entry.entry.text = flap.text.clone();
            }
            continue;
        }
        trail.push(building.len());
        if let Some(id) = described.escalation {
            escalations.insert(id, building.len());
        }
        building.push(Building {
            entry: Entry {
                at: event.at,
                until: event.at,
                count: 1,
                kind: event.kind.clone(),
                subject: event.subject.clone(),
                text: described.text,
                event_ids: vec![event.id],
            },
            key: described.key,
            flap: described.flap,
            flapping: None,
            notifications: 0,
            last_notification: None,
            gone: false,
        });
    }
    let entries = building
        .into_iter()
        .filter(|building| !building.gone)
        .map(|mut building| {
            match (building.notifications, &building.last_notification) {
                (0, _) | (_, None) => {}
                (attempts, Some(result)) => {
                    let tried = if attempts == 1 {
                        String::new()
                    } else {
                        format!(" ({attempts} attempts)")
                    };
                    building.entry.text.push_str(&match result {
                        Ok(()) => format!(" — notified{tried}"),
                        Err(Some(error)) => {
                            format!(" — notification failed{tried}: {error}")
                        }
                        Err(None) => format!(" — notification failed{tried}"),
                    });
                }
            }
            building.entry
        })
        .collect();
    Timeline {
        since,
        until,
        events: events.len(),
        entries,
    }
}

/// The entry this one joins: the subject's latest, when it says the same, or flaps between this
/// key and another.
fn joins(
    building: &[Building],
    trail: &[usize],
    kind: &str,
    described: &describe::Described,
) -> Option<usize> {
    let &last = trail.last()?;
    let previous = &building[last];
    let same = previous.entry.kind == kind && previous.key == described.key;
    let flaps_with = previous
        .flapping
        .as_ref()
        .is_some_and(|(one, other)| *one == described.key || *other == described.key)
        && previous.flap.as_ref().map(|flap| &flap.group)
            == described.flap.as_ref().map(|flap| &flap.group);
    (same || flaps_with).then_some(last)
}

/// Whether this entry, after the subject's last two, makes A, B, A of one flap group: their
/// indices.
fn starts_flapping(
    building: &[Building],
    trail: &[usize],
    described: &describe::Described,
) -> Option<(usize, usize)> {
    let group = &described.flap.as_ref()?.group;
    let [.., first, second] = trail else {
        return None;
    };
    let (a, b) = (&building[*first], &building[*second]);
    let in_group = |entry: &Building| entry.flap.as_ref().is_some_and(|flap| flap.group == *group);
    (in_group(a)
        && in_group(b)
        && a.flapping.is_none()
        && b.flapping.is_none()
        && a.key == described.key
        && b.key != described.key)
        .then_some((*first, *second))
}

/// `14:02:03` (UTC).
pub(crate) fn clock(at: Timestamp) -> String {
    let text = at.utc_text();
    text.split(' ').nth(1).unwrap_or(&text).to_owned()
}

/// `2026-12-05` (UTC).
fn date(at: Timestamp) -> String {
    let text = at.utc_text();
    text.split(' ').next().unwrap_or(&text).to_owned()
}

/// How long from `from` to `to`, as people say it.
pub(crate) fn duration_between(from: Timestamp, to: Timestamp) -> String {
    human_duration(to.seconds_since(from))
}

/// One line: newlines of a detail become ` ⏎ `, and a very long text is cut.
fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ⏎ ");
    if joined.chars().count() <= MARKDOWN_TEXT_CHARS {
        return joined;
    }
    let cut: String = joined.chars().take(MARKDOWN_TEXT_CHARS).collect();
    format!("{cut}… (cut; `--format json` has it whole)")
}

impl Timeline {
    /// The entries, in time order.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The window shown: as asked, or the events' own span for an open end.
    fn window(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        let first = self.entries.iter().map(|entry| entry.at).min();
        let last = self.entries.iter().map(|entry| entry.until).max();
        (self.since.or(first), self.until.or(last))
    }

    /// `{"version": 1, "since_ms", "until_ms", "entries": [{"at_ms", "until_ms", "count", "kind",
    /// "subject", "text", "event_ids"}]}`; `since_ms`/`until_ms` are the window asked, or the
    /// events' span for an open end (`null` when there is none).
    pub(crate) fn to_json(&self) -> Value {
        let (since, until) = self.window();
        json!({
            "version": VERSION,
            "since_ms": since.map(|at| at.0),
            "until_ms": until.map(|at| at.0),
            "entries": self.entries.iter().map(|entry| json!({
                "at_ms": entry.at.0,
                "until_ms": entry.until.0,
                "count": entry.count,
                "kind": entry.kind,
                "subject": entry.subject,
                "text": entry.text,
                "event_ids": entry.event_ids,
            })).collect::<Vec<_>>(),
        })
    }

    /// A heading with the window, then one line per entry, its date shown once and again when
    /// it changes; times in UTC.
    pub(crate) fn to_markdown(&self) -> String {
        let (since, until) = self.window();
        let mut text = match (since, until) {
            (Some(since), Some(until)) if date(since) == date(until) => format!(
                "## Timeline {} {} – {} UTC\n",
                date(since),
                clock(since),
                clock(until)
            ),
            (Some(since), Some(until)) => {
                format!("## Timeline {} – {}\n", since.utc_text(), until.utc_text())
            }
            (Some(since), None) => format!("## Timeline from {}\n", since.utc_text()),
            (None, Some(until)) => format!("## Timeline until {}\n", until.utc_text()),
            (None, None) => "## Timeline\n".to_owned(),
        };
        let repeated = self.entries.iter().filter(|entry| entry.count > 1).count();
        text.push_str(&format!(
            "\n_From hadome's journal: {} {} in {} {}{}; times in UTC._\n",
            self.events,
            if self.events == 1 { "event" } else { "events" },
            self.entries.len(),
            if self.entries.len() == 1 {
                "entry"
            } else {
                "entries"
            },
            if repeated > 0 {
                ", repeated ones condensed (×N, with their span)"
            } else {
                ""
            }
        ));
        if self.entries.is_empty() {
            text.push_str("\nNothing was journaled in this window.\n");
            return text;
        }
        let mut shown_date = String::new();
        for entry in &self.entries {
            let day = date(entry.at);
            if day != shown_date {
                text.push_str(&format!("\n**{day}**\n\n"));
                shown_date = day;
            }
            let span = if entry.count > 1 && entry.until.utc_text() == entry.at.utc_text() {
                format!(" (×{})", entry.count)
            } else if entry.count > 1 {
                let end = if date(entry.until) == shown_date {
                    clock(entry.until)
                } else {
                    format!("{} {}", date(entry.until), clock(entry.until))
                };
                format!(" (×{}, {}–{end})", entry.count, clock(entry.at))
            } else {
                String::new()
            };
            text.push_str(&format!(
                "- **{}** `{}` {}{span}\n",
                clock(entry.at),
                entry.subject,
                one_line(&entry.text)
            ));
        }
        text
    }
}
