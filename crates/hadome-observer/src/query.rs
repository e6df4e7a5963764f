//! The probe query: one round trip that returns everything hadome observes of an instance, as one
//! JSON document, and its mapping into [`InstanceState`].
//!
//! Primary-only functions (`pg_current_wal_lsn`, `pg_walfile_name`) sit behind
//! `CASE WHEN pg_is_in_recovery()`, so the same query runs on a primary and on a standby. A
//! missing grant fails the probe with the grant it needs (`docs/privileges.md`), except the
//! optional `pg_read_file`: without it the probe asks again without the timeline history.
//!
//! Timestamps arrive as milliseconds since the epoch; LSNs and the system identifier (a bigint
//! past 2^53) as text. Nothing read from the server is trusted to be well formed: a NULL or an odd
//! value is an error that names it, never a panic.

use std::collections::HashMap;

use hadome_core::fact::{
    InstanceState, KeepaliveSettings, ReceiverStatus, ReplicationPeer, ReplicationSlot,
    SyncSettings, SyncState, Timestamp, WalReceiver, WalStatus,
};
use hadome_core::position::{parse_history, DataPosition, Lsn};
use serde::Deserialize;

use crate::conninfo::strip_password;
use crate::settings::{self, FileSetting, RemovedSetting};

/// The probe query's history expression: the history file of the timeline reached.
const READ_HISTORY: &str =
    "CASE WHEN t.timeline_hex IS DISTINCT FROM '00000001' THEN pg_read_file('pg_wal/' || t.timeline_hex || '.history', 0, 1048576, true) END";

/// The probe query (PostgreSQL 13 or later). It returns one row with one text column.
///
/// `read_history`: whether to read the timeline history file. PostgreSQL checks EXECUTE on every
/// function of a query when it starts it, even behind a `CASE` that is never taken, so a role
/// without `pg_read_file` needs a query without it (the probe falls back to that on
/// `permission denied for function pg_read_file`).
pub(crate) fn probe_sql(read_history: bool) -> String {
    let (readable, history) = if read_history {
        ("true", READ_HISTORY)
    } else {
        ("false", "NULL::text")
    };
    PROBE_SQL
        .replace("$HISTORY_READABLE", readable)
        .replace("$HISTORY", history)
}

