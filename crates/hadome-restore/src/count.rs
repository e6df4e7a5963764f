//! Counting every table's rows: on a live server inside an exported snapshot (what a backup
//! records), on a live server now (what `run restore-backup` compares), and on the scratch server
//! after a restore.
//!
//! Every count is exact (`count(*)`) and every session reads one snapshot, so the counts of all
//! tables belong to one moment; [`snapshot_counts`] exports that moment for `pg_dump --snapshot`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio_postgres::Client;

use crate::error::RestoreError;

/// The `application_name` of hadome's backup connections, unless the conninfo names one.
pub(crate) const APPLICATION_NAME: &str = "hadome-backup";

/// The ordinary user tables (`relkind = 'r'`; partitions included, partitioned parents left out,
/// since their rows are their partitions'), outside `pg_catalog` and `information_schema`, not
/// temporary, and not members of an extension: `pg_dump` dumps an extension's tables as
/// `CREATE EXTENSION`, not as data. Columns: schema, table, quoted name, unlogged.
const TABLES_SQL: &str = "\
SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname), c.relpersistence = 'u'
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (
      SELECT FROM pg_catalog.pg_depend d
      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
        AND d.objid = c.oid
        AND d.deptype = 'e')
ORDER BY n.nspname, c.relname";

/// Exact row counts of every ordinary user table (not pg_catalog / information_schema), keyed
/// `schema.table`.
///
/// Each table is counted with `SELECT count(*) FROM ONLY …`: `pg_dump` copies each table's own
/// rows, not those of its inheritance children. On a server in recovery an unlogged table counts
/// 0 rows: a standby holds none of them, and `pg_dump` on a standby dumps none (it cannot read
/// them). Extension member tables and temporary tables are left out (see [`TABLES_SQL`]).
///
/// Nothing bounds the time this takes (a count reads the whole table): the caller does, with
/// `tokio::time::timeout`. Two tables whose names join to the same key (`"a.b".c` and
/// `a."b.c"`) are an error rather than one silently hiding the other.
pub(crate) async fn table_row_counts(
    client: &Client,
) -> Result<BTreeMap<String, u64>, RestoreError> {
    let recovery = client
        .query_one("SELECT pg_catalog.pg_is_in_recovery()", &[])
        .await
        .map_err(|source| RestoreError::Sql {
            what: "ask whether the server is in recovery",
            source,
        })?;
    let in_recovery: bool = recovery
        .try_get(0)
        .map_err(|source| RestoreError::Unreadable {
            what: "`pg_is_in_recovery()`",
            source,
        })?;
    let tables = client
        .query(TABLES_SQL, &[])
        .await
        .map_err(|source| RestoreError::Sql {
            what: "list the tables",
            source,
        })?;
    let mut counts = BTreeMap::new();
    let mut quoted_by_key: BTreeMap<String, String> = BTreeMap::new();
    for row in tables {
        let unreadable = |source| RestoreError::Unreadable {
            what: "table list",
            source,
        };
        let schema: String = row.try_get(0).map_err(unreadable)?;
        let table: String = row.try_get(1).map_err(unreadable)?;
        let quoted: String = row.try_get(2).map_err(unreadable)?;
        let unlogged: bool = row.try_get(3).map_err(unreadable)?;
        let key = format!("{schema}.{table}");
        if let Some(other) = quoted_by_key.insert(key.clone(), quoted.clone()) {
            return Err(RestoreError::SameKey {
                first: other,
                second: quoted,
                key,
            });
        }
        let count = if in_recovery && unlogged {
            0
        } else {
            count_rows(client, &quoted).await?
        };
        counts.insert(key, count);
    }
    Ok(counts)
}

/// The rows of one table (`quoted` as SQL names it), not counting its inheritance children.
async fn count_rows(client: &Client, quoted: &str) -> Result<u64, RestoreError> {
    let sql = format!("SELECT count(*) FROM ONLY {quoted}");
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|source| RestoreError::CountRows {
            table: quoted.to_owned(),
            source,
        })?;
    let count: i64 = row
        .try_get(0)
        .map_err(|source| RestoreError::UnreadableCount {
            table: quoted.to_owned(),
            source,
        })?;
    u64::try_from(count).map_err(|_| RestoreError::NegativeCount {
        table: quoted.to_owned(),
        count,
    })
}

/// Row counts taken inside an exported snapshot, with the transaction that keeps it valid.
///
/// `pg_dump --snapshot=ID` with [`SnapshotCounts::snapshot_id`] dumps exactly the rows counted in
/// [`SnapshotCounts::counts`]. The snapshot stays valid while this value lives: dropping it ends
/// the connection, which ends the transaction.
pub struct SnapshotCounts {
    /// The exported snapshot's identifier, for `pg_dump --snapshot`.
    pub snapshot_id: String,
    /// Every table's row count inside the snapshot, keyed `schema.table`.
    pub counts: BTreeMap<String, u64>,
    /// The session whose open transaction holds the snapshot.
    client: Client,
}

