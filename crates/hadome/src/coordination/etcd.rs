//! Leases and holds in etcd (`[coordination]`, feature F28): several daemons on several hosts,
//! each with its own journal, never both act on one cluster.
//!
//! Each daemon grants one etcd lease (`lease_ttl_seconds`) and renews it from a task of its own
//! every third of that ([`EtcdLeases::start_renewing`]), so a long failover does not let it lapse.
//! A cluster's lease is the key `PREFIX/lease/CLUSTER`, its value the holder, attached to the
//! daemon's etcd lease and written in a transaction that compares the key is ours
//! (`value == holder`) or absent (`create_revision == 0`): a daemon killed with -9 stops renewing,
//! etcd deletes its keys when the lease lapses, and another daemon takes them at its next pass.
//! A person's hold is `PREFIX/hold/CLUSTER`, on the `hadome run`'s own etcd lease ([`EtcdHold`]).
//!
//! Before each automated intent ([`EtcdLeases::guard_intent`]) the daemon asks etcd for its lease's
//! remaining time to live and refuses to act when it is below [`EtcdLeases::margin`] or unknown,
//! then writes `PREFIX/intent/CLUSTER` in a transaction guarded by the lease key's value and the
//! hold key's absence. A daemon cut off from etcd therefore cannot start an action: etcd is the
//! one clock that decides when its lease lapses, and it cannot be asked. Every call is bounded by
//! [`EtcdLeases::call_timeout`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use hadome_core::estate::Coordination;
use hadome_core::quorum::EtcdSecurity;

/// What went wrong talking to etcd.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CoordinationError {
    /// No answer within the bound.
    #[error("etcd ({endpoints}) did not answer {what} within {seconds} s")]
    Timeout {
        endpoints: String,
        what: &'static str,
        seconds: f64,
    },
    /// etcd answered with an error, or could not be reached (`tls`: what a TLS failure means,
    /// in words, when it is one).
    #[error("etcd ({endpoints}) failed {what}: {tls}{source}")]
    Etcd {
        endpoints: String,
        what: &'static str,
        tls: String,
        #[source]
        source: etcd_client::Error,
    },
    /// A file of `[coordination]`'s TLS or credentials could not be read.
    #[error("etcd ({endpoints}): {source}")]
    Security {
        endpoints: String,
        #[source]
        source: hadome_observer::etcd::SecurityFileError,
    },
}

/// Why the daemon may not record an automated intent now (`[coordination]`): each reason is
/// the lease not provably ours for long enough, so the daemon stops acting (fail closed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum IntentRefused {
    /// No etcd lease was granted or kept this pass.
    #[error("this daemon holds no etcd lease")]
    NoLease,
    /// etcd could not say how long the lease lives.
    #[error("its etcd lease's remaining time to live is unknown: {0}")]
    LeaseUnknown(#[source] CoordinationError),
    /// The lease could lapse before the action's intent is written.
    #[error("its etcd lease has {remaining} s left, under the {margin} s safety margin")]
    LeaseShort { remaining: i64, margin: i64 },
    /// The guarded transaction could not be run.
    #[error("the intent's guarded transaction failed: {0}")]
    Transaction(#[source] CoordinationError),
    /// The transaction ran and its comparison failed.
    #[error("the guarded transaction found `{lease_key}` no longer this daemon's, or a person's hold on it")]
    LostOrHeld { lease_key: String },
}

impl CoordinationError {
    pub(crate) fn hint(&self) -> String {
        "check that the `[coordination]` endpoints answer from this host \
         (`etcdctl --endpoints URL endpoint health`); until they do, hadome does not act"
            .to_owned()
    }
}

/// The keys of one estate's coordination.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(super) prefix: String,
}

impl Keys {
    pub(crate) fn lease(&self, name: &str) -> String {
        format!("{}lease/{name}", self.prefix)
    }
    pub(crate) fn hold(&self, cluster: &str) -> String {
        format!("{}hold/{cluster}", self.prefix)
    }
    pub(crate) fn intent(&self, cluster: &str) -> String {
        format!("{}intent/{cluster}", self.prefix)
    }
    fn holds(&self) -> String {
        format!("{}hold/", self.prefix)
    }
}

