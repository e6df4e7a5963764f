//! hadome's integration tests: the real binary and the lab on real PostgreSQL servers.
//!
//! One test binary (faster to link than one per file); each module is a feature area.

mod ack;
mod api;
mod api_metrics;
mod api_support;
mod backup;
mod backup_archive;
mod bad_input;
mod cli;
mod coordination;
mod daemon;
mod dashboard;
mod debian3_actions;
mod debian3_lab;
mod drill;
mod estate;
mod etcd_advise;
mod etcd_cut;
mod etcd_lab;
mod etcd_replace;
mod etcd_tls;
mod faults;
mod guard;
mod host_lab;
mod init;
mod kill9;
mod lab_rebuild;
mod load;
mod observer;
mod package;
mod replay;
mod restore_test;
mod run;
mod session;
mod showcase_gate;
mod showcase_lab;
mod support;
mod timeline;
mod tls_pg;
mod topologies;
mod trials;
