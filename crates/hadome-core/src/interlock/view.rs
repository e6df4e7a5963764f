//! One read-only view over the estate, this pass's facts, the journal's history and `now`.
//!
//! Interlocks ask it questions ("what do we know of db-1's data, and how fresh is it?") instead of
//! digging through the raw structures, so the rules read like their specification. A fact past its
//! cluster's `freshness_seconds` is stale: [`Knowledge::Stale`], never silently current.

use crate::estate::{Cluster, Estate};
use crate::fact::{Facts, History, InstanceState, LastKnown, ProbeOutcome, Timestamp};
use crate::finding::human_duration;
use crate::host::{HostFacts, HostOutcome};
use crate::position::{DataPosition, PositionOrder};

/// Everything an interlock may read.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The estate.
    pub estate: &'a Estate,
    /// This pass's observations.
    pub facts: &'a Facts,
    /// What earlier passes saw.
    pub history: &'a History,
    /// The time the decision is made at.
    pub now: Timestamp,
}

/// What hadome knows of one instance right now.
#[derive(Debug, Clone, Copy)]
pub enum Knowledge<'a> {
    /// It answered within the freshness bound.
    Fresh(&'a InstanceState),
    /// It answered, but longer ago than the freshness bound.
    Stale {
        /// What it said.
        state: &'a InstanceState,
        /// How old that is, in seconds.
        age_seconds: f64,
    },
    /// It did not answer this pass.
    Unreachable {
        /// Why.
        error: &'a str,
    },
    /// It was not probed.
    Unknown,
}

/// What hadome knows of one host right now (its `hadome host-facts`).
#[derive(Debug, Clone, Copy)]
pub enum HostKnowledge<'a> {
    /// Read within the host's `freshness_seconds`.
    Fresh(&'a HostFacts),
    /// Read, but longer ago than its `freshness_seconds`.
    Stale {
        /// What it said.
        facts: &'a HostFacts,
        /// How old that is, in seconds.
        age_seconds: f64,
    },
    /// Its facts could not be read this pass.
    Unreachable {
        /// Why.
        error: &'a str,
    },
    /// Its facts were not read.
    Unknown,
}

/// A data position and where it comes from.
#[derive(Debug, Clone, Copy)]
pub struct KnownPosition<'a> {
    /// The position.
    pub position: &'a DataPosition,
    /// When it was seen.
    pub seen_at: Timestamp,
    /// Whether it is this pass's fresh observation (else the journal's last known).
    pub live: bool,
    /// Whether the copy was a primary then.
    pub was_primary: bool,
    /// The copy's last replayed commit time then (standby), if known.
    pub last_replay_at: Option<Timestamp>,
}

