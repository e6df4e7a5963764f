//! Data positions of PostgreSQL copies and how two of them compare.
//!
//! A copy's data position is (system identifier, timeline, LSN) plus the history of its timeline:
//! the list of timeline switches that led to it. Two copies are comparable only with the same
//! system identifier. A is *ahead of* B when B's (timeline, LSN) lies on A's history and A's LSN
//! is at or past B's; copies whose histories fork after the point where one of them switched are
//! *divergent* (the Mackerel case): neither may overwrite the other without a human.

use std::fmt;

/// A WAL position in bytes (PostgreSQL's `pg_lsn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Parses PostgreSQL's `X/Y` text.
    pub fn parse(text: &str) -> Option<Lsn> {
        let (high, low) = text.split_once('/')?;
        let high = u64::from_str_radix(high, 16).ok()?;
        let low = u64::from_str_radix(low, 16).ok()?;
        (high <= u64::from(u32::MAX) && low <= u64::from(u32::MAX))
            .then_some(Lsn((high << 32) | low))
    }

    /// Bytes from `earlier` to `self` (0 when `earlier` is not earlier).
    pub fn bytes_after(self, earlier: Lsn) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// One line of a timeline history file: `timeline` was left for a new one at `switch_lsn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimelineSwitch {
    /// The timeline that ended.
    pub timeline: u32,
    /// Where it ended: the first byte of the next timeline.
    pub switch_lsn: Lsn,
}

/// Where a copy's data stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataPosition {
    /// `pg_control_system().system_identifier`: which cluster the data belongs to.
    pub system_identifier: u64,
    /// The timeline the copy writes (a primary) or has reached (a standby).
    pub timeline: u32,
    /// How far the copy's WAL goes on that timeline.
    pub lsn: Lsn,
    /// The switches that led to `timeline`, oldest first (empty on timeline 1). `None` when the
    /// history could not be read: such a position compares only on its own timeline.
    pub history: Option<Vec<TimelineSwitch>>,
}

/// How one data position stands against another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PositionOrder {
    /// The first holds everything the second holds, and more.
    Ahead,
    /// The second holds everything the first holds, and more.
    Behind,
    /// The same data.
    Equal,
    /// Each holds data the other lacks: their histories forked.
    Divergent,
    /// Not comparable: different clusters, or a history that could not be read.
    Incomparable,
}

impl PositionOrder {
    /// The order seen from the other side.
    pub fn reversed(self) -> PositionOrder {
        match self {
            PositionOrder::Ahead => PositionOrder::Behind,
            PositionOrder::Behind => PositionOrder::Ahead,
            other => other,
        }
    }
}

/// Whether `point` (timeline, LSN) lies on the history that leads to `position`.
///
/// `None` when that cannot be known (the history was not read).
fn lies_on(position: &DataPosition, timeline: u32, lsn: Lsn) -> Option<bool> {
    if timeline == position.timeline {
        return Some(true);
    }
    let history = position.history.as_ref()?;
    Some(
        history
            .iter()
            .any(|switch| switch.timeline == timeline && lsn <= switch.switch_lsn),
    )
}

impl DataPosition {
    /// Compares `self` with `other`: is `self` ahead of, behind, equal to, or divergent from it?
    pub fn compare(&self, other: &DataPosition) -> PositionOrder {
        if self.system_identifier != other.system_identifier {
            return PositionOrder::Incomparable;
        }
        if self.timeline == other.timeline {
            // The same number with different known histories: two promotions that each picked
            // the next free number they knew of. Different timelines, so the copies diverged.
            if let (Some(mine), Some(theirs)) = (&self.history, &other.history) {
                if mine != theirs {
                    return PositionOrder::Divergent;
                }
            }
            return match self.lsn.cmp(&other.lsn) {
                std::cmp::Ordering::Greater => PositionOrder::Ahead,
                std::cmp::Ordering::Less => PositionOrder::Behind,
                std::cmp::Ordering::Equal => PositionOrder::Equal,
            };
        }
        let other_on_self = lies_on(self, other.timeline, other.lsn);
        let self_on_other = lies_on(other, self.timeline, self.lsn);
        match (other_on_self, self_on_other) {
            (Some(true), _) if self.lsn >= other.lsn => PositionOrder::Ahead,
            (_, Some(true)) if other.lsn >= self.lsn => PositionOrder::Behind,
            (Some(_), Some(_)) => PositionOrder::Divergent,
            // One side's history is unknown: if the known side proves an order, it was returned
            // above; otherwise nobody can say.
            _ => PositionOrder::Incomparable,
        }
    }

