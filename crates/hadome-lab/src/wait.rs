//! Polling with a deadline: the only way the lab waits.
//!
//! A lab operation never sleeps for a fixed time and hopes: it checks the condition, and if it does
//! not hold yet, checks again after a short interval, until the deadline. The interval starts at
//! 10 ms and backs off to 100 ms, so a fast condition costs little and a slow one does not spin.
//! When the deadline passes, the error names the node, what was awaited and the last observation.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::LabError;

/// One check of a condition: it holds (with a value), or not yet (with what was seen).
#[derive(Debug)]
pub(crate) enum Poll<T> {
    /// The condition holds.
    Done(T),
    /// Not yet: what the check saw, named by the timeout if it is the last one.
    NotYet(String),
}

/// The outcome of one check: a [`Poll`], or an error that ends the wait.
pub(crate) type Check<T> = Result<Poll<T>, LabError>;

fn next_interval(interval: Duration) -> Duration {
    (interval * 2).min(Duration::from_millis(100))
}

/// Calls `check` until it returns `Ok(Poll::Done(value))`, an error, or `timeout` passes.
pub(crate) async fn poll_until<T, F, Fut>(
    node: &str,
    awaited: &str,
    timeout: Duration,
    mut check: F,
) -> Result<T, LabError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Check<T>>,
{
    let started = Instant::now();
    let mut interval = Duration::from_millis(10);
    loop {
        let last_seen = match check().await? {
            Poll::Done(value) => return Ok(value),
            Poll::NotYet(seen) => seen,
        };
        if started.elapsed() >= timeout {
            return Err(timeout_error(node, awaited, started, last_seen));
        }
        // The poll interval between two checks, not a synchronisation: the deadline above bounds it.
        tokio::time::sleep(interval).await;
        interval = next_interval(interval);
    }
}

/// The blocking twin of [`poll_until`], for teardown in `Drop`, where no runtime may be running.
pub(crate) fn poll_until_blocking<T>(
    node: &str,
    awaited: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Poll<T>,
) -> Result<T, LabError> {
    let started = Instant::now();
    let mut interval = Duration::from_millis(10);
    loop {
        let last_seen = match check() {
            Poll::Done(value) => return Ok(value),
            Poll::NotYet(seen) => seen,
        };
        if started.elapsed() >= timeout {
            return Err(timeout_error(node, awaited, started, last_seen));
        }
        // The poll interval between two checks, bounded by the deadline above.
        std::thread::sleep(interval);
        interval = next_interval(interval);
    }
}

fn timeout_error(node: &str, awaited: &str, started: Instant, last_seen: String) -> LabError {
    LabError::Timeout {
        node: node.to_owned(),
        awaited: awaited.to_owned(),
        waited: started.elapsed(),
        last_seen,
    }
}