impl<'a> View<'a> {
    /// The cluster `instance` belongs to.
    pub fn cluster_of(&self, instance: &str) -> Option<&'a Cluster> {
        self.estate.cluster_of(instance)
    }

    fn freshness_seconds(&self, instance: &str) -> f64 {
        self.cluster_of(instance)
            .map_or(30.0, |cluster| cluster.freshness_seconds)
    }

    /// What hadome knows of `instance` now.
    pub fn knowledge(&self, instance: &str) -> Knowledge<'a> {
        let Some(probe) = self.facts.instances.get(instance) else {
            return Knowledge::Unknown;
        };
        match &probe.outcome {
            ProbeOutcome::Answered(state) => {
                let age_seconds = self.now.seconds_since(probe.observed_at);
                if age_seconds <= self.freshness_seconds(instance) {
                    Knowledge::Fresh(state)
                } else {
                    Knowledge::Stale { state, age_seconds }
                }
            }
            ProbeOutcome::Unreachable { error, .. } => Knowledge::Unreachable { error },
        }
    }

    /// The instance's state when it is fresh.
    pub fn fresh(&self, instance: &str) -> Option<&'a InstanceState> {
        match self.knowledge(instance) {
            Knowledge::Fresh(state) => Some(state),
            _ => None,
        }
    }

    /// The journal's memory of `instance`.
    pub fn last_known(&self, instance: &str) -> Option<&'a LastKnown> {
        self.history.last_known.get(instance)
    }

    /// The best-known data position of `instance`: this pass's when fresh, else the last known.
    pub fn position(&self, instance: &str) -> Option<KnownPosition<'a>> {
        if let Some(state) = self.fresh(instance) {
            let seen_at = self
                .facts
                .instances
                .get(instance)
                .map_or(self.now, |probe| probe.observed_at);
            return Some(KnownPosition {
                position: &state.position,
                seen_at,
                live: true,
                was_primary: !state.in_recovery,
                last_replay_at: state.last_replay_at,
            });
        }
        self.last_known(instance).map(|known| KnownPosition {
            position: &known.position,
            seen_at: known.observed_at,
            live: false,
            was_primary: known.was_primary,
            last_replay_at: known.last_replay_at,
        })
    }

    /// Fresh members of `cluster` that accept writes (not in recovery).
    pub fn live_primaries(&self, cluster: &'a Cluster) -> Vec<&'a str> {
        cluster
            .members
            .iter()
            .filter(|member| self.fresh(member).is_some_and(|state| !state.in_recovery))
            .map(String::as_str)
            .collect()
    }

    /// The member of `cluster` most recently seen as a primary, and that sighting.
    pub fn last_known_primary(&self, cluster: &'a Cluster) -> Option<(&'a str, KnownPosition<'a>)> {
        cluster
            .members
            .iter()
            .filter_map(|member| self.position(member).map(|known| (member.as_str(), known)))
            .filter(|(_, known)| known.was_primary)
            .max_by_key(|(_, known)| (known.seen_at, known.position.timeline))
    }

    /// The newest timeline any member of `cluster` is known to have reached, and who.
    pub fn newest_timeline(&self, cluster: &'a Cluster) -> Option<(u32, &'a str)> {
        cluster
            .members
            .iter()
            .filter_map(|member| {
                self.position(member)
                    .map(|known| (known.position.timeline, member.as_str()))
            })
            .max_by_key(|(timeline, _)| *timeline)
    }

    /// The member whose `pg_stat_replication` lists `instance`: the upstream feeding it now.
    pub fn feeder_of(&self, instance: &str) -> Option<&'a str> {
        let application_name = &self.estate.instance(instance)?.application_name;
        let cluster = self.cluster_of(instance)?;
        cluster
            .members
            .iter()
            .filter(|member| member.as_str() != instance)
            .find(|member| {
                self.fresh(member).is_some_and(|state| {
                    state
                        .replication
                        .iter()
                        .any(|peer| &peer.application_name == application_name)
                })
            })
            .map(String::as_str)
    }

    /// Whether the standby `instance` replicates: its WAL receiver streams, and it is not stuck
    /// on a timeline its cluster has left while configured not to follow (such a receiver cycles
    /// through "end of timeline" and may show `streaming` for an instant).
    pub fn streams(&self, instance: &str) -> bool {
        let Some(state) = self.fresh(instance) else {
            return false;
        };
        let Some(receiver) = &state.wal_receiver else {
            return false;
        };
        if !receiver.status.is_streaming() {
            return false;
        }
        let left_behind = self
            .cluster_of(instance)
            .and_then(|cluster| self.newest_timeline(cluster))
            .is_some_and(|(newest, _)| newest > state.position.timeline);
        !(left_behind && state.recovery_target_timeline != "latest")
    }

    /// Whether `position` of a copy is at or ahead of `other`.
    pub fn at_or_ahead(position: &DataPosition, other: &DataPosition) -> bool {
        matches!(
            position.compare(other),
            PositionOrder::Ahead | PositionOrder::Equal
        )
    }

    /// "4 min ago" for a sighting.
    pub fn ago(&self, seen_at: Timestamp) -> String {
        format!("{} ago", human_duration(self.now.seconds_since(seen_at)))
    }

    /// What hadome knows of `host` now; a host the estate does not declare is read with the
    /// default freshness bound (30 s).
    pub fn host_knowledge(&self, host: &str) -> HostKnowledge<'a> {
        let Some(probe) = self.facts.hosts.get(host) else {
            return HostKnowledge::Unknown;
        };
        let freshness_seconds = self
            .estate
            .host(host)
            .map_or(30.0, |declared| declared.freshness_seconds);
        match &probe.outcome {
            HostOutcome::Answered(facts) => {
                let age_seconds = self.now.seconds_since(probe.observed_at);
                if age_seconds <= freshness_seconds {
                    HostKnowledge::Fresh(facts)
                } else {
                    HostKnowledge::Stale { facts, age_seconds }
                }
            }
            HostOutcome::Unreachable { error } => HostKnowledge::Unreachable { error },
        }
    }

    /// The host's facts when they are fresh.
    pub fn fresh_host(&self, host: &str) -> Option<&'a HostFacts> {
        match self.host_knowledge(host) {
            HostKnowledge::Fresh(facts) => Some(facts),
            _ => None,
        }
    }

    /// Why `host` has no fresh facts, as a phrase.
    pub fn why_host_not_fresh(&self, host: &str) -> String {
        match self.host_knowledge(host) {
            HostKnowledge::Fresh(_) => "its facts were read".to_owned(),
            HostKnowledge::Stale { age_seconds, .. } => {
                format!("its facts are {} old", human_duration(age_seconds))
            }
            HostKnowledge::Unreachable { error } => {
                format!("its facts cannot be read ({error})")
            }
            HostKnowledge::Unknown => "its facts were not read".to_owned(),
        }
    }

    /// Why `instance` has no fresh facts, as a phrase.
    pub fn why_not_fresh(&self, instance: &str) -> String {
        match self.knowledge(instance) {
            Knowledge::Fresh(_) => "it answered".to_owned(),
            Knowledge::Stale { age_seconds, .. } => {
                format!("its facts are {} old", human_duration(age_seconds))
            }
            Knowledge::Unreachable { error } => format!("it does not answer ({error})"),
            Knowledge::Unknown => "it was not observed".to_owned(),
        }
    }
}
