//! Facts: what one pass of observation saw, with when; and the history the journal remembers.
//!
//! The observer (`hadome-observer`) fills [`Facts`] from live servers; the journal
//! (`hadome-journal`) fills [`History`] from what earlier passes saw. The core never reads a
//! clock: every age is computed against the `now` it is given.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::backup::{BackupHistory, BackupObservation, Storage};
use crate::position::{DataPosition, Lsn};

/// A point in time: milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1000.0
    }

    /// `2026-03-01 14:02:03 UTC`: the time for people (messages, logs, `hadome ack`).
    pub fn utc_text(self) -> String {
        let utc = self.utc();
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second
        )
    }

    /// `20260301T140203Z`: the time in a file or directory name (a moved-aside data directory,
    /// a backup copy): no spaces or colons, and names sort in time order.
    pub fn utc_stamp(self) -> String {
        let utc = self.utc();
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second
        )
    }

    /// `2026-12-03T12:54:18.651Z`: the time in JSON (RFC 3339, UTC, to the millisecond).
    pub fn rfc3339(self) -> String {
        let utc = self.utc();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            self.0.rem_euclid(1000)
        )
    }

    /// The calendar date and time of day in UTC, down to the second (milliseconds dropped,
    /// rounding toward the past also before 1970), without a date library: the core depends on
    /// std alone. Days to a civil date after Howard Hinnant's `civil_from_days`.
    fn utc(self) -> Utc {
        let seconds = self.0.div_euclid(1000);
        let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_index + 2) / 5 + 1;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        };
        Utc {
            year: year_of_era + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day % 3600 / 60,
            second: second_of_day % 60,
        }
    }
}

/// A [`Timestamp`] as a UTC calendar date and time of day.
struct Utc {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

/// One pass of observation over the estate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Per instance name, what its probe returned. An instance of the estate that is missing here
    /// was not probed: its facts are unknown.
    pub instances: BTreeMap<String, Probe>,
    /// Per backup name, its copies as listed now (missing: not looked at).
    pub backups: BTreeMap<String, BackupObservation>,
    /// Per path of interest (snapshot and backup locations, what they protect, data
    /// directories), the filesystem that holds it; missing when it could not be looked up.
    pub storage: BTreeMap<PathBuf, Storage>,
    /// Per declared host, what reading its facts returned (missing: not read).
    pub hosts: BTreeMap<String, crate::host::HostProbe>,
    /// Per etcd member name, what its probe returned (missing: not probed, so unknown).
    pub members: BTreeMap<String, crate::quorum::MemberProbe>,
    /// Per route name, its probe (missing: not probed).
    pub routes: BTreeMap<String, crate::web::RouteProbe>,
    /// Per service name with a `running_command`, whether it runs (missing: not asked).
    pub services: BTreeMap<String, crate::web::ServiceProbe>,
    /// Per nginx name, its configuration read and linted (missing: not read).
    pub nginx: BTreeMap<String, crate::web::NginxProbe>,
}

/// One probe of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// When the probe started.
    pub observed_at: Timestamp,
    /// What it found.
    pub outcome: ProbeOutcome,
}

/// An instance answered, or did not within the probe timeout.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    /// It answered every query.
    Answered(Box<InstanceState>),
    /// It did not answer (refused, timed out, failed): the error, as text.
    Unreachable {
        /// What went wrong.
        error: String,
        /// What kind of failure that is.
        kind: FailureKind,
    },
}

impl ProbeOutcome {
    /// An `Unreachable` outcome, its kind read from the error text ([`FailureKind::of_error`]).
    pub fn unreachable(error: impl Into<String>) -> ProbeOutcome {
        let error = error.into();
        ProbeOutcome::Unreachable {
            kind: FailureKind::of_error(&error),
            error,
        }
    }
}

/// Why an instance did not answer: the difference between dead, hung and busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Nothing answered within the probe timeout: hung, or cut off by the network.
    Timeout,
    /// The connection was refused or closed at once: no postmaster (crashed or stopped).
    Down,
    /// It answered that it is saturated (too many connections, a statement timeout): alive.
    Overloaded,
    /// It answered that it is starting up, recovering or shutting down.
    Starting,
    /// Anything else (bad conninfo, authentication, a query error).
    Other,
}

