//! The journal on tokio's blocking pool ([`Journaled`]): SQLite calls are short, but they are
//! blocking I/O. The daemon (`daemon/journaled.rs` reads each pass's holds, pauses and budgets
//! through it) and the coordination of leases (`coordination/`) share it.

use std::sync::{Arc, Mutex};

use hadome_journal::{Journal, JournalError};

use crate::error::CliError;

/// The journal, shared with the blocking pool.
#[derive(Clone)]
pub(crate) struct Journaled(pub(crate) Arc<Mutex<Journal>>);

impl Journaled {
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, CliError> {
        self.run(move |journal| work(journal).map_err(CliError::from))
            .await
    }

    /// [`call`](Journaled::call) for work that fails with the CLI's own errors (the API's
    /// documents, built from the journal by `views`).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Journal) -> Result<T, CliError> + Send + 'static,
    ) -> Result<T, CliError> {
        let journal = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut journal = journal
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut journal)
        })
        .await
        .map_err(|error| CliError::Internal {
            message: format!("a journal task failed: {error} (a bug in hadome: please report it)"),
            hint: None,
        })?
    }
}
