//! The `leases` table: which daemon automates each cluster, until when (rule `single-actor`).
//!
//! A lease is taken, renewed and released in one `BEGIN IMMEDIATE` transaction each
//! ([`crate::intent::durably`]): the transaction holds the file's write lock from its first
//! read, so two processes (two journal handles) that try at once are serialised, and the second
//! reads what the first wrote. Two holders can therefore never both be told they hold an
//! unexpired lease of one cluster. The journal is on a local file system (WAL needs it), so every
//! process that shares it reads one clock; `now` is the caller's.
//!
//! Only changes of holder are events (`lease`: `taken`, `taken-over`, `released`); renewals, one
//! per daemon tick, change the row alone.

use std::path::Path;

use hadome_core::fact::Timestamp;
use rusqlite::{Connection, Row, Transaction};

use crate::column::RowReader;
use crate::record::{LeaseEventRecord, LEASE, RECORD_VERSION};
use crate::{event, JournalError};

/// One cluster's lease: who automates it, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The cluster.
    pub cluster: String,
    /// Who holds it: a daemon's identity, as it names itself.
    pub holder: String,
    /// When this holder took it (unchanged by renewals).
    pub acquired_at: Timestamp,
    /// When this holder last took or renewed it.
    pub renewed_at: Timestamp,
    /// When it lapses unless renewed: from then on, anyone may take it.
    pub expires_at: Timestamp,
}

impl Lease {
    /// Whether the lease has lapsed at `now` (`expires_at <= now`): anyone may take it.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.0 <= now.0
    }
}

/// What [`Journal::acquire_lease`](crate::Journal::acquire_lease) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The caller holds the lease (taken, taken over, or renewed), until its `expires_at`.
    Held(Lease),
    /// Another holder's unexpired lease: nothing was changed.
    HeldBy(Lease),
}

impl LeaseOutcome {
    /// Whether the caller holds the lease.
    pub fn is_held(&self) -> bool {
        matches!(self, LeaseOutcome::Held(_))
    }

    /// The lease, whoever holds it.
    pub fn lease(&self) -> &Lease {
        match self {
            LeaseOutcome::Held(lease) | LeaseOutcome::HeldBy(lease) => lease,
        }
    }
}

/// The columns [`read_row`] reads, in its order.
const COLUMNS: &str = "cluster, holder, acquired_at_ms, renewed_at_ms, expires_at_ms";

/// Takes, takes over or renews `cluster`'s lease for `holder` until `now + ttl_ms`, unless another
/// holder's lease is unexpired at `now`. Appends a `lease` event when the lease is taken or taken
/// over, not when it is renewed.
pub(crate) fn acquire(
    transaction: &Transaction<'_>,
    path: &Path,
    cluster: &str,
    holder: &str,
    now: Timestamp,
    ttl_ms: i64,
) -> Result<LeaseOutcome, JournalError> {
    let current = read(transaction, path, cluster)?;
    let expires_at = Timestamp(now.0.saturating_add(ttl_ms));
    let (lease, record) = match current {
        Some(current) if current.holder != holder && !current.is_expired(now) => {
            return Ok(LeaseOutcome::HeldBy(current));
        }
        Some(current) if current.holder == holder && !current.is_expired(now) => {
            let lease = Lease {
                renewed_at: now,
                expires_at,
                ..current
            };
            (lease, None)
        }
        previous => {
            let lease = Lease {
                cluster: cluster.to_owned(),
                holder: holder.to_owned(),
                acquired_at: now,
                renewed_at: now,
                expires_at,
            };
            let record = LeaseEventRecord {
                version: RECORD_VERSION,
                cluster: cluster.to_owned(),
                change: if previous.is_some() {
                    "taken-over"
                } else {
                    "taken"
                }
                .to_owned(),
                holder: holder.to_owned(),
                expires_at_ms: Some(expires_at.0),
                previous_holder: previous.as_ref().map(|lease| lease.holder.clone()),
                previous_expired_at_ms: previous.as_ref().map(|lease| lease.expires_at.0),
            };
            (lease, Some(record))
        }
    };
    transaction
        .prepare_cached(
            "INSERT INTO leases (cluster, holder, acquired_at_ms, renewed_at_ms, expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (cluster) DO UPDATE SET holder = excluded.holder,
                 acquired_at_ms = excluded.acquired_at_ms, renewed_at_ms = excluded.renewed_at_ms,
                 expires_at_ms = excluded.expires_at_ms",
        )
        .map_err(|source| sqlite(path, "take a lease", source))?
        .execute(rusqlite::params![
            lease.cluster,
            lease.holder,
            lease.acquired_at.0,
            lease.renewed_at.0,
            lease.expires_at.0,
        ])
        .map_err(|source| sqlite(path, "take a lease", source))?;
    if let Some(record) = record {
        event::append(transaction, path, now, LEASE, cluster, &record)?;
    }
    Ok(LeaseOutcome::Held(lease))
}

