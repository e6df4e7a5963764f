//! The journal against a model: random passes over three instances, compared after every pass to
//! "the last answered state of each instance" and "the summary changes" kept in memory.

use std::collections::BTreeMap;

use hadome_core::fact::{Facts, InstanceState, LastKnown, Timestamp};
use hadome_journal::{FactChange, Journal};
use proptest::prelude::*;

use crate::support::{answered, new_journal, position, state, unreachable};

const INSTANCES: [&str; 3] = ["db-1", "db-2", "db-3"];
/// Unreachable errors, and which of them say the same thing in other words (the model's own
/// grouping: down, down, timed out, timed out).
const ERRORS: [&str; 4] = [
    "connection refused",
    "cannot connect: error communicating with the server: early eof",
    "timed out after 2.0 s",
    "no answer to accept the connection within 2.0 s (probe_timeout_seconds)",
];
const SAME_AS: [usize; 4] = [0, 0, 2, 2];

/// What one probe of one instance saw.
#[derive(Debug, Clone)]
enum Seen {
    NotProbed,
    Unreachable(usize),
    Answered {
        in_recovery: bool,
        system_identifier: u64,
        timeline: u32,
        lsn: u64,
        history: Option<Vec<(u32, u64)>>,
        streaming: bool,
        unapplied: usize,
        last_replay_at: Option<i64>,
    },
}

fn seen() -> impl Strategy<Value = Seen> {
    let answer = (
        any::<bool>(),
        prop_oneof![Just(7u64), Just(u64::MAX)],
        1u32..4,
        prop_oneof![0u64..0x1000, (1u64 << 63)..=u64::MAX],
        proptest::option::of(proptest::collection::vec((1u32..4, any::<u64>()), 0..3)),
        any::<bool>(),
        0usize..3,
        proptest::option::of(0i64..1_000_000),
    )
        .prop_map(
            |(
                in_recovery,
                system_identifier,
                timeline,
                lsn,
                history,
                streaming,
                unapplied,
                last_replay_at,
            )| Seen::Answered {
                in_recovery,
                system_identifier,
                timeline,
                lsn,
                history,
                streaming,
                unapplied,
                last_replay_at,
            },
        );
    prop_oneof![
        1 => Just(Seen::NotProbed),
        2 => (0..ERRORS.len()).prop_map(Seen::Unreachable),
        5 => answer,
    ]
}

/// One pass: what each instance showed, when (an offset within the pass), and whether the journal
/// is closed and reopened before it.
fn pass() -> impl Strategy<Value = (Vec<(Seen, i64)>, bool)> {
    (
        proptest::collection::vec((seen(), 0i64..1_000), INSTANCES.len()),
        proptest::bool::weighted(0.2),
    )
}

/// The model's summary: the facts whose change is an event, independent of the journal's text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Summary {
    Unreachable(&'static str),
    Primary {
        timeline: u32,
        unapplied: usize,
    },
    Standby {
        timeline: u32,
        streaming: bool,
        unapplied: usize,
    },
}

impl Summary {
    fn text(&self) -> String {
        let unapplied = |count: usize| match count {
            0 => String::new(),
            1 => ", 1 unapplied setting".to_owned(),
            count => format!(", {count} unapplied settings"),
        };
        match self {
            Summary::Unreachable(error) => format!("unreachable: {error}"),
            Summary::Primary {
                timeline,
                unapplied: count,
            } => format!("primary, timeline {timeline}{}", unapplied(*count)),
            Summary::Standby {
                timeline,
                streaming,
                unapplied: count,
            } => format!(
                "standby, timeline {timeline}, {}{}",
                if *streaming {
                    "streaming"
                } else {
                    "not streaming"
                },
                unapplied(*count)
            ),
        }
    }
}

#[derive(Default)]
struct Model {
    last_answered: BTreeMap<String, LastKnown>,
    summaries: BTreeMap<String, Summary>,
}

