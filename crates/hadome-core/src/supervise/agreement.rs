//! `primary-agreement`: whether the standbys still hear their primary.
//!
//! A hung primary keeps its replication connections open, so a standby's WAL receiver shows
//! `streaming` until `wal_receiver_timeout` (60 s by default). What tells is what it *receives*:
//! the daemon writes a heartbeat into the primary's WAL on every pass, and an idle primary sends
//! keepalives every `wal_sender_timeout / 2`, so a standby that still hears its primary received a
//! message recently. The age comes from the standby's own clock (`clock_timestamp() -
//! last_msg_receipt_time`), so clock skew between hosts does not enter.

use crate::estate::Cluster;
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
    pub receiver: Option<String>,
    /// Milliseconds since it last received anything.
    pub last_message_age_ms: Option<i64>,
}

impl StandbyView {
    /// "db-2: streaming, last message 0.2 s ago".
    pub fn describe(&self) -> String {
        if !self.answers {
            return format!("`{}` does not answer", self.name);
        }
        let receiver = self.receiver.as_deref().unwrap_or("no WAL receiver");
        match self.last_message_age_ms {
            Some(age) => format!(
                "`{}`: {receiver}, last message {} ago",
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
/// saw the primary's list), every member but the primary counts.
pub fn standby_view(
    view: &View,
    cluster: &Cluster,
    primary: &str,
    direct: &[String],
    window_seconds: f64,
) -> Vec<StandbyView> {
    let window_ms = (window_seconds * 1000.0) as i64;
    let witness = |member: &str| {
        direct.is_empty()
            || view
                .estate
                .instance(member)
                .is_some_and(|instance| direct.contains(&instance.application_name))
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
                };
            };
            let receiver = state.wal_receiver.as_ref();
            let age = receiver.and_then(|receiver| receiver.last_message_age_ms);
            let streaming = receiver.is_some_and(|receiver| receiver.status == "streaming");
            StandbyView {
                name: member.clone(),
                answers: state.in_recovery,
                hears_primary: state.in_recovery
                    && streaming
                    && age.is_some_and(|age| age <= window_ms),
                receiver: receiver.map(|receiver| receiver.status.clone()),
                last_message_age_ms: age,
            }
        })
        .collect()
}
