//! A person's hold in etcd ([`EtcdHold`]): what `hadome run` takes on each cluster it touches
//! when `[coordination]` is set, beside the daemon's leases (`etcd.rs`).

use std::sync::mpsc::channel;
use std::thread::JoinHandle;
use std::time::Duration;

use hadome_core::estate::Coordination;

use super::etcd::*;

/// A person's hold on a cluster in etcd (`PREFIX/hold/CLUSTER` on the `run`'s own etcd lease),
/// renewed by a thread of its own until dropped; dropped, its lease is revoked.
pub(crate) struct EtcdHold {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    worker: Option<JoinHandle<()>>,
}

/// Why a hold was not taken.
pub(crate) enum HoldRefused {
    /// Another `hadome run` holds it.
    HeldBy(String),
    /// etcd could not be asked.
    Etcd(CoordinationError),
}

impl EtcdHold {
    /// Takes the hold on `cluster` for `holder`, with an etcd lease of `ttl_seconds`, from a thread
    /// with a runtime of its own (`hadome run` is synchronous where it takes its holds).
    pub(crate) fn take(
        coordination: &Coordination,
        cluster: &str,
        holder: &str,
        ttl_seconds: i64,
        probe_timeout_seconds: f64,
    ) -> Result<EtcdHold, HoldRefused> {
        let etcd = Bounded::new(
            coordination,
            call_timeout(ttl_seconds, probe_timeout_seconds),
        );
        let key = Keys {
            prefix: coordination.prefix.clone(),
        }
        .hold(cluster);
        let holder = holder.to_owned();
        let (taken, told) = channel::<Result<(), HoldRefused>>();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = taken.send(Err(HoldRefused::Etcd(CoordinationError::Timeout {
                        endpoints: format!("no runtime: {error}"),
                        what: "anything",
                        seconds: 0.0,
                    })));
                    return;
                }
            };
            runtime.block_on(async {
                let id = match etcd.grant(ttl_seconds).await {
                    Ok(id) => id,
                    Err(error) => {
                        let _ = taken.send(Err(HoldRefused::Etcd(error)));
                        return;
                    }
                };
                match etcd.take(&key, &holder, id).await {
                    Ok(None) => {
                        let _ = taken.send(Ok(()));
                    }
                    Ok(Some(other)) => {
                        let _ = etcd.revoke(id).await;
                        let _ = taken.send(Err(HoldRefused::HeldBy(other)));
                        return;
                    }
                    Err(error) => {
                        let _ = etcd.revoke(id).await;
                        let _ = taken.send(Err(HoldRefused::Etcd(error)));
                        return;
                    }
                }
                let every = Duration::from_millis((ttl_seconds * 1000 / 3).max(200) as u64);
                loop {
                    tokio::select! {
                        // Sent or dropped: the hold ends.
                        _ = &mut stopped => break,
                        () = tokio::time::sleep(every) => {
                            if let Err(error) = etcd.keep_alive(id).await {
                                eprintln!("hadome: could not renew the hold `{key}`: {error}");
                            }
                        }
                    }
                }
                if let Err(error) = etcd.revoke(id).await {
                    eprintln!("hadome: could not release the hold `{key}` (it lapses on its own): {error}");
                }
            });
        });
        match told.recv() {
            Ok(Ok(())) => Ok(EtcdHold {
                stop: Some(stop),
                worker: Some(worker),
            }),
            Ok(Err(refused)) => {
                let _ = worker.join();
                Err(refused)
            }
            Err(_) => {
                let _ = worker.join();
                Err(HoldRefused::HeldBy(
                    "(the hold's thread ended; a bug in hadome: please report it)".to_owned(),
                ))
            }
        }
    }
}

impl Drop for EtcdHold {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
