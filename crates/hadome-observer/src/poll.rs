//! [`poll_until`]: the one poll-with-a-deadline loop of hadome's I/O edge (the observer's
//! sessions and the executor's effect checks), so that no wait is a fixed sleep and every
//! timeout says what was awaited and what the last look saw.
//!
//! The lab keeps its own (`hadome-lab/src/wait.rs`, with a blocking twin for teardown in `Drop`):
//! it does not depend on the observer.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// What one look found.
#[derive(Debug)]
pub enum Poll<T> {
    /// The condition holds.
    Done(T),
    /// Not yet; what was seen, for the timeout's message.
    NotYet(String),
}

/// How a wait ended without an error.
#[derive(Debug)]
pub enum Polled<T> {
    /// The condition held.
    Done(T),
    /// The deadline passed first; what the last look saw.
    TimedOut {
        /// What the last look saw.
        last_seen: String,
    },
}

/// The time left until `deadline` (zero once it passed).
pub fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Calls `check` (given the time left) every `interval` until it returns `Ok(Poll::Done(_))`, an
/// error, or `deadline` would pass before the next look.
pub async fn poll_until<T, E, F, Fut>(
    deadline: Instant,
    interval: Duration,
    mut check: F,
) -> Result<Polled<T>, E>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
{
    loop {
        let last_seen = match check(remaining(deadline)).await? {
            Poll::Done(value) => return Ok(Polled::Done(value)),
            Poll::NotYet(last_seen) => last_seen,
        };
        if Instant::now() + interval >= deadline {
            return Ok(Polled::TimedOut { last_seen });
        }
        // The interval between two looks; the deadline above bounds the wait.
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_stops_when_done_and_says_what_it_last_saw_at_the_deadline() {
        let mut looks = 0;
        let done: Result<Polled<u32>, ()> = poll_until(
            Instant::now() + Duration::from_secs(5),
            Duration::from_millis(1),
            |_| {
                looks += 1;
                let look = looks;
                async move {
                    Ok(if look == 3 {
                        Poll::Done(look)
                    } else {
                        Poll::NotYet(format!("look {look}"))
                    })
                }
            },
        )
        .await;
        assert!(matches!(done, Ok(Polled::Done(3))));
        let timed_out: Result<Polled<()>, ()> = poll_until(
            Instant::now() + Duration::from_millis(20),
            Duration::from_millis(5),
            |left| async move { Ok(Poll::NotYet(format!("{} ms left", left.as_millis()))) },
        )
        .await;
        assert!(
            matches!(&timed_out, Ok(Polled::TimedOut { last_seen }) if last_seen.ends_with("ms left")),
            "{timed_out:?}"
        );
        let failed: Result<Polled<()>, &str> = poll_until(
            Instant::now() + Duration::from_secs(5),
            Duration::from_millis(1),
            |_| async { Err("refused") },
        )
        .await;
        assert!(matches!(failed, Err("refused")));
    }
}
