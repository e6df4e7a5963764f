//! The person's holds that `hadome run` takes before it acts: one per cluster the action
//! touches (PostgreSQL clusters and quorum clusters alike), in the journal or, with
//! `[coordination]`, in etcd; a supervising daemon stays off a held cluster.

use hadome_core::action::Action;

use crate::actor;
use crate::clock::wall_clock;
use crate::coordination::hold::{EtcdHold, HoldRefused};
use crate::coordination::Hold;
use crate::error::CliError;
use crate::held::HeldLease;
use crate::pass::Pass;

/// How long a person's hold on a cluster lasts unless renewed (the renewals come every third of
/// that), so a `run` that was killed holds the cluster off its daemon for at most this long.
const HOLD_TTL_MS: i64 = 30_000;

/// Takes the person's hold on every cluster `action` touches: its target's, or, for an action on
/// a host (a reboot, a deletion), the cluster of each instance and the quorum of each etcd member
/// placed on the host. Holds are taken in name order; one refused releases those already taken,
/// so nothing is changed. A quorum cluster is held like a PostgreSQL one: a second `run` on it
/// waits for the first one's outcome (one disruption per quorum cluster at a time).
pub(super) fn hold_clusters(pass: &mut Pass, action: &Action) -> Result<Vec<Hold>, CliError> {
    let estate = &pass.estate;
    let cluster_of = |name: &str| {
        estate
            .cluster_of(name)
            .map(|cluster| cluster.name.clone())
            .or_else(|| estate.quorum_of(name).map(|quorum| quorum.name.clone()))
    };
    let mut clusters: Vec<String> = match action.host() {
        Some(host) => estate
            .placed_on(host)
            .iter()
            .filter_map(|target| cluster_of(&target.name))
            .collect(),
        None => cluster_of(action.target()).into_iter().collect(),
    };
    clusters.sort();
    clusters.dedup();
    let mut holds = Vec::with_capacity(clusters.len());
    for cluster in clusters {
        holds.push(hold_cluster(pass, cluster)?);
    }
    Ok(holds)
}

/// Takes the person's hold on `cluster` ([`hadome_journal::hold_lease`]): while it is held, a
/// daemon supervising the cluster takes no action there (`single-actor`). Refuses, changing
/// nothing, when another `hadome run` holds the cluster, or when a live daemon is in the middle
/// of an automated action there (an open intent of its own).
fn hold_cluster(pass: &mut Pass, cluster: String) -> Result<Hold, CliError> {
    if let Some(coordination) = pass.estate.coordination.clone() {
        return hold_in_etcd(pass, &coordination, cluster);
    }
    let name = hadome_journal::hold_lease(&cluster);
    let hold = HeldLease::take(
        &pass.estate.journal_path,
        &name,
        &actor::person(),
        HOLD_TTL_MS,
        |lease| {
            CliError::Busy {
            message: format!(
                "cluster `{cluster}` is held by another `hadome run` (`{}`, until {} unless renewed): one actor at a time; nothing was done",
                lease.holder,
                lease.expires_at.utc_text()
            ),
            hint: Some(format!(
                "run again once it is done; a hold lapses {} s after its `hadome run` stopped",
                HOLD_TTL_MS / 1000
            )),
        }
        },
    )?;
    let now = wall_clock();
    let daemon_alive = pass
        .journal
        .lease(&cluster)?
        .is_some_and(|lease| !lease.is_expired(now));
    let busy = pass.journal.open_intents()?.into_iter().find(|intent| {
        intent.actor == actor::DAEMON
            && pass
                .estate
                .cluster_of(&intent.target)
                .is_some_and(|of| of.name == cluster)
    });
    if let (true, Some(intent)) = (daemon_alive, busy) {
        drop(hold);
        return Err(CliError::Busy {
            message: format!(
                "the daemon is carrying out intent #{} ({}) on cluster `{cluster}`, after {} of its {} steps: one actor at a time; nothing was done",
                intent.id,
                intent.action_text,
                intent.steps_done.len(),
                intent.plan.len()
            ),
            hint: Some("run again once it is closed (`hadome status` lists open intents)".to_owned()),
        });
    }
    Ok(Hold::Journal(hold))
}

/// The person's hold on `cluster` in etcd (`[coordination]`): the key `PREFIX/hold/CLUSTER` on the
/// `run`'s own etcd lease, which every daemon of the estate reads before it acts. Refuses, changing
/// nothing, when another `hadome run` holds it, or when etcd cannot be asked (fail closed).
fn hold_in_etcd(
    pass: &Pass,
    coordination: &hadome_core::estate::Coordination,
    cluster: String,
) -> Result<Hold, CliError> {
    let holder = format!(
        "{} pid {} on {}",
        actor::person(),
        std::process::id(),
        crate::held::hostname()
    );
    let ttl_seconds = (HOLD_TTL_MS / 1000).max(coordination.lease_ttl_seconds);
    match EtcdHold::take(
        coordination,
        &cluster,
        &holder,
        ttl_seconds,
        pass.estate.probe_timeout_seconds,
    ) {
        Ok(hold) => Ok(Hold::Etcd(hold)),
        Err(HoldRefused::HeldBy(other)) => Err(CliError::Busy {
            message: format!(
                "cluster `{cluster}` is held by another `hadome run` (`{other}`, in etcd): one actor at a time; nothing was done"
            ),
            hint: Some(format!(
                "run again once it is done; a hold lapses {ttl_seconds} s after its `hadome run` stopped"
            )),
        }),
        Err(HoldRefused::Etcd(error)) => Err(CliError::CannotProceed {
            message: format!(
                "could not hold cluster `{cluster}` in etcd, so nothing was done: {error}"
            ),
            hint: Some(error.hint()),
        }),
    }
}
