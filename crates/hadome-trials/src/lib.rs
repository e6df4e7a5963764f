//! Randomized fault trials of hadome's daemon on lab estates (`bench/trials.sh`,
//! `docs/trials.md`).
//!
//! - [`schedule`]: a seed → a topology and 1–3 faults (pure, reproducible);
//! - [`trial`]: one trial on a fresh lab, the daemon supervising, a write load running;
//! - [`load`]: the writer with its ack log, and the sampler probing every member every 100 ms;
//! - [`verdict`]: the checks (pure);
//! - [`report`]: the trials in turn, and their summary per fault mix.

pub mod daemon;
pub mod load;
pub mod report;
pub mod schedule;
pub mod trial;
pub mod verdict;
