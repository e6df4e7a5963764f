//! [`preflight`]: before a plan destroys anything, check that its constructive half can work
//! (issue 18, "never worse"). A rebuild moves the target's data directory aside and then copies
//! from the source; when the source cannot be reached from the target — the very network cut
//! that stopped its stream — the copy fails and the target is left worse off than the cut left
//! it. The checks here run before the intent is recorded: a failed one refuses the plan with the
//! reason and changes nothing.
//!
//! What is checked, for each rebuild:
//! - the source answers hadome now, as the one the data will come from;
//! - the target's upstream answers at the address the target itself uses (its
//!   `primary_conninfo`, when the target answers): the closest hadome gets, from where it runs,
//!   to "the source answers a replication connection from the target's side". Run over SSH from
//!   the target's host, the check will be exact (issue 15).
//!
//! Not yet checked: room for the copy on the target's filesystem.

use std::time::Duration;

use hadome_core::estate::Estate;
use hadome_core::fact::ProbeOutcome;

use crate::step::Step;

/// Why a plan is refused before it starts; nothing was done.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The step names an instance the estate does not have.
    #[error("no instance `{0}`")]
    NoInstance(String),
    /// The source of a rebuild does not answer.
    #[error("the source `{from}` does not answer ({error}): a rebuild from it would move `{target}`'s data aside and then fail")]
    SourceDown {
        /// The source.
        from: String,
        /// The target.
        target: String,
        /// Why, as the probe said.
        error: String,
    },
    /// The target cannot reach its upstream at the address it uses.
    #[error("`{target}` cannot reach its upstream at the address its primary_conninfo names ({error}): a rebuild from `{from}` would move its data aside and then fail to copy; it will catch up on its own once the link is back")]
    UpstreamUnreachable {
        /// The target.
        target: String,
        /// The source.
        from: String,
        /// What the connection attempt said.
        error: hadome_observer::SessionError,
    },
}

impl PreflightError {
    /// How to go on.
    pub fn hint(&self) -> Option<String> {
        match self {
            PreflightError::NoInstance(_) => None,
            PreflightError::SourceDown { from, .. } => Some(format!(
                "bring `{from}` back, or rebuild from another member that answers"
            )),
            PreflightError::UpstreamUnreachable { target, .. } => Some(format!(
                "repair the network path from `{target}` to its upstream; `hadome check` shows when it streams again"
            )),
        }
    }
}

/// Checks, before anything is done, that the constructive steps of `steps` can work; returns
/// one line per check that passed. Each probe is bounded by the estate's probe timeout.
pub async fn preflight(estate: &Estate, steps: &[Step]) -> Result<Vec<String>, PreflightError> {
    let timeout = Duration::from_secs_f64(estate.probe_timeout_seconds.max(0.1));
    let mut passed = Vec::new();
    for step in steps {
        let Step::Rebuild { target, source } = step else {
            continue;
        };
        let instance = |name: &str| {
            estate
                .instance(name)
                .ok_or_else(|| PreflightError::NoInstance(name.to_owned()))
        };
        let (source_instance, target_instance) = (instance(source)?, instance(target)?);
        let (from, to) = tokio::join!(
            hadome_observer::observe_instance(source_instance, timeout),
            hadome_observer::observe_instance(target_instance, timeout)
        );
        if let ProbeOutcome::Unreachable { error, .. } = &from.outcome {
            return Err(PreflightError::SourceDown {
                from: source.clone(),
                target: target.clone(),
                error: error.clone(),
            });
        }
        passed.push(format!("`{source}` answers"));
        let upstream = match &to.outcome {
            ProbeOutcome::Answered(state) if !state.primary_conninfo.is_empty() => {
                state.primary_conninfo.clone()
            }
            _ => {
                passed.push(format!(
                    "`{target}`'s own path to its upstream is not checked: it does not answer as a standby"
                ));
                continue;
            }
        };
        match hadome_observer::answers_at(&upstream, timeout).await {
            Ok(how) => passed.push(format!(
                "`{target}`'s upstream answers at the address `{target}` uses: {how}"
            )),
            Err(error) => {
                return Err(PreflightError::UpstreamUnreachable {
                    target: target.clone(),
                    from: source.clone(),
                    error,
                })
            }
        }
    }
    Ok(passed)
}