const PROBE_SQL: &str = r#"
WITH base AS (
    SELECT pg_is_in_recovery() AS in_recovery,
           pg_size_bytes(current_setting('wal_segment_size')) AS segment_size
), positions AS (
    SELECT base.*,
           -- The flush position: what the primary durably holds, and all a standby can ever receive.
           CASE WHEN NOT base.in_recovery THEN pg_current_wal_flush_lsn() END AS current_lsn,
           CASE WHEN base.in_recovery THEN pg_last_wal_receive_lsn() END AS receive_lsn,
           CASE WHEN base.in_recovery THEN pg_last_wal_replay_lsn() END AS replay_lsn,
           CASE WHEN base.in_recovery THEN pg_last_xact_replay_timestamp() END AS replay_at
    FROM base
), timeline AS (
    SELECT positions.*,
           CASE WHEN NOT positions.in_recovery
                THEN substr(pg_walfile_name(positions.current_lsn), 1, 8)
                ELSE lpad(upper(to_hex(greatest(
                         (SELECT received_tli FROM pg_stat_wal_receiver),
                         (pg_control_recovery()).min_recovery_end_timeline,
                         (pg_control_checkpoint()).timeline_id))), 8, '0')
           END AS timeline_hex
    FROM positions
)
SELECT json_build_object(
    'in_recovery', t.in_recovery,
    'system_identifier', (SELECT system_identifier::text FROM pg_control_system()),
    'timeline_hex', t.timeline_hex,
    'history_readable', $HISTORY_READABLE,
    'history', $HISTORY,
    'current_lsn', t.current_lsn::text,
    'receive_lsn', t.receive_lsn::text,
    'replay_lsn', t.replay_lsn::text,
    'replay_at_ms', (extract(epoch FROM t.replay_at) * 1000)::bigint,
    'postmaster_started_at_ms', (extract(epoch FROM pg_postmaster_start_time()) * 1000)::bigint,
    'segment_size', t.segment_size,
    'oldest_segment', (
        SELECT min(('x' || substr(w.name, 9, 8))::bit(32)::bigint * (4294967296 / t.segment_size)
                   + ('x' || substr(w.name, 17, 8))::bit(32)::bigint)
        FROM pg_ls_waldir() AS w WHERE w.name ~ '^[0-9A-F]{24}$'),
    'keepalive_ms', (SELECT json_object_agg(s.name, CASE s.unit WHEN 's' THEN s.setting::bigint * 1000
                                                             ELSE s.setting::bigint END)
                     FROM pg_settings AS s
                     WHERE s.name IN ('wal_sender_timeout', 'wal_receiver_status_interval',
                                      'wal_receiver_timeout')),
    'synchronous_standby_names', current_setting('synchronous_standby_names'),
    'synchronous_commit', current_setting('synchronous_commit'),
    'synchronous_commit_overrides', (SELECT json_agg(substr(c, 20))
                                     FROM pg_db_role_setting AS d, unnest(d.setconfig) AS c
                                     WHERE left(c, 19) = 'synchronous_commit='),
    'recovery_target_timeline', current_setting('recovery_target_timeline'),
    'primary_conninfo', current_setting('primary_conninfo'),
    'wal_receiver', (SELECT json_build_object(
        'status', r.status,
        'received_tli', r.received_tli,
        'flushed_lsn', r.flushed_lsn::text,
        'last_msg_receipt_ms', (extract(epoch FROM r.last_msg_receipt_time) * 1000)::bigint,
        'last_msg_age_ms', (extract(epoch FROM clock_timestamp() - r.last_msg_receipt_time) * 1000)::bigint,
        'sender_host', r.sender_host,
        'sender_port', r.sender_port,
        'slot_name', r.slot_name)
        FROM pg_stat_wal_receiver AS r LIMIT 1),
    'replication', (SELECT coalesce(json_agg(json_build_object(
        'application_name', r.application_name,
        'state', r.state,
        'sent_lsn', r.sent_lsn::text,
        'flush_lsn', r.flush_lsn::text,
        'replay_lsn', r.replay_lsn::text,
        'sync_state', r.sync_state,
        'reply_ms', (extract(epoch FROM r.reply_time) * 1000)::bigint) ORDER BY r.application_name), '[]')
        FROM pg_stat_replication AS r),
    'slots', (SELECT coalesce(json_agg(json_build_object(
        'name', s.slot_name,
        'active', s.active,
        'wal_status', s.wal_status,
        'restart_lsn', s.restart_lsn::text) ORDER BY s.slot_name), '[]')
        FROM pg_replication_slots AS s WHERE s.slot_type = 'physical'),
    'file_settings', (SELECT coalesce(json_agg(json_build_object(
        'name', f.name,
        'file_value', f.setting,
        'file', f.sourcefile,
        'line', f.sourceline,
        'error', f.error,
        'known', s.name IS NOT NULL,
        'live_value', CASE WHEN s.name IS NOT NULL THEN current_setting(s.name) END,
        'setting', s.setting,
        'unit', s.unit,
        'vartype', s.vartype,
        'source', s.source,
        'pending_restart', s.pending_restart) ORDER BY f.name), '[]')
        FROM (SELECT DISTINCT ON (lower(name)) * FROM pg_file_settings
              ORDER BY lower(name), seqno DESC) AS f
        LEFT JOIN pg_settings AS s ON lower(s.name) = lower(f.name)
        WHERE s.name IS NULL OR s.pending_restart OR f.setting IS DISTINCT FROM s.setting),
    'removed_settings', (SELECT coalesce(json_agg(json_build_object(
        'name', s.name,
        'file', s.sourcefile,
        'line', s.sourceline,
        'live_value', current_setting(s.name),
        'boot_val', s.boot_val,
        'unit', s.unit,
        'pending_restart', s.pending_restart) ORDER BY s.name), '[]')
        FROM pg_settings AS s
        WHERE s.source = 'configuration file'
          AND NOT EXISTS (SELECT 1 FROM pg_file_settings AS f WHERE lower(f.name) = lower(s.name)))
)::text
FROM timeline AS t
"#;

