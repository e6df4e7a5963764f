//! One small interface for the daemon's leases and people's holds, with two homes: the journal
//! (one daemon per journal, the default) and etcd (`[coordination]`: several daemons on several
//! hosts, one estate, each with its own journal).
//!
//! The daemon asks the same four questions of either ([`Coordinator`]): which leases it holds now
//! (taken or renewed at the start of each pass), which clusters a person's `hadome run` holds,
//! whether it may record an automated intent on a cluster now (the journal answers that in the
//! transaction that records the intent, so it says yes here; etcd answers with the lease's
//! remaining time to live and a guarded transaction), and to let go at the end. `hadome run`'s
//! hold on a cluster is a [`Hold`]: a journal lease `hold:CLUSTER`, or the etcd key
//! `PREFIX/hold/CLUSTER`.

use std::collections::{BTreeMap, BTreeSet};

use hadome_core::estate::Estate;
use hadome_core::fact::Timestamp;
use hadome_journal::hold_lease;

use crate::error::CliError;
use crate::held::HeldLease;
use crate::journal_pool::Journaled;

pub(crate) mod etcd;
pub(crate) mod hold;

use etcd::EtcdLeases;

/// Where the daemon's leases and people's holds live.
pub(crate) enum Coordinator {
    /// In the journal, the default: the leases are rows of its `leases` table.
    Journal,
    /// In etcd, under `[coordination]`.
    Etcd(Box<EtcdLeases>),
}

/// What [`Coordinator::acquire`] found: the leases held, and when it could not ask, why.
pub(crate) struct Acquired {
    pub(crate) held: BTreeSet<String>,
    /// Why this daemon holds nothing this pass (etcd could not be asked), if so.
    pub(crate) cut_off: Option<String>,
}

impl Coordinator {
    /// The coordinator `estate` names: etcd under `[coordination]`, else the journal.
    pub(crate) fn of(estate: &Estate, holder: &str) -> Coordinator {
        match &estate.coordination {
            None => Coordinator::Journal,
            Some(coordination) => Coordinator::Etcd(Box::new(EtcdLeases::new(
                coordination,
                holder,
                estate.probe_timeout_seconds,
            ))),
        }
    }

    /// Where the leases live, for the daemon's first log line.
    pub(crate) fn describe(&self, estate: &Estate) -> String {
        match (self, &estate.coordination) {
            (Coordinator::Etcd(leases), Some(coordination)) => format!(
                "leases in etcd ({}, prefix `{}`, lease ttl {} s, safety margin {} s)",
                coordination.endpoints.join(", "),
                coordination.prefix,
                coordination.lease_ttl_seconds,
                leases.margin_seconds()
            ),
            _ => "leases in the journal".to_owned(),
        }
    }

    /// Takes or renews each lease of `names` for `holder`.
    pub(crate) async fn acquire(
        &mut self,
        journal: &Journaled,
        names: Vec<String>,
        holder: &str,
        now: Timestamp,
        ttl_ms: i64,
    ) -> Result<Acquired, CliError> {
        match self {
            Coordinator::Journal => {
                let mut held = BTreeSet::new();
                for name in names {
                    let (lease, holder) = (name.clone(), holder.to_owned());
                    let outcome = journal
                        .call(move |journal| journal.acquire_lease(&lease, &holder, now, ttl_ms))
                        .await?;
                    if outcome.is_held() {
                        held.insert(name);
                    }
                }
                Ok(Acquired {
                    held,
                    cut_off: None,
                })
            }
            Coordinator::Etcd(leases) => Ok(match leases.acquire(&names).await {
                Ok((held, _)) => Acquired {
                    held,
                    cut_off: None,
                },
                Err(error) => Acquired {
                    held: BTreeSet::new(),
                    cut_off: Some(error.to_string()),
                },
            }),
        }
    }

    /// The clusters of `clusters` a person's `hadome run` holds at `now`, with its holder. When
    /// etcd cannot be asked, every cluster counts as held (fail closed).
    pub(crate) async fn held(
        &self,
        journal: &Journaled,
        clusters: Vec<String>,
        now: Timestamp,
    ) -> Result<BTreeMap<String, String>, CliError> {
        match self {
            Coordinator::Journal => {
                journal
                    .call(move |journal| {
                        let mut held = BTreeMap::new();
                        for cluster in clusters {
                            if let Some(lease) = journal.lease(&hold_lease(&cluster))? {
                                if !lease.is_expired(now) {
                                    held.insert(cluster, lease.holder);
                                }
                            }
                        }
                        Ok(held)
                    })
                    .await
            }
            Coordinator::Etcd(leases) => Ok(match leases.held().await {
                Ok(holds) => holds
                    .into_iter()
                    .filter(|(cluster, _)| clusters.contains(cluster))
                    .collect(),
                Err(error) => clusters
                    .into_iter()
                    .map(|cluster| (cluster, format!("(unknown: {error})")))
                    .collect(),
            }),
        }
    }

    /// Whether the daemon may record an automated intent on `cluster` now; `Err` says why not.
    pub(crate) async fn guard_intent(
        &self,
        cluster: &str,
        action: &str,
    ) -> Result<(), etcd::IntentRefused> {
        match self {
            // The journal checks the hold in the transaction that records the intent.
            Coordinator::Journal => Ok(()),
            Coordinator::Etcd(leases) => leases.guard_intent(cluster, action).await,
        }
    }

    /// Lets go of every lease of `names`.
    pub(crate) async fn release(&mut self, journal: &Journaled, names: Vec<String>, holder: &str) {
        match self {
            Coordinator::Journal => {
                for name in names {
                    let holder = holder.to_owned();
                    let _ = journal
                        .call(move |journal| {
                            journal.release_lease(&name, &holder, crate::clock::wall_clock())
                        })
                        .await;
                }
            }
            Coordinator::Etcd(leases) => leases.release().await,
        }
    }
}

/// A person's hold on a cluster, held until dropped (its fields are read by nobody: dropping them
/// ends the hold).
#[allow(dead_code)]
pub(crate) enum Hold {
    /// The journal lease `hold:CLUSTER`.
    Journal(HeldLease),
    /// The etcd key `PREFIX/hold/CLUSTER`.
    Etcd(hold::EtcdHold),
}