impl SnapshotCounts {
    /// Whether the session holding the snapshot is still open. When the server has ended it, the
    /// snapshot is gone and a `pg_dump --snapshot` fails with "invalid snapshot identifier".
    pub fn is_open(&self) -> bool {
        !self.client.is_closed()
    }
}

impl std::fmt::Debug for SnapshotCounts {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SnapshotCounts")
            .field("snapshot_id", &self.snapshot_id)
            .field("counts", &self.counts)
            .field("open", &!self.client.is_closed())
            .finish()
    }
}

/// Row counts taken inside an exported snapshot, so a pg_dump run with `--snapshot=ID` sees exactly
/// the same rows: opens a REPEATABLE READ transaction on `conninfo`, `SELECT pg_export_snapshot()`,
/// returns a guard holding the transaction open (the snapshot stays valid while it lives) with the
/// snapshot id and the counts taken inside it.
///
/// `timeout` bounds each step: connecting (authentication included), opening the snapshot, and
/// counting every table. The session turns `idle_in_transaction_session_timeout` off, since it
/// sits idle in its transaction while `pg_dump` works, and `row_security` off, as `pg_dump` does:
/// a table whose policies would hide rows from hadome's role is an error, not a short count.
/// The error never repeats the conninfo, which may hold a password.
pub async fn snapshot_counts(
    conninfo: &str,
    timeout: Duration,
) -> Result<SnapshotCounts, RestoreError> {
    // The connection ends when `SnapshotCounts` drops the client, or the server ends it;
    // `SnapshotCounts::is_open` tells the second.
    let client = counting_session(
        conninfo,
        timeout,
        "SET idle_in_transaction_session_timeout = 0; SET row_security = off",
    )
    .await?;
    // The first statement of a REPEATABLE READ transaction takes its snapshot: the one exported
    // here, and the one every count below reads.
    let row = bounded(
        timeout,
        "export a snapshot",
        client.query_one("SELECT pg_catalog.pg_export_snapshot()", &[]),
    )
    .await?;
    let snapshot_id: String = row.try_get(0).map_err(|source| RestoreError::Unreadable {
        what: "`pg_export_snapshot()`",
        source,
    })?;
    let counts = counts_within(&client, timeout).await?;
    Ok(SnapshotCounts {
        snapshot_id,
        counts,
        client,
    })
}

/// Rows per table (`schema.table`) of the database `conninfo` reaches, counted in one snapshot,
/// with `row_security` off (as [`snapshot_counts`] counts them). Each step bounded by `timeout`;
/// the error never repeats the conninfo.
pub async fn current_counts(
    conninfo: &str,
    timeout: Duration,
) -> Result<BTreeMap<String, u64>, RestoreError> {
    let client = counting_session(conninfo, timeout, "SET row_security = off").await?;
    counts_within(&client, timeout).await
}

/// A new session on `conninfo` that ran `settings`, then opened a READ ONLY REPEATABLE READ
/// transaction (its first statement takes the snapshot every count reads). Its connection task
/// ends when the client is dropped or the server ends it.
async fn counting_session(
    conninfo: &str,
    timeout: Duration,
    settings: &str,
) -> Result<Client, RestoreError> {
    let config =
        hadome_observer::connect_config(conninfo, timeout, APPLICATION_NAME).map_err(|error| {
            RestoreError::Conninfo {
                reason: error.to_string(),
            }
        })?;
    let (client, connection) = bounded(timeout, "connect", config.connect()).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    bounded(
        timeout,
        "prepare the session",
        client.batch_execute(settings),
    )
    .await?;
    bounded(
        timeout,
        "open a REPEATABLE READ transaction",
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
    )
    .await?;
    Ok(client)
}

/// [`table_row_counts`], bounded by `timeout`.
async fn counts_within(
    client: &Client,
    timeout: Duration,
) -> Result<BTreeMap<String, u64>, RestoreError> {
    match tokio::time::timeout(timeout, table_row_counts(client)).await {
        Ok(counts) => counts,
        Err(_) => Err(RestoreError::CountTimeout { waited: timeout }),
    }
}

/// Awaits `future` for at most `timeout`; the error names `what`.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    what: &'static str,
    future: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, RestoreError> {
    match tokio::time::timeout(timeout, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(RestoreError::Sql { what, source }),
        Err(_) => Err(RestoreError::NoAnswer {
            what,
            waited: timeout,
        }),
    }
}
