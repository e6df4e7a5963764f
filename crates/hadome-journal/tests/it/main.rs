//! The journal's tests: one binary over the public API, on real SQLite files in temporary
//! directories. Raw `rusqlite` is used only to look at the file, or to damage it on purpose.

mod backup;
mod budget;
mod corrupt;
mod crash;
mod escalation;
mod failover;
mod finding;
mod intent;
mod last_known;
mod lease;
mod migrate;
mod model;
mod open;
mod support;
mod verdict;