impl FailureKind {
    /// The kind of a probe's error text (the observer's own wording and PostgreSQL's messages).
    pub fn of_error(error: &str) -> FailureKind {
        let text = error.to_ascii_lowercase();
        let any = |needles: &[&str]| needles.iter().any(|needle| text.contains(needle));
        if any(&[
            "too many clients",
            "connection slots are reserved",
            "statement timeout",
            "canceling statement",
            "out of memory",
        ]) {
            FailureKind::Overloaded
        } else if any(&[
            "starting up",
            "shutting down",
            "in recovery mode",
            "not yet accepting connections",
        ]) {
            FailureKind::Starting
        } else if any(&["no answer", "timed out", "timeout"]) {
            FailureKind::Timeout
        } else if any(&[
            "refused",
            "connection closed",
            "unexpected eof",
            "reset by peer",
            "broken pipe",
            "no such file",
            "error communicating with the server",
        ]) {
            FailureKind::Down
        } else {
            FailureKind::Other
        }
    }

    /// The kind as one word.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Down => "down",
            FailureKind::Overloaded => "overloaded",
            FailureKind::Starting => "starting",
            FailureKind::Other => "other",
        }
    }
}

/// What a PostgreSQL instance said of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceState {
    /// `pg_is_in_recovery()`: a standby.
    pub in_recovery: bool,
    /// Its data position: on a primary the current WAL position; on a standby the furthest of
    /// what it received and what it replayed, on the timeline it has reached.
    pub position: DataPosition,
    /// `pg_last_wal_receive_lsn()` (standby).
    pub receive_lsn: Option<Lsn>,
    /// `pg_last_wal_replay_lsn()` (standby).
    pub replay_lsn: Option<Lsn>,
    /// `pg_last_xact_replay_timestamp()` (standby): when the last replayed transaction committed.
    pub last_replay_at: Option<Timestamp>,
    /// `pg_postmaster_start_time()`.
    pub postmaster_started_at: Timestamp,
    /// `wal_segment_size` in bytes.
    pub wal_segment_size_bytes: u64,
    /// The number of the oldest WAL segment in its `pg_wal` (`pg_ls_waldir()`), whatever the
    /// timeline; `None` when it cannot be read.
    pub oldest_wal_segment: Option<u64>,
    /// `recovery_target_timeline` (`latest`, `current`, or a number).
    pub recovery_target_timeline: String,
    /// `primary_conninfo`, with any password removed.
    pub primary_conninfo: String,
    /// `pg_stat_wal_receiver` (the standby's view); `None` when no WAL receiver runs.
    pub wal_receiver: Option<WalReceiver>,
    /// `pg_stat_replication` (the upstream's view of its standbys).
    pub replication: Vec<ReplicationPeer>,
    /// `pg_replication_slots` (physical slots).
    pub slots: Vec<ReplicationSlot>,
    /// Settings changed on disk but not applied, or waiting for a restart.
    pub unapplied_settings: Vec<UnappliedSetting>,
    /// The settings that bound how long an idle primary's standbys may hear nothing from it
    /// (`primary-agreement`).
    pub keepalive: KeepaliveSettings,
    /// What it waits for before it acknowledges a commit (on a primary).
    pub synchronous: SyncSettings,
}

/// An instance's live `synchronous_standby_names` and `synchronous_commit`, as read (`None`: not
/// read). [`crate::sync_rep::commit_wait`] says what they make a primary wait for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSettings {
    /// `synchronous_standby_names`.
    pub standby_names: Option<String>,
    /// `synchronous_commit`.
    pub commit: Option<String>,
}