/// The probe query's answer, as PostgreSQL wrote it.
#[derive(Debug, Deserialize)]
pub(crate) struct Raw {
    in_recovery: Option<bool>,
    system_identifier: Option<String>,
    timeline_hex: Option<String>,
    history_readable: Option<bool>,
    history: Option<String>,
    current_lsn: Option<String>,
    receive_lsn: Option<String>,
    replay_lsn: Option<String>,
    replay_at_ms: Option<i64>,
    postmaster_started_at_ms: Option<i64>,
    segment_size: Option<i64>,
    oldest_segment: Option<i64>,
    /// `wal_sender_timeout`, `wal_receiver_status_interval`, `wal_receiver_timeout`, in ms.
    #[serde(default)]
    keepalive_ms: Option<HashMap<String, i64>>,
    /// `synchronous_standby_names` and `synchronous_commit`, as text.
    #[serde(default)]
    synchronous_standby_names: Option<String>,
    #[serde(default)]
    synchronous_commit: Option<String>,
    /// `synchronous_commit` as `ALTER ROLE` / `ALTER DATABASE … SET` override it.
    #[serde(default)]
    synchronous_commit_overrides: Option<Vec<String>>,
    recovery_target_timeline: Option<String>,
    primary_conninfo: Option<String>,
    wal_receiver: Option<RawReceiver>,
    #[serde(default)]
    replication: Vec<RawPeer>,
    #[serde(default)]
    slots: Vec<RawSlot>,
    #[serde(default)]
    file_settings: Vec<RawFileSetting>,
    #[serde(default)]
    removed_settings: Vec<RawRemovedSetting>,
}