/// A connection to the coordination etcd, every call bounded.
#[derive(Clone)]
pub(super) struct Bounded {
    endpoints: Vec<String>,
    security: EtcdSecurity,
    timeout: Duration,
    client: Arc<tokio::sync::Mutex<Option<Client>>>,
}

impl Bounded {
    pub(super) fn new(coordination: &Coordination, timeout: Duration) -> Bounded {
        Bounded {
            endpoints: coordination.endpoints.clone(),
            security: coordination.security.clone(),
            timeout,
            client: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    pub(super) fn error(
        &self,
        what: &'static str,
        source: etcd_client::Error,
    ) -> CoordinationError {
        let tls = hadome_observer::etcd::tls_reason(&source.to_string())
            .map(|reason| format!("{reason}: "))
            .unwrap_or_default();
        CoordinationError::Etcd {
            endpoints: self.endpoints.join(", "),
            what,
            tls,
            source,
        }
    }

    /// `work` on the client (connected first when it is not), bounded as a whole by the timeout.
    pub(super) async fn call<T, F, Fut>(
        &self,
        what: &'static str,
        work: F,
    ) -> Result<T, CoordinationError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let bounded = async {
            let client = {
                let mut slot = self.client.lock().await;
                match slot.as_ref() {
                    Some(client) => client.clone(),
                    None => {
                        let options = hadome_observer::etcd::connect_options(
                            &self.security,
                            self.timeout,
                            "[coordination]",
                        )
                        .await
                        .map_err(|source| CoordinationError::Security {
                            endpoints: self.endpoints.join(", "),
                            source,
                        })?;
                        let client = Client::connect(&self.endpoints, Some(options))
                            .await
                            .map_err(|source| self.error("to connect", source))?;
                        *slot = Some(client.clone());
                        client
                    }
                }
            };
            work(client)
                .await
                .map_err(|source| self.error(what, source))
        };
        match tokio::time::timeout(self.timeout, bounded).await {
            Ok(result) => result,
            Err(_) => Err(CoordinationError::Timeout {
                endpoints: self.endpoints.join(", "),
                what,
                seconds: self.timeout.as_secs_f64(),
            }),
        }
    }

    pub(super) async fn grant(&self, ttl_seconds: i64) -> Result<i64, CoordinationError> {
        self.call("a lease grant", |mut client| async move {
            Ok(client.lease_grant(ttl_seconds, None).await?.id())
        })
        .await
    }

    /// One keep-alive of lease `id`; its time to live afterwards (0 or less: it had lapsed).
    pub(super) async fn keep_alive(&self, id: i64) -> Result<i64, CoordinationError> {
        self.call("a lease keep-alive", |mut client| async move {
            let (mut keeper, mut stream) = client.lease_keep_alive(id).await?;
            keeper.keep_alive().await?;
            Ok(stream.message().await?.map_or(0, |answer| answer.ttl()))
        })
        .await
    }

    pub(super) async fn time_to_live(&self, id: i64) -> Result<i64, CoordinationError> {
        self.call("a lease time-to-live", |mut client| async move {
            Ok(client.lease_time_to_live(id, None).await?.ttl())
        })
        .await
    }

    pub(super) async fn revoke(&self, id: i64) -> Result<(), CoordinationError> {
        self.call("a lease revoke", |mut client| async move {
            client.lease_revoke(id).await.map(|_| ())
        })
        .await
    }

    /// Takes `key` for `holder` on lease `id` when it is absent or already `holder`'s; otherwise
    /// returns who holds it.
    pub(super) async fn take(
        &self,
        key: &str,
        holder: &str,
        id: i64,
    ) -> Result<Option<String>, CoordinationError> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        self.call("a lease transaction", |mut client| async move {
            let put = || {
                TxnOp::put(
                    key.clone(),
                    holder.clone(),
                    Some(PutOptions::new().with_lease(id)),
                )
            };
            let ours = Txn::new()
                .when([Compare::value(
                    key.clone(),
                    CompareOp::Equal,
                    holder.clone(),
                )])
                .and_then([put()]);
            if client.txn(ours).await?.succeeded() {
                return Ok(None);
            }
            let absent = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([put()])
                .or_else([TxnOp::get(key.clone(), None)]);
            let answer = client.txn(absent).await?;
            if answer.succeeded() {
                return Ok(None);
            }
            let other = answer
                .op_responses()
                .into_iter()
                .find_map(|response| match response {
                    TxnOpResponse::Get(get) => get
                        .kvs()
                        .first()
                        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
                    _ => None,
                });
            Ok(Some(other.unwrap_or_else(|| {
                "another holder (gone since)".to_owned()
            })))
        })
        .await
    }
}