/// The live replication timeouts of an instance, in milliseconds (`None`: not read). Together
/// they bound how often an idle primary that hadome cannot reach still reaches its standbys:
/// a WAL sender pings a standby it has not heard from for half its `wal_sender_timeout`, unless
/// the standby's own status messages (every `wal_receiver_status_interval`) keep resetting that
/// clock; a WAL receiver that has received nothing for half its `wal_receiver_timeout` asks for
/// a reply itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepaliveSettings {
    /// `wal_sender_timeout` (0: the sender never pings).
    pub sender_timeout_ms: Option<u64>,
    /// `wal_receiver_status_interval` (0: no periodic status messages).
    pub receiver_status_interval_ms: Option<u64>,
    /// `wal_receiver_timeout` (0: the receiver never asks).
    pub receiver_timeout_ms: Option<u64>,
}

impl KeepaliveSettings {
    /// None of them read (the `Default`).
    pub const UNKNOWN: KeepaliveSettings = KeepaliveSettings {
        sender_timeout_ms: None,
        receiver_status_interval_ms: None,
        receiver_timeout_ms: None,
    };

    /// The longest an idle primary with these sender settings (`self`) leaves `standby` (its
    /// receiver settings) without a message, in milliseconds: `None` when nothing bounds it.
    ///
    /// The sender's ping comes every `wal_sender_timeout / 2` only while the standby's status
    /// messages come less often than that (each one resets the sender's clock); the receiver's
    /// own request comes after `wal_receiver_timeout / 2` of silence in any case.
    pub fn idle_gap_ms(&self, standby: &KeepaliveSettings) -> Option<u64> {
        let sender = self
            .sender_timeout_ms
            .filter(|timeout| *timeout > 0)
            .map(|timeout| timeout / 2)
            .filter(|half| {
                standby
                    .receiver_status_interval_ms
                    .is_some_and(|interval| interval == 0 || interval > *half)
            });
        let receiver = standby
            .receiver_timeout_ms
            .filter(|timeout| *timeout > 0)
            .map(|timeout| timeout / 2);
        match (sender, receiver) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A standby's WAL receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct WalReceiver {
    /// `status`.
    pub status: ReceiverStatus,
    /// `received_tli`.
    pub received_timeline: u32,
    /// `flushed_lsn`.
    pub flushed_lsn: Option<Lsn>,
    /// `last_msg_receipt_time`.
    pub last_message_at: Option<Timestamp>,
    /// Milliseconds since `last_msg_receipt_time`, by the standby's own clock (no clock skew).
    pub last_message_age_ms: Option<i64>,
    /// `sender_host:sender_port`.
    pub sender: Option<String>,
    /// `slot_name`.
    pub slot_name: Option<String>,
}

/// One row of an upstream's `pg_stat_replication`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationPeer {
    /// `application_name`: which standby.
    pub application_name: String,
    /// `state`: `streaming`, `catchup`, `backup` …
    pub state: String,
    /// `sent_lsn`.
    pub sent_lsn: Option<Lsn>,
    /// `flush_lsn`.
    pub flush_lsn: Option<Lsn>,
    /// `replay_lsn`.
    pub replay_lsn: Option<Lsn>,
    /// `sync_state`.
    pub sync_state: SyncState,
    /// `reply_time`.
    pub reply_at: Option<Timestamp>,
}

/// One physical replication slot.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationSlot {
    /// `slot_name`.
    pub name: String,
    /// `active`.
    pub active: bool,
    /// `wal_status` (`None`: NULL, the slot has reserved no WAL yet).
    pub wal_status: Option<WalStatus>,
    /// `restart_lsn`.
    pub restart_lsn: Option<Lsn>,
}

// PostgreSQL reports the three states below as words. They are parsed once, by the observer, so
// the core matches variants instead of comparing text; a word a later PostgreSQL adds becomes
// `Other`, which every helper treats as the unsafe case (not streaming, not synchronous, not
// proven safe) instead of silently taking it for a known one.

/// `pg_stat_wal_receiver.status`: what a standby's WAL receiver is doing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReceiverStatus {
    /// `stopped`: not running.
    Stopped,
    /// `starting`: starting up, not yet connected.
    Starting,
    /// `streaming`: receiving WAL from its upstream.
    Streaming,
    /// `waiting`: waiting to restart streaming (after an error, or at the end of a timeline).
    Waiting,
    /// `restarting`: about to restart streaming.
    Restarting,
    /// `stopping`: shutting down.
    Stopping,
    /// A status this version of hadome does not know: not streaming.
    Other(String),
}