#[derive(Debug, Deserialize)]
struct RawReceiver {
    status: Option<String>,
    received_tli: Option<i64>,
    flushed_lsn: Option<String>,
    last_msg_receipt_ms: Option<i64>,
    #[serde(default)]
    last_msg_age_ms: Option<i64>,
    sender_host: Option<String>,
    sender_port: Option<i64>,
    slot_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawPeer {
    application_name: Option<String>,
    state: Option<String>,
    sent_lsn: Option<String>,
    flush_lsn: Option<String>,
    replay_lsn: Option<String>,
    sync_state: Option<String>,
    reply_ms: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct RawSlot {
    name: Option<String>,
    active: Option<bool>,
    wal_status: Option<String>,
    restart_lsn: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawFileSetting {
    name: Option<String>,
    file_value: Option<String>,
    file: Option<String>,
    line: Option<i64>,
    error: Option<String>,
    known: Option<bool>,
    live_value: Option<String>,
    setting: Option<String>,
    unit: Option<String>,
    vartype: Option<String>,
    source: Option<String>,
    pending_restart: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct RawRemovedSetting {
    name: Option<String>,
    file: Option<String>,
    line: Option<i64>,
    live_value: Option<String>,
    boot_val: Option<String>,
    unit: Option<String>,
    pending_restart: Option<bool>,
}

/// Why an answer could not be turned into facts: each names the value it could not vouch for.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Malformed {
    /// The answer is not the JSON document the query builds.
    #[error("the probe query's answer does not parse: {0}")]
    Json(serde_json::Error),
    /// A value the facts need is NULL or absent.
    #[error("the server reported no {what}")]
    Missing {
        /// The value, as PostgreSQL names it.
        what: &'static str,
    },
    /// A WAL position is not PostgreSQL's `X/Y` text.
    #[error("{what} is `{text}`, not an LSN")]
    NotAnLsn {
        /// The value, as PostgreSQL names it.
        what: &'static str,
        /// What the server said.
        text: String,
    },
    /// The system identifier is not a number.
    #[error("the system identifier is `{text}`, not a number")]
    SystemIdentifier {
        /// What the server said.
        text: String,
    },
    /// The timeline is not a positive hexadecimal number.
    #[error("the timeline is `{text}`, not a timeline number")]
    Timeline {
        /// What the server said.
        text: String,
    },
    /// A standby gave no position at all.
    #[error("the standby reported neither a receive nor a replay position")]
    NoStandbyPosition,
    /// A primary gave no position.
    #[error("the primary reported no pg_current_wal_flush_lsn()")]
    NoPrimaryPosition,
    /// The WAL segment size is not a positive number of bytes.
    #[error("wal_segment_size is {bytes} bytes")]
    SegmentSize {
        /// What the server said.
        bytes: i64,
    },
    /// A statistics view hides what hadome needs from its role.
    #[error("{view} hides {what}: {PRIVILEGES}")]
    Hidden {
        /// The view.
        view: &'static str,
        /// What it hides.
        what: String,
    },
}

/// The privileges note, named where a missing grant hides a fact.
const PRIVILEGES: &str = "hadome's role needs pg_monitor (docs/privileges.md)";

/// Parses the probe query's JSON answer.
pub(crate) fn parse(json: &str) -> Result<InstanceState, Malformed> {
    let raw: Raw = serde_json::from_str(json).map_err(Malformed::Json)?;
    into_state(raw)
}

fn lsn(text: Option<&str>, what: &'static str) -> Result<Option<Lsn>, Malformed> {
    match text {
        None => Ok(None),
        Some(text) => Lsn::parse(text)
            .map(Some)
            .ok_or_else(|| Malformed::NotAnLsn {
                what,
                text: text.to_owned(),
            }),
    }
}

fn required<T>(value: Option<T>, what: &'static str) -> Result<T, Malformed> {
    value.ok_or(Malformed::Missing { what })
}

/// Maps the raw answer into facts, refusing any value it cannot vouch for.
pub(crate) fn into_state(raw: Raw) -> Result<InstanceState, Malformed> {
    let in_recovery = required(raw.in_recovery, "pg_is_in_recovery()")?;
    let identifier_text = required(
        raw.system_identifier,
        "system identifier (pg_control_system())",
    )?;
    // PostgreSQL shows the control file's unsigned 64-bit identifier as a signed bigint.
    let system_identifier = identifier_text
        .parse::<i64>()
        .map(|signed| signed as u64)
        .map_err(|_| Malformed::SystemIdentifier {
            text: identifier_text.clone(),
        })?;

    let timeline_hex = required(
        raw.timeline_hex,
        "timeline (no WAL receiver, control file or WAL file named one)",
    )?;
    let timeline = u32::from_str_radix(&timeline_hex, 16)
        .ok()
        .filter(|timeline| *timeline > 0)
        .ok_or_else(|| Malformed::Timeline {
            text: timeline_hex.clone(),
        })?;
    let history = if timeline == 1 {
        Some(Vec::new())
    } else if raw.history_readable == Some(true) {
        // NULL: the history file is missing; text that does not parse: unknown, too.
        raw.history.as_deref().and_then(parse_history)
    } else {
        None
    };

    let current_lsn = lsn(raw.current_lsn.as_deref(), "pg_current_wal_flush_lsn()")?;
    let receive_lsn = lsn(raw.receive_lsn.as_deref(), "pg_last_wal_receive_lsn()")?;
    let replay_lsn = lsn(raw.replay_lsn.as_deref(), "pg_last_wal_replay_lsn()")?;
    let position_lsn = if in_recovery {
        receive_lsn
            .max(replay_lsn)
            .ok_or(Malformed::NoStandbyPosition)?
    } else {
        current_lsn.ok_or(Malformed::NoPrimaryPosition)?
    };

    let segment_size = required(raw.segment_size, "wal_segment_size")?;
    let wal_segment_size_bytes = u64::try_from(segment_size)
        .ok()
        .filter(|size| *size > 0)
        .ok_or(Malformed::SegmentSize {
            bytes: segment_size,
        })?;
    let oldest_wal_segment = raw
        .oldest_segment
        .and_then(|segment| u64::try_from(segment).ok());

    let wal_receiver = raw.wal_receiver.map(receiver).transpose()?;
    let replication = raw
        .replication
        .into_iter()
        .map(peer)
        .collect::<Result<Vec<_>, _>>()?;
    let slots = raw
        .slots
        .into_iter()
        .map(slot)
        .collect::<Result<Vec<_>, _>>()?;

    let files: Vec<FileSetting> = raw.file_settings.into_iter().map(file_setting).collect();
    let removed: Vec<RemovedSetting> = raw
        .removed_settings
        .into_iter()
        .map(removed_setting)
        .collect();

    Ok(InstanceState {
        in_recovery,
        position: DataPosition {
            system_identifier,
            timeline,
            lsn: position_lsn,
            history,
        },
        receive_lsn,
        replay_lsn,
        last_replay_at: raw.replay_at_ms.map(Timestamp),
        postmaster_started_at: Timestamp(required(
            raw.postmaster_started_at_ms,
            "pg_postmaster_start_time()",
        )?),
        wal_segment_size_bytes,
        oldest_wal_segment,
        recovery_target_timeline: required(
            raw.recovery_target_timeline,
            "recovery_target_timeline",
        )?,
        primary_conninfo: strip_password(&required(raw.primary_conninfo, "primary_conninfo")?),
        wal_receiver,
        replication,
        slots,
        unapplied_settings: settings::unapplied(&files, &removed),
        keepalive: {
            let setting = |name: &str| {
                raw.keepalive_ms
                    .as_ref()
                    .and_then(|settings| settings.get(name))
                    .and_then(|value| u64::try_from(*value).ok())
            };
            KeepaliveSettings {
                sender_timeout_ms: setting("wal_sender_timeout"),
                receiver_status_interval_ms: setting("wal_receiver_status_interval"),
                receiver_timeout_ms: setting("wal_receiver_timeout"),
            }
        },
        synchronous: SyncSettings {
            standby_names: raw.synchronous_standby_names,
            commit: weakest_commit(
                raw.synchronous_commit,
                raw.synchronous_commit_overrides.unwrap_or_default(),
            ),
        },
    })
}

/// The `synchronous_commit` the primary's weakest client commits with: a role or a database
/// set to `local` or `off` acknowledges its commits without a standby, whatever this session's
/// value says (a value hadome does not know wins too, so the core calls it unknown).
fn weakest_commit(session: Option<String>, overrides: Vec<String>) -> Option<String> {
    let rank = |value: &str| match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => 4,
        "remote_apply" => 3,
        "remote_write" => 2,
        "local" => 1,
        "off" | "false" | "no" | "0" => 0,
        _ => -1,
    };
    let session = session?;
    Some(
        overrides
            .into_iter()
            .map(|value| value.trim().to_owned())
            .fold(session, |weakest, value| {
                if rank(&value) < rank(&weakest) {
                    value
                } else {
                    weakest
                }
            }),
    )
}

fn receiver(raw: RawReceiver) -> Result<WalReceiver, Malformed> {
    // pg_stat_wal_receiver shows a role without pg_read_all_stats its pid and nothing else.
    let status = raw.status.ok_or_else(|| Malformed::Hidden {
        view: "pg_stat_wal_receiver",
        what: "its status".to_owned(),
    })?;
    let received_timeline = raw
        .received_tli
        .and_then(|timeline| u32::try_from(timeline).ok())
        .ok_or_else(|| Malformed::Hidden {
            view: "pg_stat_wal_receiver",
            what: "its received_tli".to_owned(),
        })?;
    let sender = match (raw.sender_host, raw.sender_port) {
        (Some(host), Some(port)) => Some(format!("{host}:{port}")),
        (Some(host), None) => Some(host),
        (None, _) => None,
    };
    Ok(WalReceiver {
        status: ReceiverStatus::parse(&status),
        received_timeline,
        flushed_lsn: lsn(
            raw.flushed_lsn.as_deref(),
            "pg_stat_wal_receiver.flushed_lsn",
        )?,
        last_message_at: raw.last_msg_receipt_ms.map(Timestamp),
        last_message_age_ms: raw.last_msg_age_ms,
        sender,
        slot_name: raw.slot_name,
    })
}

fn peer(raw: RawPeer) -> Result<ReplicationPeer, Malformed> {
    let application_name = raw.application_name.unwrap_or_default();
    // pg_stat_replication hides a WAL sender's state from a role without pg_read_all_stats.
    let hidden = || Malformed::Hidden {
        view: "pg_stat_replication",
        what: format!("`{application_name}`'s state"),
    };
    let state = raw.state.ok_or_else(hidden)?;
    let sync_state = raw.sync_state.ok_or_else(hidden)?;
    Ok(ReplicationPeer {
        sent_lsn: lsn(raw.sent_lsn.as_deref(), "pg_stat_replication.sent_lsn")?,
        flush_lsn: lsn(raw.flush_lsn.as_deref(), "pg_stat_replication.flush_lsn")?,
        replay_lsn: lsn(raw.replay_lsn.as_deref(), "pg_stat_replication.replay_lsn")?,
        reply_at: raw.reply_ms.map(Timestamp),
        application_name,
        state,
        sync_state: SyncState::parse(&sync_state),
    })
}

fn slot(raw: RawSlot) -> Result<ReplicationSlot, Malformed> {
    Ok(ReplicationSlot {
        name: required(raw.name, "slot name in pg_replication_slots")?,
        active: raw.active.unwrap_or(false),
        wal_status: raw.wal_status.as_deref().map(WalStatus::parse),
        restart_lsn: lsn(
            raw.restart_lsn.as_deref(),
            "pg_replication_slots.restart_lsn",
        )?,
    })
}

fn file_setting(raw: RawFileSetting) -> FileSetting {
    FileSetting {
        name: raw
            .name
            .unwrap_or_else(|| "(an unreadable line)".to_owned()),
        file_value: raw.file_value.unwrap_or_default(),
        file: raw
            .file
            .unwrap_or_else(|| "(a configuration file)".to_owned()),
        line: raw.line.unwrap_or(0),
        known: raw.known.unwrap_or(false),
        live_value: raw.live_value,
        setting: raw.setting,
        unit: raw.unit,
        vartype: raw.vartype,
        source: raw.source,
        pending_restart: raw.pending_restart.unwrap_or(false),
        error: raw.error,
    }
}

fn removed_setting(raw: RawRemovedSetting) -> RemovedSetting {
    RemovedSetting {
        name: raw.name.unwrap_or_default(),
        file: raw
            .file
            .unwrap_or_else(|| "(a configuration file)".to_owned()),
        line: raw.line.unwrap_or(0),
        live_value: raw.live_value.unwrap_or_default(),
        boot_val: raw.boot_val,
        unit: raw.unit,
        pending_restart: raw.pending_restart.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hadome_core::position::TimelineSwitch;

    /// A standby's answer, as PostgreSQL 15 wrote it (trimmed).
    const STANDBY: &str = r#"{"in_recovery": true, "system_identifier": "7710842440459080512",
        "timeline_hex": "00000002", "history_readable": true,
        "history": "1\t0/8000A0\tno recovery target specified\n",
        "current_lsn": null, "receive_lsn": "0/900060", "replay_lsn": "0/900028",
        "replay_at_ms": 1795320427453, "postmaster_started_at_ms": 1795320409980,
        "segment_size": 1048576, "oldest_segment": 7, "recovery_target_timeline": "latest",
        "primary_conninfo": "host=127.0.0.1 port=41593 user=postgres password=secret application_name=db-2",
        "wal_receiver": {"status": "streaming", "received_tli": 2, "flushed_lsn": "0/900060",
            "last_msg_receipt_ms": 1795320424444, "sender_host": "127.0.0.1", "sender_port": 41593,
            "slot_name": null},
        "replication": [], "slots": [{"name": "db_3", "active": false, "wal_status": "lost", "restart_lsn": null}],
        "file_settings": [{"name": "work_mem", "file_value": "64MB", "file": "/d/postgresql.conf", "line": 815,
            "error": null, "known": true, "live_value": "4MB", "setting": "4096", "unit": "kB",
            "vartype": "integer", "source": "default", "pending_restart": false}],
        "removed_settings": []}"#;

    #[test]
    fn a_standby_answer_maps_to_facts() {
        let state = parse(STANDBY).unwrap();
        assert!(state.in_recovery);
        assert_eq!(state.position.system_identifier, 7_710_842_440_459_080_512);
        assert_eq!(state.position.timeline, 2);
        assert_eq!(
            state.position.lsn,
            Lsn(0x90_0060),
            "the greater of receive and replay"
        );
        assert_eq!(
            state.position.history,
            Some(vec![TimelineSwitch {
                timeline: 1,
                switch_lsn: Lsn(0x80_00A0)
            }])
        );
        assert_eq!(state.replay_lsn, Some(Lsn(0x90_0028)));
        assert_eq!(state.last_replay_at, Some(Timestamp(1_795_320_427_453)));
        assert_eq!(state.oldest_wal_segment, Some(7));
        assert_eq!(
            state.primary_conninfo,
            "host=127.0.0.1 port=41593 user=postgres application_name=db-2"
        );
        let receiver = state.wal_receiver.unwrap();
        assert_eq!(
            (receiver.status.as_str(), receiver.received_timeline),
            ("streaming", 2)
        );
        assert_eq!(receiver.sender.as_deref(), Some("127.0.0.1:41593"));
        assert_eq!(state.slots[0].wal_status, Some(WalStatus::Lost));
        assert_eq!(state.unapplied_settings.len(), 1);
        assert_eq!(state.unapplied_settings[0].source, "/d/postgresql.conf:815");
    }

    fn with(field: &str, value: &str) -> String {
        let mut json: serde_json::Value = serde_json::from_str(STANDBY).unwrap();
        json[field] = serde_json::from_str(value).unwrap();
        json.to_string()
    }

    #[test]
    fn histories_are_empty_on_timeline_one_and_unknown_when_unreadable() {
        let one = parse(&with("timeline_hex", r#""00000001""#)).unwrap();
        assert_eq!(one.position.history, Some(Vec::new()));
        assert_eq!(
            parse(&with("history", "null")).unwrap().position.history,
            None,
            "file missing"
        );
        assert_eq!(
            parse(&with("history", r#""garbage""#))
                .unwrap()
                .position
                .history,
            None
        );
        assert_eq!(
            parse(&with("history_readable", "false"))
                .unwrap()
                .position
                .history,
            None
        );
    }

    #[test]
    fn the_query_reads_the_history_only_when_asked() {
        let with_history = probe_sql(true);
        assert!(
            with_history.contains("pg_read_file(")
                && with_history.contains("'history_readable', true")
        );
        let without = probe_sql(false);
        assert!(
            !without.contains("pg_read_file(") && without.contains("'history_readable', false")
        );
        assert!(!without.contains("$HISTORY"), "every marker replaced");
    }

    #[test]
    fn replication_words_a_later_postgresql_may_add_are_kept_as_they_were_read() {
        let state = parse(&with(
            "wal_receiver",
            r#"{"status": "catching-up", "received_tli": 2}"#,
        ))
        .unwrap();
        let receiver = state.wal_receiver.unwrap();
        assert_eq!(
            receiver.status,
            ReceiverStatus::Other("catching-up".to_owned())
        );
        let state = parse(&with(
            "replication",
            r#"[{"application_name": "db-2", "state": "streaming", "sync_state": "eventual"}]"#,
        ))
        .unwrap();
        assert_eq!(
            state.replication[0].sync_state,
            SyncState::Other("eventual".to_owned())
        );
        let state = parse(&with(
            "slots",
            r#"[{"name": "db_3", "active": true, "wal_status": "archived"},
                {"name": "db_4", "active": false, "wal_status": null}]"#,
        ))
        .unwrap();
        assert_eq!(
            state.slots[0].wal_status,
            Some(WalStatus::Other("archived".to_owned()))
        );
        assert_eq!(state.slots[1].wal_status, None);
    }

    #[test]
    fn a_negative_bigint_identifier_is_the_unsigned_control_file_value() {
        let state = parse(&with("system_identifier", r#""-1""#)).unwrap();
        assert_eq!(state.position.system_identifier, u64::MAX);
    }

    #[test]
    fn odd_or_missing_values_are_errors_that_name_them_never_panics() {
        let cases = [
            ("in_recovery", "null", "pg_is_in_recovery()"),
            ("system_identifier", r#""abc""#, "system identifier"),
            ("timeline_hex", "null", "timeline"),
            ("timeline_hex", r#""0000000G""#, "timeline"),
            ("timeline_hex", r#""00000000""#, "timeline"),
            ("receive_lsn", r#""nonsense""#, "pg_last_wal_receive_lsn()"),
            ("segment_size", "0", "wal_segment_size"),
            (
                "postmaster_started_at_ms",
                "null",
                "pg_postmaster_start_time()",
            ),
            ("primary_conninfo", "null", "primary_conninfo"),
            ("wal_receiver", r#"{"status": null}"#, "pg_monitor"),
            (
                "replication",
                r#"[{"application_name": "db-2"}]"#,
                "pg_monitor",
            ),
        ];
        for (field, value, named) in cases {
            let error = parse(&with(field, value)).unwrap_err().to_string();
            assert!(error.contains(named), "{field} = {value}: {error}");
        }
        let mut both_null: serde_json::Value = serde_json::from_str(STANDBY).unwrap();
        both_null["receive_lsn"] = serde_json::Value::Null;
        both_null["replay_lsn"] = serde_json::Value::Null;
        assert!(parse(&both_null.to_string())
            .unwrap_err()
            .to_string()
            .contains("neither"));
        assert!(parse("[]")
            .unwrap_err()
            .to_string()
            .contains("does not parse"));
        assert!(parse("{\"in_recovery\": 3}")
            .unwrap_err()
            .to_string()
            .contains("does not parse"));
    }

    #[test]
    fn a_primary_is_at_its_current_position() {
        let mut json: serde_json::Value = serde_json::from_str(STANDBY).unwrap();
        json["in_recovery"] = false.into();
        json["current_lsn"] = "0/A00000".into();
        let state = parse(&json.to_string()).unwrap();
        assert_eq!(state.position.lsn, Lsn(0xA0_0000));
        json["current_lsn"] = serde_json::Value::Null;
        assert!(parse(&json.to_string())
            .unwrap_err()
            .to_string()
            .contains("pg_current_wal_flush_lsn()"));
    }

    #[test]
    fn a_role_or_database_that_commits_locally_weakens_what_the_primary_waits_for() {
        let mut json: serde_json::Value = serde_json::from_str(STANDBY).unwrap();
        json["synchronous_standby_names"] = "ANY 1 (\"db-2\")".into();
        json["synchronous_commit"] = "on".into();
        let state = parse(&json.to_string()).unwrap();
        assert_eq!(
            state.synchronous,
            SyncSettings {
                standby_names: Some("ANY 1 (\"db-2\")".to_owned()),
                commit: Some("on".to_owned()),
            }
        );
        json["synchronous_commit_overrides"] = serde_json::json!(["remote_write", "local", "on"]);
        let state = parse(&json.to_string()).unwrap();
        assert_eq!(state.synchronous.commit.as_deref(), Some("local"));
        json["synchronous_commit_overrides"] = serde_json::json!(["sometimes"]);
        let state = parse(&json.to_string()).unwrap();
        assert_eq!(state.synchronous.commit.as_deref(), Some("sometimes"));
        // Not read (an older answer's shape): not known, never "on".
        let state = parse(STANDBY).unwrap();
        assert_eq!(state.synchronous, SyncSettings::default());
    }
}
