//! hadome's decision core: the estate, facts, actions, interlocks and verdicts.
//!
//! **This crate does no I/O, no async and reads no clock**: time is an argument, facts arrive as
//! values, and every interlock is a pure function of them. That is what lets its correctness be
//! tested exhaustively and deterministically. Today it holds the catalogue of rule ids
//! ([`rule`]); the estate model, data positions and interlocks come with the `check`/`ask` work.

#![warn(missing_docs)]

pub mod rule;
