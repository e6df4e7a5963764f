//! The journal's actor names: who did what, as intents record it.
//!
//! The daemon and a person's `hadome run` tell each other apart by these names: `hadome run`
//! refuses to start while a live daemon's intent ([`DAEMON`]) is open on its cluster, and a
//! daemon counts its budgets and resumes its failovers over its own intents only.

/// The journal's actor name for what the daemon does.
pub(crate) const DAEMON: &str = "daemon";

/// Who acts, for the journal: the OS user, through `hadome run`; or, for a `hadome run` the
/// daemon's API runs for a bot, the token's name (`api:NAME`, in `HADOME_ACTOR`).
pub(crate) fn person() -> String {
    person_running("hadome run")
}

/// Who acts through `command` (`hadome run`, `hadome backup run`), for the journal: `USER
/// (COMMAND)`, the user as [`person`] names it.
pub(crate) fn person_running(command: &str) -> String {
    let user = std::env::var("HADOME_ACTOR")
        .ok()
        .filter(|actor| !actor.is_empty())
        .map_or_else(|| std::env::var("USER"), Ok)
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown user".to_owned());
    format!("{user} ({command})")
}
