//! hadome's restore test (issue 5): a backup is restored into a scratch PostgreSQL, and counted.
//!
//! A backup is worth what its restore gives back. When `pg_dump` makes a backup, `hadome backup
//! run` records the row counts of every table with [`snapshot_counts`]: they are taken inside an
//! exported snapshot, and `pg_dump --snapshot=ID` dumps that very snapshot, so counts and dump agree
//! exactly even while the source keeps taking writes. `hadome backup restore-test` then calls
//! [`restore_test`]: a one-node lab (`hadome-lab`) starts in a fresh directory, `pg_restore` loads
//! the archive into a new database, every table is counted again and compared with the record
//! ([`RestoreTestReport`]), and the server is torn down by PID by the lab's guard, also on error,
//! cancellation or panic. `hadome run restore-backup` compares a restored server with the record
//! through [`current_counts`].
//!
//! A restore that fails, a missing table or a count that differs is a *failed test*: `Ok` with
//! [`RestoreTestReport::ok`] false, which the journal records with its numbers. `Err` is hadome's
//! own trouble (no `pg_restore`, a scratch server that does not start): a [`RestoreError`], whose
//! hint says what to do about it.
//!
//! The scratch server's lab needs a proxy, which is the `hadome` binary itself
//! ([`RestoreTestOptions::hadome_binary`]); so the tests that start one are the `hadome` crate's
//! integration tests, the only ones cargo builds that binary for.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::path::{Path, PathBuf};
//! use std::time::Duration;
//!
//! # async fn example() -> Result<(), hadome_restore::RestoreError> {
//! let conninfo = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";
//! let recorded = hadome_restore::snapshot_counts(conninfo, Duration::from_secs(60)).await?;
//! // … `pg_dump --format=custom --snapshot=ID` runs here, while `recorded` holds the snapshot.
//! let expected: BTreeMap<String, u64> = recorded.counts.clone();
//! drop(recorded);
//!
//! let options = hadome_restore::RestoreTestOptions {
//!     scratch_parent: std::env::temp_dir(),
//!     hadome_binary: PathBuf::from("/usr/local/bin/hadome"),
//! };
//! let mut progress = |done: u64, total: u64| eprintln!("{done}/{total}");
//! let report =
//!     hadome_restore::restore_test(Path::new("/srv/backups/db.dump"), &expected, &options, &mut progress)
//!         .await?;
//! println!("passed: {}", report.ok);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod count;
mod error;
mod pg_restore;
mod report;
mod restore_test;
mod scratch;

pub use count::{current_counts, snapshot_counts, SnapshotCounts};
pub use error::RestoreError;
pub use report::RestoreTestReport;
pub use restore_test::{restore_test, RestoreTestOptions};