    /// Where the history of `self` and `other` part: the switch point of the last timeline they
    /// share, when they diverged. `None` when they did not diverge or it cannot be told.
    pub fn fork_point(&self, other: &DataPosition) -> Option<(u32, Lsn)> {
        if self.compare(other) != PositionOrder::Divergent {
            return None;
        }
        let mine = self.history.as_ref()?;
        let theirs = other.history.as_ref()?;
        // The fork is on the newest timeline both went through; it ends at the earlier switch.
        let timeline_of = |history: &[TimelineSwitch], tli: u32| {
            history
                .iter()
                .find(|s| s.timeline == tli)
                .map(|s| s.switch_lsn)
        };
        let shared = (1..=self.timeline.min(other.timeline)).rev().find(|tli| {
            let on_mine = *tli == self.timeline || timeline_of(mine, *tli).is_some();
            let on_theirs = *tli == other.timeline || timeline_of(theirs, *tli).is_some();
            on_mine && on_theirs
        })?;
        let end_mine = if shared == self.timeline {
            self.lsn
        } else {
            timeline_of(mine, shared)?
        };
        let end_theirs = if shared == other.timeline {
            other.lsn
        } else {
            timeline_of(theirs, shared)?
        };
        Some((shared, end_mine.min(end_theirs)))
    }
}

impl fmt::Display for DataPosition {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} on timeline {}", self.lsn, self.timeline)
    }
}

