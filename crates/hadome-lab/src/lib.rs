//! hadome's lab: real PostgreSQL estates on one machine, with the incidents' faults.
//!
//! Every test, drill, demo and benchmark of hadome runs against real servers started here:
//! Debian's PostgreSQL 15, initdb'd and `pg_basebackup`'d into a primary, synchronous and
//! asynchronous standbys and cascades, as the `postgres` user when run as root, listening on a Unix
//! socket inside the lab directory. A lab proxy process owns the TCP ports on 127.0.0.1 that clients
//! and replication links use, so the lab can cut a link or isolate a node.
//!
//! The main types:
//! - [`Topology`]: which nodes, who streams from whom (built-ins or a TOML file);
//! - [`Lab`] and [`LabGuard`]: a running estate; the guard tears it down on `Drop`;
//! - [`Fault`]: hang, crash, cut, stall, promote, config-change, and the failover's fence and
//!   follow … each verified before it returns;
//! - [`Lab::rebuild`]: a stopped node whose data directory was moved aside, made a fresh standby
//!   of another (the lab's `rebuild_command` for hadome's executor);
//! - [`Lab::restore`]: a stopped primary node whose data directory was moved aside, given a fresh
//!   one restored from a `pg_dump -Fc` archive (a `[[backup]]`'s `restore_command` in the lab);
//! - [`LoadOptions`] / [`VerifyReport`]: a write load with an ack log, and how many acknowledged
//!   commits a node lacks.
//!
//! ```no_run
//! # async fn example() -> Result<(), hadome_lab::LabError> {
//! use hadome_lab::{Fault, Lab, LabOptions, Topology};
//! let options = LabOptions::with_hadome_binary("/usr/local/bin/hadome");
//! let lab = Lab::up(&Topology::resolve("misskey")?, "/tmp/lab".as_ref(), &options).await?;
//! lab.fault(&Fault::Stall("db-3".into())).await?;
//! let status = lab.status().await?;
//! # drop(status); Ok(()) }
//! // Dropping `lab` stops every process by PID and removes /tmp/lab.
//! ```

#![warn(missing_docs)]

mod debian_hosts;
mod error;
mod estate_file;
mod etcd;
mod etcd_clients;
mod etcd_load;
mod etcd_member;
mod failover;
mod fault;
mod host;
mod image;
mod lab;
mod load;
mod netns;
mod pg;
mod pg_host;
mod placed;
mod process;
pub mod proxy;
mod rebuild;
mod restore;
pub mod rootfs;
mod state;
mod tls;
pub mod topology;
mod wait;
pub mod web;

pub use error::{FaultWordsError, LabError};
pub use etcd::{EtcdMemberStatus, ETCD_BINARY_ENV};
pub use etcd_clients::EtcdClientStatus;
pub use etcd_load::ETCD_LOAD_PREFIX;
pub use fault::{Fault, FaultReport, FAULT_NAMES};
pub use host::{serve as serve_host, HostStatus};
pub use image::{FileRecord, ImageManifest, ImageVerdict};
pub use lab::{Lab, LabGuard, LabOptions, LabStatus, LinkStatus, LiveState, NodeStatus};
pub use load::{read_ack_log, LoadOptions, LoadReport, VerifyReport};
pub use pg::{connect_tcp, format_lsn, locate_bindir, parse_lsn, BINDIR_ENV, DEBIAN_BINDIR};
pub use placed::{PlacedBoot, DEFAULT_DOWN_TIME};
pub use rebuild::RebuildReport;
pub use restore::RestoreReport;
pub use tls::{make_certificates, TlsFiles};
pub use topology::{EtcdSpec, NodeSpec, Topology};
pub use web::{WebFault, WebServiceStatus, WebSpec, WebStatus};
