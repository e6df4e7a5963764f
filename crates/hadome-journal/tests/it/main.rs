//! The journal's tests: one binary over the public API, on real SQLite files in temporary
//! directories. Raw `rusqlite` is used only to look at the file, or to damage it on purpose.

mod corrupt;
mod crash;
mod intent;
mod last_known;
mod migrate;
mod model;
mod open;
mod support;
mod verdict;