/// Parses a timeline history file (`parentTLI<TAB>switchpoint<TAB>reason` per line).
pub fn parse_history(text: &str) -> Option<Vec<TimelineSwitch>> {
    let mut switches = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let timeline = fields.next()?.parse().ok()?;
        let switch_lsn = Lsn::parse(fields.next()?)?;
        switches.push(TimelineSwitch {
            timeline,
            switch_lsn,
        });
    }
    Some(switches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(timeline: u32, lsn: u64, history: &[(u32, u64)]) -> DataPosition {
        DataPosition {
            system_identifier: 7,
            timeline,
            lsn: Lsn(lsn),
            history: Some(
                history
                    .iter()
                    .map(|(tli, at)| TimelineSwitch {
                        timeline: *tli,
                        switch_lsn: Lsn(*at),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn mackerel_positions_diverge_after_the_cascade_stopped() {
        // db001 promoted at 100 (timeline 1 -> 2) and wrote on to 500; db002 stopped at 100 on
        // timeline 1. Promoting db002 would make timeline 2' from 100: divergent from db001.
        let db001 = at(2, 500, &[(1, 100)]);
        let db002 = at(1, 100, &[]);
        assert_eq!(db001.compare(&db002), PositionOrder::Ahead);
        assert_eq!(db002.compare(&db001), PositionOrder::Behind);
        let db002_promoted_as_two = at(2, 180, &[(1, 90)]);
        assert_eq!(
            db002_promoted_as_two.compare(&db001),
            PositionOrder::Divergent,
            "same number, other history"
        );
        let db002_promoted = at(3, 180, &[(1, 100)]);
        assert_eq!(db002_promoted.compare(&db001), PositionOrder::Divergent);
        assert_eq!(db002_promoted.fork_point(&db001), Some((1, Lsn(100))));
        // A copy past the switch point on the old timeline holds data the new one lacks.
        let stale_on_one = at(1, 150, &[]);
        assert_eq!(db001.compare(&stale_on_one), PositionOrder::Divergent);
    }

    #[test]
    fn different_clusters_and_unknown_histories_are_incomparable() {
        let mut other = at(1, 10, &[]);
        other.system_identifier = 8;
        assert_eq!(at(1, 10, &[]).compare(&other), PositionOrder::Incomparable);
        let mut unknown = at(2, 500, &[]);
        unknown.history = None;
        assert_eq!(
            unknown.compare(&at(3, 10, &[(1, 5), (2, 6)])),
            PositionOrder::Incomparable
        );
        assert_eq!(
            unknown.compare(&at(2, 10, &[])),
            PositionOrder::Ahead,
            "same timeline needs no history"
        );
    }

    #[test]
    fn history_files_parse() {
        let text = "1\t0/3000000\tno recovery target specified\n\n2\t0/5000A0\tbefore 2000-01-01\n";
        assert_eq!(
            parse_history(text),
            Some(vec![
                TimelineSwitch {
                    timeline: 1,
                    switch_lsn: Lsn(0x3000000)
                },
                TimelineSwitch {
                    timeline: 2,
                    switch_lsn: Lsn(0x5000A0)
                },
            ])
        );
        assert_eq!(parse_history("garbage"), None);
        assert_eq!(Lsn::parse("2/9F00A120").unwrap().to_string(), "2/9F00A120");
    }

    /// A random history tree: every timeline after 1 branches off an earlier one at some LSN;
    /// positions are points on those timelines.
    fn tree() -> impl Strategy<Value = Vec<DataPosition>> {
        (
            1usize..6,
            proptest::collection::vec((0usize..6, 1u64..1000, 0u64..1000), 1..6),
        )
            .prop_flat_map(|(extra, branches)| {
                // Timeline t (2..) branches from parent p < t at LSN b; history of t = history of p up
                // to b, then (p, b).
                let mut histories: Vec<(Vec<TimelineSwitch>, u64)> = vec![(Vec::new(), 0)];
                for (index, (parent, at, _)) in branches.iter().enumerate().take(extra) {
                    let parent = parent % (index + 1);
                    let (parent_history, parent_start) = histories[parent].clone();
                    let switch = parent_start + at;
                    let mut history = parent_history;
                    history.push(TimelineSwitch {
                        timeline: parent as u32 + 1,
                        switch_lsn: Lsn(switch),
                    });
                    histories.push((history, switch));
                }
                let count = histories.len();
                proptest::collection::vec((0..count, 0u64..1500), 3..4).prop_map(move |points| {
                    points
                        .into_iter()
                        .map(|(timeline, offset)| {
                            let (history, start) = &histories[timeline];
                            DataPosition {
                                system_identifier: 1,
                                timeline: timeline as u32 + 1,
                                lsn: Lsn(start + offset),
                                history: Some(history.clone()),
                            }
                        })
                        .collect()
                })
            })
    }

    proptest! {
        #[test]
        fn ordering_is_antisymmetric_and_divergence_symmetric(positions in tree()) {
            let (a, b) = (&positions[0], &positions[1]);
            prop_assert_eq!(a.compare(b), b.compare(a).reversed());
            prop_assert_eq!(a.compare(a), PositionOrder::Equal);
        }

        #[test]
        fn ordering_is_transitive_along_one_history(positions in tree()) {
            let (a, b, c) = (&positions[0], &positions[1], &positions[2]);
            let ahead_or_equal = |x: &DataPosition, y: &DataPosition| matches!(x.compare(y), PositionOrder::Ahead | PositionOrder::Equal);
            if ahead_or_equal(a, b) && ahead_or_equal(b, c) {
                prop_assert!(ahead_or_equal(a, c), "{} >= {} >= {} but {:?}", a, b, c, a.compare(c));
            }
        }
    }
}
