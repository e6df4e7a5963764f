//! `primary-agreement`: whether the standbys still hear their primary.
//!
//! A hung primary keeps its replication connections open, so a standby's WAL receiver shows
//! `streaming` until `wal_receiver_timeout` (60 s by default). What tells is what it *receives*:
//! the daemon writes a heartbeat into the primary's WAL on every pass, and an idle primary that
//! hadome cannot reach still sends keepalives, so a standby that still hears its primary received
//! a message recently. The age comes from the standby's own clock (`clock_timestamp() -
//! last_msg_receipt_time`), so clock skew between hosts does not enter.
//!
//! How recently is bounded by the replication timeouts ([`KeepaliveSettings::idle_gap_ms`]): a
//! standby's silence counts only once it lasts both the detection window and twice the longest
//! gap an idle primary may leave. Without that second bound, an isolated idle primary's standbys
//! look deaf between two keepalives (seen in `bench/failover`: with the lab's standbys sending
//! status messages every second, they suppressed the primary's pings, and hadome restarted a
//! healthy primary). When nothing bounds the gap, their silence proves nothing.

use crate::estate::Cluster;
use crate::fact::{KeepaliveSettings, ReceiverStatus};
use crate::finding::human_duration;
use crate::interlock::View;

/// One standby's view of its primary.
#[derive(Debug, Clone, PartialEq)]
pub struct StandbyView {
    /// The standby.
    pub name: String,
    /// Whether it answered this pass.
    pub answers: bool,
    /// Whether it still hears the primary: its receiver streams and received something within the
    /// detection window.
    pub hears_primary: bool,
    /// Its receiver's status, when it has one.
    pub receiver: Option<ReceiverStatus>,
    /// Milliseconds since it last received anything.
    pub last_message_age_ms: Option<i64>,
    /// How long its silence must last to count (`None`: nothing bounds an idle primary's gap,
    /// so its silence never counts).
    pub silence_counts_after_ms: Option<i64>,
}

impl StandbyView {
    /// Whether its WAL receiver streams (whatever it hears): an unknown status does not.
    pub fn streams(&self) -> bool {
        self.receiver
            .as_ref()
            .is_some_and(ReceiverStatus::is_streaming)
    }

    /// "db-2: streaming, last message 0.2 s ago".
    pub fn describe(&self) -> String {
        if !self.answers {
            return format!("`{}` does not answer", self.name);
        }
        let receiver = self
            .receiver
            .as_ref()
            .map_or("no WAL receiver", ReceiverStatus::as_str);
        let bound = match self.silence_counts_after_ms {
            Some(after) => format!("counts after {}", human_duration(after as f64 / 1000.0)),
            None => "its replication timeouts bound no keepalive, so its silence proves nothing"
                .to_owned(),
        };
        match self.last_message_age_ms {
            Some(age) => format!(
                "`{}`: {receiver}, last message {} ago ({bound})",
                self.name,
                human_duration(age as f64 / 1000.0)
            ),
            None => format!("`{}`: {receiver}", self.name),
        }
    }
}

/// How the standbys of `cluster` that stream from `primary` directly see it. `direct` holds the
/// `application_name`s the primary last listed in `pg_stat_replication`: a cascaded standby hears
/// its own upstream, not the primary, so it is no witness. When `direct` is empty (hadome never
/// saw the primary's list, or the primary listed nobody), every member but the primary counts,
/// except those in `cascaded`: seen streaming from another standby, a cascade's receiver says
/// `streaming` while the primary is dead. `keepalive` holds the
/// primary's settings as last seen ([`KeepaliveSettings::UNKNOWN`] when never seen: then only the
/// standbys' own timeouts bound the gap).
pub fn standby_view(
    view: &View,
    cluster: &Cluster,
    primary: &str,
    direct: &[String],
    cascaded: &std::collections::BTreeSet<String>,
    window_seconds: f64,
    keepalive: &KeepaliveSettings,
) -> Vec<StandbyView> {
    let window_ms = (window_seconds * 1000.0) as i64;
    let witness = |member: &str| {
        let Some(instance) = view.estate.instance(member) else {
            return direct.is_empty();
        };
        if direct.is_empty() {
            !cascaded.contains(&instance.application_name)
        } else {
            direct.contains(&instance.application_name)
        }
    };
    cluster
        .members
        .iter()
        .filter(|member| member.as_str() != primary && witness(member))
        .map(|member| {
            let Some(state) = view.fresh(member) else {
                return StandbyView {
                    name: member.clone(),
                    answers: false,
                    hears_primary: false,
                    receiver: None,
                    last_message_age_ms: None,
                    silence_counts_after_ms: None,
                };
            };
            let receiver = state.wal_receiver.as_ref();
            let age = receiver.and_then(|receiver| receiver.last_message_age_ms);
            let streaming = receiver.is_some_and(|receiver| receiver.status.is_streaming());
            let counts_after = keepalive
                .idle_gap_ms(&state.keepalive)
                .map(|gap| window_ms.max(i64::try_from(gap.saturating_mul(2)).unwrap_or(i64::MAX)));
            // Silence that does not count (too short, or unbounded) is still hearing.
            let silent = age.is_none_or(|age| counts_after.is_some_and(|after| age > after));
            StandbyView {
                name: member.clone(),
                answers: state.in_recovery,
                hears_primary: state.in_recovery && streaming && !silent,
                receiver: receiver.map(|receiver| receiver.status.clone()),
                last_message_age_ms: age,
                silence_counts_after_ms: counts_after,
            }
        })
        .collect()
}
