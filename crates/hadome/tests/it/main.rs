//! hadome's integration tests: the real binary and the lab on real PostgreSQL servers.
//!
//! One test binary (faster to link than one per file); each module is a feature area.

mod cli;
mod estate;
mod faults;
mod guard;
mod load;
mod observer;
mod replay;
mod support;
mod topologies;