impl ReceiverStatus {
    /// The status PostgreSQL reports as `text`.
    pub fn parse(text: &str) -> ReceiverStatus {
        match text {
            "stopped" => ReceiverStatus::Stopped,
            "starting" => ReceiverStatus::Starting,
            "streaming" => ReceiverStatus::Streaming,
            "waiting" => ReceiverStatus::Waiting,
            "restarting" => ReceiverStatus::Restarting,
            "stopping" => ReceiverStatus::Stopping,
            other => ReceiverStatus::Other(other.to_owned()),
        }
    }

    /// PostgreSQL's word for it.
    pub fn as_str(&self) -> &str {
        match self {
            ReceiverStatus::Stopped => "stopped",
            ReceiverStatus::Starting => "starting",
            ReceiverStatus::Streaming => "streaming",
            ReceiverStatus::Waiting => "waiting",
            ReceiverStatus::Restarting => "restarting",
            ReceiverStatus::Stopping => "stopping",
            ReceiverStatus::Other(text) => text,
        }
    }

    /// Whether it receives WAL (`streaming`); an unknown status does not.
    pub fn is_streaming(&self) -> bool {
        *self == ReceiverStatus::Streaming
    }
}

/// `pg_stat_replication.sync_state`: how the primary counts a standby for synchronous commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyncState {
    /// `async`: commits never wait for it.
    Async,
    /// `potential`: asynchronous now; synchronous if a synchronous one fails.
    Potential,
    /// `sync`: commits wait for it.
    Sync,
    /// `quorum`: commits wait for enough of the quorum standbys, it among them.
    Quorum,
    /// A state this version of hadome does not know: not synchronous.
    Other(String),
}

impl SyncState {
    /// The state PostgreSQL reports as `text`.
    pub fn parse(text: &str) -> SyncState {
        match text {
            "async" => SyncState::Async,
            "potential" => SyncState::Potential,
            "sync" => SyncState::Sync,
            "quorum" => SyncState::Quorum,
            other => SyncState::Other(other.to_owned()),
        }
    }

    /// PostgreSQL's word for it.
    pub fn as_str(&self) -> &str {
        match self {
            SyncState::Async => "async",
            SyncState::Potential => "potential",
            SyncState::Sync => "sync",
            SyncState::Quorum => "quorum",
            SyncState::Other(text) => text,
        }
    }

    /// Whether commits wait for it (`sync` or `quorum`); an unknown state is not counted on.
    pub fn is_synchronous(&self) -> bool {
        matches!(self, SyncState::Sync | SyncState::Quorum)
    }
}

/// `pg_replication_slots.wal_status`: whether the WAL a slot needs is still there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WalStatus {
    /// `reserved`: within `max_wal_size`.
    Reserved,
    /// `extended`: beyond `max_wal_size`, kept by the slot or `wal_keep_size`.
    Extended,
    /// `unreserved`: no longer kept; removed at the next checkpoint unless the slot catches up.
    Unreserved,
    /// `lost`: some of the WAL it needs was removed; the slot is unusable.
    Lost,
    /// A status this version of hadome does not know: the WAL may be gone, but that is not
    /// proven.
    Other(String),
}

impl WalStatus {
    /// The status PostgreSQL reports as `text`.
    pub fn parse(text: &str) -> WalStatus {
        match text {
            "reserved" => WalStatus::Reserved,
            "extended" => WalStatus::Extended,
            "unreserved" => WalStatus::Unreserved,
            "lost" => WalStatus::Lost,
            other => WalStatus::Other(other.to_owned()),
        }
    }

    /// PostgreSQL's word for it.
    pub fn as_str(&self) -> &str {
        match self {
            WalStatus::Reserved => "reserved",
            WalStatus::Extended => "extended",
            WalStatus::Unreserved => "unreserved",
            WalStatus::Lost => "lost",
            WalStatus::Other(text) => text,
        }
    }

    /// Whether the WAL it needs is proven gone (`lost`).
    pub fn is_lost(&self) -> bool {
        *self == WalStatus::Lost
    }

