//! Which facts a read answers from: the daemon's latest pass while it is younger than one probe
//! interval and covers what the answer needs, else a pass of its own, as `hadome check`,
//! `status` and `ask` make (and as they do, it journals what it saw). Each answer says which, and
//! how old its facts are.
//!
//! The daemon's passes probe the PostgreSQL instances (and keep sessions to them); they do not
//! read backups, hosts, etcd members, routes, services or nginx (those cost more than a pass may
//! spend: a host's facts over SSH alone take most of a second). An estate that declares any of
//! them is answered from a pass of the API's own, so the answer is the CLI's, never one missing a
//! rule's facts.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use super::{Shared, Snapshot};
use crate::backup_facts::BackupReading;
use crate::error::CliError;

/// The facts an answer is built on, and how it came by them.
pub(super) struct Basis {
    pub(super) snapshot: Arc<Snapshot>,
    /// `{"source": "daemon"|"probed", "age_seconds", "why"}`, added to the answer as `facts`.
    pub(super) source: Value,
}

/// What an answer needs from a pass.
pub(super) struct Needs {
    /// How deep the backups are read (`check` reads each newest copy whole).
    pub(super) reading: BackupReading,
    /// Whether each nginx's `nginx -t` is run (a reload's question).
    pub(super) test_nginx: bool,
}

impl Shared {
    /// The daemon's latest facts if they are fresh and cover `needs`, else a new pass.
    pub(super) async fn basis(&self, needs: Needs) -> Result<Basis, CliError> {
        let latest = self.latest();
        let why = match &latest {
            None => "the daemon has not finished its first pass".to_owned(),
            Some(snapshot) => match uncovered(snapshot, &needs) {
                Some(missing) => format!("the daemon's passes do not read {missing}"),
                None => {
                    let age = snapshot.taken.elapsed().as_secs_f64();
                    let interval = snapshot.estate.probe_interval_seconds;
                    if age <= interval {
                        return Ok(Basis {
                            source: json!({
                                "source": "daemon",
                                "age_seconds": round_ms(age),
                                "observed_at_ms": snapshot.now.0,
                            }),
                            snapshot: Arc::clone(snapshot),
                        });
                    }
                    format!(
                        "the daemon's facts are {age:.1} s old, older than one probe interval ({interval} s)"
                    )
                }
            },
        };
        let estate = match &latest {
            Some(snapshot) => snapshot.estate.clone(),
            None => hadome_config::load(&self.config)?,
        };
        let started = Instant::now();
        let pass = crate::pass::observe_estate(estate, needs.reading, needs.test_nginx).await?;
        let snapshot = Snapshot {
            estate: pass.estate,
            facts: pass.facts,
            history: pass.history,
            now: pass.now,
            taken: Instant::now(),
            reports: Vec::new(),
            pass_seconds: started.elapsed().as_secs_f64(),
            probes: Default::default(),
        };
        Ok(Basis {
            source: json!({
                "source": "probed",
                "age_seconds": 0.0,
                "observed_at_ms": snapshot.now.0,
                "why": why,
            }),
            snapshot: Arc::new(snapshot),
        })
    }
}

/// What `needs` asks of a pass that the daemon's passes do not read, in words; `None` when
/// they cover it.
fn uncovered(snapshot: &Snapshot, needs: &Needs) -> Option<&'static str> {
    let estate = &snapshot.estate;
    if !estate.backups.is_empty() || !estate.snapshots.is_empty() {
        Some("backups and snapshots")
    } else if !estate.hosts.is_empty() {
        Some("hosts")
    } else if !estate.etcd_members.is_empty() {
        Some("etcd members")
    } else if !estate.web.routes.is_empty()
        || !estate.web.services.is_empty()
        || !estate.web.nginx.is_empty()
        || needs.test_nginx
    {
        Some("routes, services and nginx")
    } else {
        None
    }
}

/// Seconds, to the millisecond.
fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}
