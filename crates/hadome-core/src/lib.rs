//! hadome's decision core: the estate, facts, data positions, actions, interlocks and verdicts.
//!
//! **This crate does no I/O, no async and reads no clock**: time is an argument, facts arrive as
//! values, and every interlock is a pure function of them. That is what lets its correctness be
//! tested exhaustively and deterministically.
//!
//! - [`estate::Estate`]: the validated configuration (parsed by `hadome-config`);
//! - [`fact::Facts`] (one pass of observation, from `hadome-observer`) and [`fact::History`]
//!   (what the journal remembers, from `hadome-journal`);
//! - [`position::DataPosition`] and [`position::PositionOrder`]: which copy holds more;
//! - [`action::Action`]: what someone proposes to do;
//! - [`backup`]: backups and snapshots as facts, and what the journal remembers of them;
//! - [`finding::Finding`] and [`finding::Verdict`]: what the interlocks say;
//! - [`host`]: hosts, their facts (boots, systemd units, data paths) and history;
//! - [`quorum`]: etcd members, quorum clusters, their facts and history;
//! - [`target`]: kinds of targets and their placement on hosts;
//! - [`suggest::closest`]: "did you mean" for a mistyped name;
//! - [`supervise`]: the daemon's decisions, and the failover as its own state machine;
//! - [`sync_rep`]: what a primary waits for before it acknowledges a commit.

#![warn(missing_docs)]

pub mod action;
pub mod advise;
pub mod backup;
pub mod estate;
pub mod fact;
pub mod finding;
pub mod host;
pub mod interlock;
pub mod position;
pub mod quorum;
pub mod remote;
pub mod route;
pub mod rule;
pub mod suggest;
pub mod supervise;
pub mod sync_rep;
pub mod target;
pub mod web;
