//! Counting a restored copy's rows, for the executor's `Compare` step: the restore test's count
//! (`hadome_restore::current_counts`) behind the executor's [`CountRows`], so that the executor
//! does not depend on the restore test. `hadome run restore-backup` and the daemon both use it.

use std::collections::BTreeMap;
use std::time::Duration;

use hadome_executor::{CountError, CountRows};

/// Counts a restored copy's rows as the restore test counts them, for the executor's `Compare`.
pub(crate) struct RestoredRows;

impl CountRows for RestoredRows {
    async fn current_counts(
        &self,
        conninfo: &str,
        timeout: Duration,
    ) -> Result<BTreeMap<String, u64>, CountError> {
        hadome_restore::current_counts(conninfo, timeout)
            .await
            .map_err(|error| CountError(error.to_line()))
    }
}
