//! Waiting for a step's effect: [`wait_for`] probes an instance until an [`Effect`] holds, or
//! until [`EFFECT_TIMEOUT`] passes. No wait is a fixed sleep.

use std::convert::Infallible;
use std::time::Duration;

use hadome_core::estate::{Estate, Instance};
use hadome_core::fact::{InstanceState, ProbeOutcome};
use hadome_observer::poll::{poll_until, Poll, Polled};

/// How long hadome waits for the effect of a step (an instance answering, streaming, promoted).
pub const EFFECT_TIMEOUT: Duration = Duration::from_secs(120);

/// The interval between two probes; the deadline bounds the wait.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// What a step waits for, as the observer's probe sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The instance answers the probe.
    Answers,
    /// It is in recovery and its WAL receiver streams.
    Streams,
    /// It answers out of recovery (it was promoted).
    AcceptsWrites,
}

impl Effect {
    /// What is awaited, as the step's detail and a timeout say it (`it streams`).
    pub fn awaited(self) -> &'static str {
        match self {
            Effect::Answers => "it answers",
            Effect::Streams => "it streams",
            Effect::AcceptsWrites => "it accepts writes",
        }
    }

    fn holds(self, state: Option<&InstanceState>) -> bool {
        match (self, state) {
            (_, None) => false,
            (Effect::Answers, Some(_)) => true,
            (Effect::Streams, Some(state)) => {
                state.in_recovery
                    && state
                        .wal_receiver
                        .as_ref()
                        .is_some_and(|receiver| receiver.status.is_streaming())
            }
            (Effect::AcceptsWrites, Some(state)) => !state.in_recovery,
        }
    }
}

/// The effect did not hold within [`EFFECT_TIMEOUT`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{instance}`: timed out after {} s waiting until {} (last seen: {last_seen})", EFFECT_TIMEOUT.as_secs(), .effect.awaited())]
pub struct WaitError {
    /// The instance waited on.
    pub instance: String,
    /// What was awaited.
    pub effect: Effect,
    /// What the last probe saw: its error, or whether it was in recovery and how it streamed.
    pub last_seen: String,
}

/// Probes `target` (each probe bounded by the estate's probe timeout) until `effect` holds, or
/// until [`EFFECT_TIMEOUT`] passes.
pub async fn wait_for(estate: &Estate, target: &Instance, effect: Effect) -> Result<(), WaitError> {
    let probe_timeout = Duration::from_secs_f64(estate.probe_timeout_seconds.max(0.1));
    let deadline = tokio::time::Instant::now() + EFFECT_TIMEOUT;
    let polled = poll_until(deadline, PROBE_INTERVAL, |_| async {
        let probe = hadome_observer::observe_instance(target, probe_timeout).await;
        let state = match &probe.outcome {
            ProbeOutcome::Answered(state) => state,
            ProbeOutcome::Unreachable { error, .. } => {
                return Ok::<_, Infallible>(if effect.holds(None) {
                    Poll::Done(())
                } else {
                    Poll::NotYet(error.clone())
                })
            }
        };
        Ok(if effect.holds(Some(state)) {
            Poll::Done(())
        } else {
            Poll::NotYet(format!(
                "in recovery: {}, receiver: {}",
                state.in_recovery,
                state
                    .wal_receiver
                    .as_ref()
                    .map_or("none", |receiver| receiver.status.as_str())
            ))
        })
    })
    .await;
    match polled {
        Ok(Polled::Done(())) => Ok(()),
        Ok(Polled::TimedOut { last_seen }) => Err(WaitError {
            instance: target.name.clone(),
            effect,
            last_seen,
        }),
        Err(never) => match never {},
    }
}