    /// Whether this version of hadome does not know the status ([`WalStatus::Other`]).
    pub fn is_unknown(&self) -> bool {
        matches!(self, WalStatus::Other(_))
    }
}

/// A setting whose file value is not the one the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnappliedSetting {
    /// The setting.
    pub name: String,
    /// What the configuration files say now (`pg_file_settings`, last occurrence).
    pub file_value: String,
    /// What the server runs with (`pg_settings`, with its unit).
    pub live_value: String,
    /// `file:line` of the file's value.
    pub source: String,
    /// Applied by a reload but waiting for a restart (`pending_restart`).
    pub pending_restart: bool,
}

/// What the journal remembers of earlier passes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Per instance, the last time it answered.
    pub last_known: BTreeMap<String, LastKnown>,
    /// Per backup name, the copies hadome made and the restore tests.
    pub backups: BTreeMap<String, BackupHistory>,
    /// Per host, the boots hadome saw and the final images it took.
    pub hosts: BTreeMap<String, crate::host::HostHistory>,
    /// Per etcd member name, its last known state and when it was last healthy.
    pub members: BTreeMap<String, crate::quorum::MemberLastKnown>,
}

/// An instance as it was the last time it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct LastKnown {
    /// Its data position then.
    pub position: DataPosition,
    /// Whether it was a primary (not in recovery) then.
    pub was_primary: bool,
    /// Whether its WAL receiver was streaming then.
    pub was_streaming: bool,
    /// When it answered.
    pub observed_at: Timestamp,
    /// Its last replayed commit's time then (standby).
    pub last_replay_at: Option<Timestamp>,
    /// What it waited for before acknowledging a commit then (read on a primary; not read in a
    /// journal row written before hadome recorded it).
    pub synchronous: SyncSettings,
    /// Its replication timeouts then: on a primary, how often its idle WAL senders ping (kept so
    /// that a daemon started while it hangs counts its standbys' silence at its pace, not at the
    /// standbys' own much longer `wal_receiver_timeout`). Not read in a journal row written
    /// before hadome recorded them.
    pub keepalive: KeepaliveSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc_dates() {
        assert_eq!(Timestamp(0).utc_text(), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            Timestamp(1_709_301_723_999).utc_text(),
            "2024-03-01 14:02:03 UTC"
        );
        assert_eq!(
            Timestamp(951_782_400_000).utc_text(),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(Timestamp(-1_000).utc_text(), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn utc_stamps_are_calendar_dates() {
        assert_eq!(Timestamp(0).utc_stamp(), "19700101T000000Z");
        assert_eq!(Timestamp(1_795_000_000_000).utc_stamp(), "20261118T110640Z");
        assert_eq!(Timestamp(951_782_400_000).utc_stamp(), "20000229T000000Z");
    }

    #[test]
    fn replication_states_keep_postgresql_words_known_or_not() {
        for word in [
            "stopped",
            "starting",
            "streaming",
            "waiting",
            "restarting",
            "stopping",
            "catching-up",
        ] {
            assert_eq!(ReceiverStatus::parse(word).as_str(), word);
        }
        for word in ["async", "potential", "sync", "quorum", "eventual"] {
            assert_eq!(SyncState::parse(word).as_str(), word);
        }
        for word in ["reserved", "extended", "unreserved", "lost", "archived"] {
            assert_eq!(WalStatus::parse(word).as_str(), word);
        }
    }

    #[test]
    fn an_unknown_state_is_the_unsafe_case() {
        assert!(ReceiverStatus::parse("streaming").is_streaming());
        assert!(!ReceiverStatus::parse("Streaming").is_streaming());
        assert!(SyncState::parse("sync").is_synchronous());
        assert!(SyncState::parse("quorum").is_synchronous());
        assert!(!SyncState::parse("potential").is_synchronous());
        assert!(!SyncState::parse("eventual").is_synchronous());
        assert!(WalStatus::parse("lost").is_lost());
        assert!(WalStatus::parse("archived").is_unknown());
        assert!(!WalStatus::parse("archived").is_lost());
        assert!(!WalStatus::parse("unreserved").is_unknown());
    }
}
