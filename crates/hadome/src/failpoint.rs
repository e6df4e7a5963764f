//! `HADOME_FAILPOINT=after-intent|after-step:N`: a journaled job (`hadome run`, `hadome backup
//! run`) kills itself with SIGKILL right after its intent, or its Nth step, is committed to the
//! journal: a real kill -9, no unwinding, no outcome written, for the tests that check what the
//! next run makes of it (`tests/it/kill9.rs`, issue 17).
//!
//! The daemon's failover has failpoints of its own, by phase (`after-fence` …, in
//! `daemon/failover.rs`), where the daemon waits to be killed; an unset or unknown value does
//! nothing here.

/// The environment variable naming the failpoint.
pub(crate) const VARIABLE: &str = "HADOME_FAILPOINT";

/// What a job just committed to the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reached {
    /// Its intent, before its first step.
    Intent,
    /// Its step number N (from 1), in the order the journal records them.
    Step(usize),
}

/// Whether the failpoint `point` names `reached`.
fn names(point: &str, reached: Reached) -> bool {
    match reached {
        Reached::Intent => point == "after-intent",
        Reached::Step(done) => {
            point
                .strip_prefix("after-step:")
                .and_then(|number| number.parse::<usize>().ok())
                == Some(done)
        }
    }
}

/// Kills this process with SIGKILL when `HADOME_FAILPOINT` names `reached`; otherwise returns.
pub(crate) fn kill_if_reached(reached: Reached) {
    let Ok(point) = std::env::var(VARIABLE) else {
        return;
    };
    if !names(&point, reached) {
        return;
    }
    eprintln!("hadome: failpoint {point}: killing this process with SIGKILL ({VARIABLE})");
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    // SIGKILL cannot be caught, so this is not reached; were the signal refused, the process
    // still ends here without unwinding or writing an outcome.
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failpoint_names_the_intent_or_one_step() {
        assert!(names("after-intent", Reached::Intent));
        assert!(!names("after-intent", Reached::Step(1)));
        assert!(names("after-step:2", Reached::Step(2)));
        assert!(!names("after-step:2", Reached::Step(1)));
        assert!(!names("after-step:2", Reached::Intent));
        assert!(!names("after-step:x", Reached::Step(0)));
        assert!(!names("after-fence", Reached::Step(1)));
    }
}