/// The daemon's side: its etcd lease, the keys it holds on it, and the guard before each intent.
pub(crate) struct EtcdLeases {
    etcd: Bounded,
    keys: Keys,
    holder: String,
    ttl_seconds: i64,
    /// The daemon's current etcd lease; `None` until granted, and again once it lapsed.
    lease: Arc<Mutex<Option<i64>>>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

impl EtcdLeases {
    pub(crate) fn new(
        coordination: &Coordination,
        holder: &str,
        probe_timeout_seconds: f64,
    ) -> EtcdLeases {
        let ttl_seconds = coordination.lease_ttl_seconds;
        EtcdLeases {
            etcd: Bounded::new(
                coordination,
                call_timeout(ttl_seconds, probe_timeout_seconds),
            ),
            keys: Keys {
                prefix: coordination.prefix.clone(),
            },
            holder: holder.to_owned(),
            ttl_seconds,
            lease: Arc::new(Mutex::new(None)),
            renewer: None,
        }
    }

    /// The remaining time to live below which the daemon does not start an action: half the
    /// lease's. An action starts only while etcd says the lease lives at least this long.
    pub(crate) fn margin_seconds(&self) -> i64 {
        (self.ttl_seconds / 2).max(1)
    }

    fn current(&self) -> Option<i64> {
        *self
            .lease
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_current(&self, id: Option<i64>) {
        *self
            .lease
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = id;
    }

    /// The renewals, from a task of their own, every third of the time to live, until dropped.
    fn start_renewing(&mut self) {
        if self.renewer.is_some() {
            return;
        }
        let (etcd, lease) = (self.etcd.clone(), Arc::clone(&self.lease));
        let every = Duration::from_millis((self.ttl_seconds * 1000 / 3).max(200) as u64);
        self.renewer = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let id = *lease
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let Some(id) = id else { continue };
                match etcd.keep_alive(id).await {
                    Ok(ttl) if ttl > 0 => {}
                    Ok(_) => {
                        tracing::warn!(
                            "the etcd lease {id:x} lapsed: a new one is granted at the next pass"
                        );
                        let mut slot = lease
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                        if *slot == Some(id) {
                            *slot = None;
                        }
                    }
                    Err(error) => {
                        tracing::warn!("could not renew the etcd lease {id:x}: {error}")
                    }
                }
            }
        }));
    }

    /// Takes or renews each of `names` (clusters, `backup:NAME`); returns those held. Any failure
    /// to reach etcd is an error: the caller then holds none (fail closed).
    pub(crate) async fn acquire(
        &mut self,
        names: &[String],
    ) -> Result<(BTreeSet<String>, Vec<(String, String)>), CoordinationError> {
        self.start_renewing();
        let id = match self.current() {
            Some(id) => id,
            None => {
                let id = self.etcd.grant(self.ttl_seconds).await?;
                self.set_current(Some(id));
                id
            }
        };
        let mut held = BTreeSet::new();
        let mut others = Vec::new();
        for name in names {
            match self
                .etcd
                .take(&self.keys.lease(name), &self.holder, id)
                .await
            {
                Ok(None) => {
                    held.insert(name.clone());
                }
                Ok(Some(other)) => others.push((name.clone(), other)),
                Err(CoordinationError::Etcd { source, .. })
                    if source.to_string().contains("requested lease not found") =>
                {
                    self.set_current(None);
                    return Err(self.etcd.error("a lease transaction (the lease had lapsed; a new one is granted at the next pass)", source));
                }
                Err(error) => return Err(error),
            }
        }
        Ok((held, others))
    }

    /// The clusters a person's `hadome run` holds (`PREFIX/hold/CLUSTER`), with its holder.
    pub(crate) async fn held(&self) -> Result<BTreeMap<String, String>, CoordinationError> {
        let prefix = self.keys.holds();
        self.etcd
            .call("a read of the holds", |mut client| async move {
                let answer = client
                    .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
                    .await?;
                Ok(answer
                    .kvs()
                    .iter()
                    .map(|kv| {
                        let key = String::from_utf8_lossy(kv.key());
                        (
                            key.strip_prefix(prefix.as_str()).unwrap_or(&key).to_owned(),
                            String::from_utf8_lossy(kv.value()).into_owned(),
                        )
                    })
                    .collect())
            })
            .await
    }

    /// Whether the daemon may record an automated intent on `cluster` now: its etcd lease lives at
    /// least [`margin_seconds`](Self::margin_seconds) more, and, in one transaction, the cluster's
    /// lease key is still ours and no hold key exists; then `PREFIX/intent/CLUSTER` says what it
    /// does. `Err` is the reason it may not.
    pub(crate) async fn guard_intent(
        &self,
        cluster: &str,
        action: &str,
    ) -> Result<(), IntentRefused> {
        let Some(id) = self.current() else {
            return Err(IntentRefused::NoLease);
        };
        let remaining = self
            .etcd
            .time_to_live(id)
            .await
            .map_err(IntentRefused::LeaseUnknown)?;
        if remaining < self.margin_seconds() {
            return Err(IntentRefused::LeaseShort {
                remaining,
                margin: self.margin_seconds(),
            });
        }
        let (lease_key, hold_key, intent_key) = (
            self.keys.lease(cluster),
            self.keys.hold(cluster),
            self.keys.intent(cluster),
        );
        let (holder, value) = (self.holder.clone(), format!("{}: {action}", self.holder));
        let succeeded = self
            .etcd
            .call(
                "the intent's guarded transaction",
                |mut client| async move {
                    let guarded = Txn::new()
                        .when([
                            Compare::value(lease_key, CompareOp::Equal, holder),
                            Compare::create_revision(hold_key, CompareOp::Equal, 0),
                        ])
                        .and_then([TxnOp::put(
                            intent_key,
                            value,
                            Some(PutOptions::new().with_lease(id)),
                        )]);
                    Ok(client.txn(guarded).await?.succeeded())
                },
            )
            .await
            .map_err(IntentRefused::Transaction)?;
        if succeeded {
            Ok(())
        } else {
            Err(IntentRefused::LostOrHeld {
                lease_key: self.keys.lease(cluster),
            })
        }
    }

    /// Stops renewing and revokes the etcd lease: every key on it goes at once.
    pub(crate) async fn release(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        if let Some(id) = self.current() {
            if let Err(error) = self.etcd.revoke(id).await {
                tracing::warn!(
                    "could not revoke the etcd lease {id:x} (it lapses on its own): {error}"
                );
            }
        }
    }
}

impl Drop for EtcdLeases {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}

/// Every etcd call's bound: the probe timeout, and at most a quarter of the lease's time to live
/// (a renewal that waits longer would let the lease lapse while it waits).
pub(super) fn call_timeout(ttl_seconds: i64, probe_timeout_seconds: f64) -> Duration {
    let quarter = ttl_seconds as f64 / 4.0;
    Duration::from_secs_f64(probe_timeout_seconds.min(quarter).max(0.2))
}