/// Releases `cluster`'s lease when `holder` holds it (expired or not); returns whether it did.
/// Appends a `released` event when it does.
pub(crate) fn release(
    transaction: &Transaction<'_>,
    path: &Path,
    cluster: &str,
    holder: &str,
    now: Timestamp,
) -> Result<bool, JournalError> {
    let deleted = transaction
        .prepare_cached("DELETE FROM leases WHERE cluster = ?1 AND holder = ?2")
        .map_err(|source| sqlite(path, "release a lease", source))?
        .execute(rusqlite::params![cluster, holder])
        .map_err(|source| sqlite(path, "release a lease", source))?;
    if deleted == 0 {
        return Ok(false);
    }
    let record = LeaseEventRecord {
        version: RECORD_VERSION,
        cluster: cluster.to_owned(),
        change: "released".to_owned(),
        holder: holder.to_owned(),
        expires_at_ms: None,
        previous_holder: None,
        previous_expired_at_ms: None,
    };
    event::append(transaction, path, now, LEASE, cluster, &record)?;
    Ok(true)
}

/// `cluster`'s lease, expired or not; `None` when there is none (never taken, or released).
pub(crate) fn read(
    connection: &Connection,
    path: &Path,
    cluster: &str,
) -> Result<Option<Lease>, JournalError> {
    let failed = |source| sqlite(path, "read a lease", source);
    let mut statement = connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM leases WHERE cluster = ?1"))
        .map_err(failed)?;
    let mut rows = statement.query([cluster]).map_err(failed)?;
    rows.next()
        .map_err(failed)?
        .map(|row| read_row(path, row))
        .transpose()
}

/// Every lease, expired or not, by cluster.
pub(crate) fn read_all(connection: &Connection, path: &Path) -> Result<Vec<Lease>, JournalError> {
    let failed = |source| sqlite(path, "read the leases", source);
    let mut statement = connection
        .prepare_cached(&format!("SELECT {COLUMNS} FROM leases ORDER BY cluster"))
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    let mut leases = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        leases.push(read_row(path, row)?);
    }
    Ok(leases)
}

/// Reads one row selected with [`COLUMNS`].
fn read_row(path: &Path, row: &Row<'_>) -> Result<Lease, JournalError> {
    let unnamed = RowReader {
        path,
        table: "leases",
        row: "a lease".to_owned(),
    };
    let cluster = unnamed.text(row, 0, "cluster")?;
    let reader = RowReader {
        path,
        table: "leases",
        row: format!("cluster `{cluster}`"),
    };
    Ok(Lease {
        holder: reader.text(row, 1, "holder")?,
        acquired_at: Timestamp(reader.integer(row, 2, "acquired_at_ms")?),
        renewed_at: Timestamp(reader.integer(row, 3, "renewed_at_ms")?),
        expires_at: Timestamp(reader.integer(row, 4, "expires_at_ms")?),
        cluster,
    })
}

fn sqlite(path: &Path, action: &'static str, source: rusqlite::Error) -> JournalError {
    JournalError::Sqlite {
        path: path.to_owned(),
        action,
        source,
    }
}