impl Model {
    /// Applies one probe; the change it makes, if any.
    fn observe(&mut self, instance: &str, at: i64, seen: &Seen) -> Option<FactChange> {
        let summary = match seen {
            Seen::NotProbed => return None,
            Seen::Unreachable(error) => Summary::Unreachable(ERRORS[*error]),
            Seen::Answered {
                in_recovery,
                system_identifier,
                timeline,
                lsn,
                history,
                streaming,
                unapplied,
                last_replay_at,
            } => {
                self.last_answered.insert(
                    instance.to_owned(),
                    LastKnown {
                        position: position(*system_identifier, *timeline, *lsn, history.as_deref()),
                        was_primary: !in_recovery,
                        was_streaming: *in_recovery && *streaming,
                        observed_at: Timestamp(at),
                        last_replay_at: last_replay_at.map(Timestamp),
                        synchronous: Default::default(),
                        keepalive: Default::default(),
                    },
                );
                if *in_recovery {
                    Summary::Standby {
                        timeline: *timeline,
                        streaming: *streaming,
                        unapplied: *unapplied,
                    }
                } else {
                    Summary::Primary {
                        timeline: *timeline,
                        unapplied: *unapplied,
                    }
                }
            }
        };
        let said = |summary: &Summary| match summary {
            Summary::Unreachable(error) => {
                let index = ERRORS.iter().position(|known| known == error);
                Summary::Unreachable(ERRORS[SAME_AS[index.expect("one of ERRORS")]])
            }
            other => other.clone(),
        };
        // The same state in other words is no change, and the first wording stays.
        if self
            .summaries
            .get(instance)
            .is_some_and(|before| said(before) == said(&summary))
        {
            return None;
        }
        let before = self.summaries.insert(instance.to_owned(), summary.clone());
        Some(FactChange {
            instance: instance.to_owned(),
            at: Timestamp(at),
            before: before.map(|before| before.text()),
            after: summary.text(),
        })
    }
}

fn instance_state(seen: &Seen) -> Option<InstanceState> {
    let Seen::Answered {
        in_recovery,
        system_identifier,
        timeline,
        lsn,
        history,
        streaming,
        unapplied,
        last_replay_at,
    } = seen
    else {
        return None;
    };
    let mut answer = state(
        *in_recovery,
        position(*system_identifier, *timeline, *lsn, history.as_deref()),
        *streaming,
        *unapplied,
    );
    answer.last_replay_at = last_replay_at.map(Timestamp);
    Some(answer)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_journal_agrees_with_a_model_of_last_answers_and_summary_changes(
        passes in proptest::collection::vec(pass(), 1..14),
    ) {
        let (_dir, path, mut journal) = new_journal();
        let mut model = Model::default();
        let mut all_changes = Vec::new();
        for (index, (probes, reopen)) in passes.iter().enumerate() {
            if *reopen {
                drop(journal);
                journal = Journal::open(&path).unwrap();
            }
            let start = 10_000 * i64::try_from(index).unwrap();
            let mut facts = Facts::default();
            let mut expected = Vec::new();
            for (instance, (seen, offset)) in INSTANCES.iter().zip(probes) {
                let at = start + offset;
                expected.extend(model.observe(instance, at, seen));
                let probe = match (seen, instance_state(seen)) {
                    (Seen::NotProbed, _) => continue,
                    (Seen::Unreachable(error), _) => unreachable(at, ERRORS[*error]),
                    (_, Some(answer)) => answered(at, answer),
                    (_, None) => unreachable!("an answer has a state"),
                };
                facts.instances.insert((*instance).to_owned(), probe);
            }
            let changes = journal.record_facts(&facts).unwrap();
            prop_assert_eq!(&changes, &expected, "pass {}", index);
            prop_assert_eq!(&journal.history().unwrap().last_known, &model.last_answered, "pass {}", index);
            all_changes.extend(expected);
        }

        // The event log holds every change, oldest first.
        all_changes.sort_by_key(|change| change.at);
        let logged: Vec<FactChange> = journal
            .events_since(Timestamp(i64::MIN))
            .unwrap()
            .into_iter()
            .map(|event| {
                assert_eq!(event.kind, "fact-changed");
                assert_eq!(event.body["version"], 1);
                assert_eq!(event.body["instance"].as_str(), Some(event.subject.as_str()));
                FactChange {
                    instance: event.subject,
                    at: event.at,
                    before: event.body["before"].as_str().map(str::to_owned),
                    after: event.body["after"].as_str().unwrap().to_owned(),
                }
            })
            .collect();
        prop_assert_eq!(logged, all_changes);
    }
}
