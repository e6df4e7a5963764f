//! [`execute`]: one [`Step`] carried out on a server, and its effect verified.
//!
//! Every write goes through here: a configured command through [`run_argv`] (its placeholders
//! filled by [`fill`]), a change made over SQL through the observer's session functions
//! (`promote`, `set_synchronous_standby_names`, `retry_stream`), a data directory through
//! [`preserve`]. Counting a restored copy's rows is the caller's ([`CountRows`]): the restore
//! test owns how rows are counted, and the executor does not depend on it.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use hadome_core::estate::{Estate, Instance};
use hadome_core::host::HostCommands;

use crate::command::{fill, run_argv, run_on_host_of, CommandError, Placeholders};
use crate::debian;
use crate::preserve::{preserve, put_back, PreserveError};
use crate::step::Step;
use crate::wait::{wait_for, Effect, WaitError};

/// How long a promotion may take, connect and `pg_promote()` included.
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long setting `synchronous_standby_names` may take, until the server runs with it.
const SETTING_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts an instance's rows, for [`Step::Compare`]: supplied by the caller, who knows how a
/// restore test counts them (in one snapshot, with `row_security` off).
pub trait CountRows {
    /// Rows per table (`schema.table`) of the database `conninfo` reaches, each statement
    /// bounded by `timeout`; the error never repeats the conninfo.
    fn current_counts(
        &self,
        conninfo: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<BTreeMap<String, u64>, CountError>>;
}

/// Why rows could not be counted, as the counter says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CountError(pub String);

/// Why a step failed; its text is the step's journaled detail.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The step names an instance the estate does not have.
    #[error("no instance `{0}`")]
    NoInstance(String),
    /// Its command failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The data directory could not be moved aside.
    #[error(transparent)]
    Preserve(#[from] PreserveError),
    /// The step was done, but its effect did not show in time.
    #[error(transparent)]
    Wait(#[from] WaitError),
    /// The server refused or did not answer a change made over SQL (the observer's words).
    #[error(transparent)]
    Session(hadome_observer::SessionError),
    /// A source whose conninfo cannot be read (the configuration's check let it through).
    #[error("the conninfo of `{0}` cannot be read as libpq's")]
    Conninfo(String),
    /// A restore without a verified copy.
    #[error("backup `{0}` has no copy to restore (nothing was verified)")]
    NoCopy(String),
    /// A follower without a `follow_command`.
    #[error("no follow_command: it keeps its old upstream")]
    NoFollowCommand,
    /// The step names an nginx instance the estate does not declare.
    #[error("no nginx `{0}`")]
    NoNginx(String),
    /// The step names a host the estate does not declare.
    #[error("no host `{0}`")]
    NoHost(String),
    /// A host's command the estate does not configure (`check_configured` refuses it first).
    #[error("host `{host}` has no `{key}`")]
    NoHostCommand {
        /// The host.
        host: String,
        /// The key its `[[host]]` lacks.
        key: &'static str,
    },
    /// A rebooted host did not come back with a new boot id in time.
    #[error("`{host}` did not come back with a new boot id within {} s (last seen: {last_seen})", .waited.as_secs())]
    NotBack {
        /// The host.
        host: String,
        /// How long hadome waited.
        waited: std::time::Duration,
        /// What the last reading of its facts saw.
        last_seen: String,
    },
    /// An image step the caller did not name (`name_image`): a bug in hadome.
    #[error("the image of `{0}` was not named (a bug in hadome: please report it)")]
    ImageNotNamed(String),
    /// A step `hadome run` does not carry out yet.
    #[error("`{0}` is not supported by `run` yet: nothing was done")]
    Unsupported(String),
    /// The rows could not be counted.
    #[error(transparent)]
    Count(#[from] CountError),
    /// A quorum member's step failed.
    #[error(transparent)]
    Member(#[from] crate::member::MemberStepError),
    /// The restored tables differ from those recorded when the copy was made: one sentence each.
    #[error("{}", .0.join("; "))]
    Differs(Vec<String>),
}

/// Carries out one step and verifies its effect; `Ok` with what was done, `Err` with why not.
///
/// Never through a shell, every command bounded by [`COMMAND_TIMEOUT`](crate::COMMAND_TIMEOUT),
/// every wait by [`EFFECT_TIMEOUT`](crate::EFFECT_TIMEOUT).
pub async fn execute(
    estate: &Estate,
    step: &Step,
    rows: &impl CountRows,
) -> Result<String, StepError> {
    let instance = |name: &str| {
        estate
            .instance(name)
            .ok_or_else(|| StepError::NoInstance(name.to_owned()))
    };
    match step {
        Step::Stop(name) => {
            let target = instance(name)?;
            if target.commands.debian.is_some() {
                return Ok(debian::run(estate, target, &debian::Action::Stop)
                    .await?
                    .to_string());
            }
            let command = target.commands.stop.clone().unwrap_or_default();
            Ok(run_on_host_of(estate, name, &command).await?.to_string())
        }
        Step::Fence(name) => {
            let target = instance(name)?;
            if target.commands.debian.is_some() {
                return Ok(debian::run(estate, target, &debian::Action::Fence)
                    .await?
                    .to_string());
            }
            let command = match &target.commands.fence {
                Some(fence) => fill(
                    fence,
                    &Placeholders {
                        target: Some(name),
                        data_dir: Some(&target.data_dir),
                        ..Placeholders::default()
                    },
                ),
                None => target.commands.stop.clone().unwrap_or_default(),
            };
            Ok(run_on_host_of(estate, name, &command).await?.to_string())
        }
        Step::Start(name) => {
            let target = instance(name)?;
            let ran = if target.commands.debian.is_some() {
                debian::run(estate, target, &debian::Action::Start).await?
            } else {
                let command = target.commands.start.clone().unwrap_or_default();
                run_on_host_of(estate, name, &command).await?
            };
            Ok(then_wait(estate, target, ran.to_string(), Effect::Answers).await?)
        }
        Step::Preserve {
            instance: name,
            data_dir,
        } => match estate.instance(name) {
            // An instance on a host hadome reaches over SSH has its data there.
            Some(target) if debian::remote_or_debian(estate, target) => {
                let aside = debian::preserve(estate, target).await?;
                Ok(crate::preserve::preserved(data_dir, aside.as_deref()))
            }
            _ => Ok(preserve(data_dir)?),
        },
        Step::PutBack {
            instance: name,
            data_dir,
            aside,
        } => match estate.instance(name) {
            Some(target) if debian::remote_or_debian(estate, target) => {
                let back = debian::Action::PutBack(aside.display().to_string());
                Ok(debian::run(estate, target, &back).await?.said)
            }
            _ => Ok(put_back(data_dir, aside)?),
        },
        Step::Rebuild { target, source } => {
            let target_instance = instance(target)?;
            let source_instance = instance(source)?;
            if target_instance.commands.debian.is_some() {
                let conninfo = standby_conninfo(source_instance, target_instance)?;
                let ran = debian::run(
                    estate,
                    target_instance,
                    &debian::Action::Basebackup(conninfo),
                )
                .await?;
                return Ok(
                    then_wait(estate, target_instance, ran.to_string(), Effect::Streams).await?,
                );
            }
            let command = fill(
                &target_instance.commands.rebuild.clone().unwrap_or_default(),
                &Placeholders {
                    target: Some(target),
                    source: Some(source),
                    source_conninfo: Some(&source_instance.conninfo),
                    data_dir: Some(&target_instance.data_dir),
                    ..Placeholders::default()
                },
            );
            let ran = run_on_host_of(estate, target, &command).await?;
            Ok(then_wait(estate, target_instance, ran.to_string(), Effect::Streams).await?)
        }
        Step::Restore {
            backup,
            target,
            copy,
        } => {
            let copy = copy
                .as_ref()
                .ok_or_else(|| StepError::NoCopy(backup.clone()))?;
            let target_instance = instance(target)?;
            let restore_command = estate
                .backup(backup)
                .and_then(|backup| backup.restore_command.clone())
                .unwrap_or_default();
            let command = fill(
                &restore_command,
                &Placeholders {
                    target: Some(target),
                    data_dir: Some(&target_instance.data_dir),
                    copy: Some(copy),
                    ..Placeholders::default()
                },
            );
            Ok(run_argv(&command).await?.to_string())
        }
        Step::Follow { target, source } => {
            let target_instance = instance(target)?;
            if target_instance.commands.debian.is_some() {
                let conninfo = standby_conninfo(instance(source)?, target_instance)?;
                hadome_observer::set_primary_conninfo(target_instance, &conninfo, SETTING_TIMEOUT)
                    .await
                    .map_err(StepError::Session)?;
                let set = format!(
                    "primary_conninfo = '{}' (ALTER SYSTEM, reloaded)",
                    hadome_observer::strip_password(&conninfo)
                );
                return Ok(then_wait(estate, target_instance, set, Effect::Streams).await?);
            }
            let Some(follow) = &target_instance.commands.follow else {
                return Err(StepError::NoFollowCommand);
            };
            // The source is a member of the cluster the estate checked; an empty conninfo
            // stands for one it lacks, as it always has.
            let source_conninfo = estate
                .instance(source)
                .map_or("", |source| source.conninfo.as_str());
            let command = fill(
                follow,
                &Placeholders {
                    target: Some(target),
                    source: Some(source),
                    source_conninfo: Some(source_conninfo),
                    data_dir: Some(&target_instance.data_dir),
                    ..Placeholders::default()
                },
            );
            Ok(run_on_host_of(estate, target, &command).await?.to_string())
        }
        Step::RetryStreams(standbys) => {
            let timeout = Duration::from_secs_f64(estate.probe_timeout_seconds.max(0.1));
            let asks = standbys.iter().map(|name| async move {
                let error = match estate.instance(name) {
                    Some(standby) => match hadome_observer::retry_stream(standby, timeout).await {
                        Ok(detail) => return format!("`{name}`: {detail}"),
                        Err(error) => error.to_string(),
                    },
                    None => "no such instance".to_owned(),
                };
                format!(
                    "`{name}`: not asked ({error}); it retries on its own within wal_retrieve_retry_interval"
                )
            });
            Ok(futures_util::future::join_all(asks).await.join("; "))
        }
        Step::Compare { target, expected } => {
            let target = instance(target)?;
            let timeout = Duration::from_secs_f64(estate.probe_timeout_seconds.max(10.0));
            let counts = rows.current_counts(&target.conninfo, timeout).await?;
            compare(expected, &counts)
        }
        Step::Promote(name) => {
            let target = instance(name)?;
            if target.commands.debian.is_some() {
                let ran = debian::run(estate, target, &debian::Action::Promote).await?;
                return Ok(
                    then_wait(estate, target, ran.to_string(), Effect::AcceptsWrites).await?,
                );
            }
            hadome_observer::promote(target, PROMOTE_TIMEOUT)
                .await
                .map_err(StepError::Session)?;
            // The observer's promote returns once the instance is out of recovery; the probe
            // confirms it as every other step's effect is confirmed.
            wait_for(estate, target, Effect::AcceptsWrites).await?;
            Ok("pg_promote() returned; it accepts writes".to_owned())
        }
        Step::RebootHost(host) => {
            let command = host_argv(
                estate,
                host,
                "reboot_command",
                |commands| &commands.reboot,
                None,
            )?;
            let declared = estate
                .host(host)
                .ok_or_else(|| StepError::NoHost(host.clone()))?;
            // Its effect is a new boot: the boot id before, the reboot, then its facts read
            // again until they name another boot.
            let before = boot_id(declared).await;
            let ran = run_argv(&command).await?;
            let back = came_back(declared, before.as_deref()).await?;
            Ok(format!("{ran}; it came back: boot {back}"))
        }
        Step::ReloadNginx(name) => {
            let nginx = estate
                .web
                .nginx(name)
                .ok_or_else(|| StepError::NoNginx(name.clone()))?;
            // Never worse: a configuration nginx refuses is never loaded.
            let tested = run_argv(&nginx.test_command).await?;
            let reloaded = run_argv(&nginx.reload_command).await?;
            Ok(format!("{tested}; {reloaded}"))
        }
        Step::TakeImage { host, image } => {
            let image = image
                .as_deref()
                .ok_or_else(|| StepError::ImageNotNamed(host.clone()))?;
            let command = host_argv(
                estate,
                host,
                "image_command",
                |commands| &commands.image,
                Some(image),
            )?;
            Ok(run_argv(&command).await?.to_string())
        }
        Step::VerifyImage { host, image } => {
            let image = image
                .as_deref()
                .ok_or_else(|| StepError::ImageNotNamed(host.clone()))?;
            let command = host_argv(
                estate,
                host,
                "verify_image_command",
                |commands| &commands.verify_image,
                Some(image),
            )?;
            Ok(run_argv(&command).await?.to_string())
        }
        Step::DeleteHost(host) => {
            let command = host_argv(
                estate,
                host,
                "delete_command",
                |commands| &commands.delete,
                None,
            )?;
            Ok(run_argv(&command).await?.to_string())
        }
        Step::Member { member, op } => {
            Ok(crate::member::execute_member(estate, member, *op).await?)
        }
        Step::DeletePath { host, path } => Err(StepError::Unsupported(format!(
            "delete-data {host}:{}",
            path.display()
        ))),
        Step::SetSynchronousStandbyNames {
            instance: name,
            value,
        } => {
            let target = instance(name)?;
            hadome_observer::set_synchronous_standby_names(target, value, SETTING_TIMEOUT)
                .await
                .map_err(StepError::Session)?;
            Ok(if value.is_empty() {
                "writes do not wait for a standby until one follows".to_owned()
            } else {
                "commits wait for a follower again".to_owned()
            })
        }
    }
}

/// The `primary_conninfo` `target` streams from `source` with: the source's
/// `replication_conninfo` (else its `conninfo`), without a password, under the target's
/// `application_name`.
pub(crate) fn standby_conninfo(source: &Instance, target: &Instance) -> Result<String, StepError> {
    let conninfo = source
        .commands
        .replication_conninfo
        .as_deref()
        .unwrap_or(&source.conninfo);
    hadome_observer::for_standby(conninfo, &target.application_name)
        .ok_or_else(|| StepError::Conninfo(source.name.clone()))
}

/// The host's command `key` with `{host}` (and `{image}`) filled.
fn host_argv(
    estate: &Estate,
    host: &str,
    key: &'static str,
    command: fn(&HostCommands) -> &Option<Vec<String>>,
    image: Option<&str>,
) -> Result<Vec<String>, StepError> {
    let declared = estate
        .host(host)
        .ok_or_else(|| StepError::NoHost(host.to_owned()))?;
    let argv = command(&declared.commands)
        .as_ref()
        .ok_or_else(|| StepError::NoHostCommand {
            host: host.to_owned(),
            key,
        })?;
    Ok(fill(
        argv,
        &Placeholders {
            host: Some(host),
            image,
            ..Placeholders::default()
        },
    ))
}

/// `ran`, once `effect` holds: `ran; it streams`.
async fn then_wait(
    estate: &Estate,
    target: &Instance,
    ran: String,
    effect: Effect,
) -> Result<String, WaitError> {
    wait_for(estate, target, effect).await?;
    Ok(format!("{ran}; {}", effect.awaited()))
}

/// The restored tables against those recorded when the copy was made.
fn compare(
    expected: &BTreeMap<String, u64>,
    counts: &BTreeMap<String, u64>,
) -> Result<String, StepError> {
    let mut problems = Vec::new();
    for (table, recorded) in expected {
        match counts.get(table) {
            None => problems.push(format!("`{table}` is missing")),
            Some(found) if found != recorded => problems.push(format!(
                "`{table}` has {found} rows, {recorded} when the copy was made"
            )),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "{} tables and {} rows, as recorded when the copy was made",
            expected.len(),
            expected.values().sum::<u64>()
        ))
    } else {
        Err(StepError::Differs(problems))
    }
}

/// How long a rebooted host may take to come back with a new boot id.
pub(crate) const REBOOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The host's current boot id, when its facts can be read.
async fn boot_id(host: &hadome_core::host::Host) -> Option<String> {
    let probe = hadome_observer::host::observe_host(host, hadome_observer::host::LEAST_BOUND).await;
    match probe.outcome {
        hadome_core::host::HostOutcome::Answered(facts) => Some(facts.boot_id),
        hadome_core::host::HostOutcome::Unreachable { .. } => None,
    }
}

/// Reads `host`'s facts until they name a boot other than `before` (any boot, when `before` was
/// unknown), within [`REBOOT_TIMEOUT`]; the new boot id.
async fn came_back(
    host: &hadome_core::host::Host,
    before: Option<&str>,
) -> Result<String, StepError> {
    use hadome_observer::poll::{poll_until, Poll, Polled};
    let deadline = tokio::time::Instant::now() + REBOOT_TIMEOUT;
    let polled = poll_until(deadline, std::time::Duration::from_millis(250), |_| async {
        let probe =
            hadome_observer::host::observe_host(host, hadome_observer::host::LEAST_BOUND).await;
        Ok::<_, std::convert::Infallible>(match probe.outcome {
            hadome_core::host::HostOutcome::Answered(facts)
                if Some(facts.boot_id.as_str()) != before =>
            {
                Poll::Done(facts.boot_id)
            }
            hadome_core::host::HostOutcome::Answered(facts) => {
                Poll::NotYet(format!("still boot {}", facts.boot_id))
            }
            hadome_core::host::HostOutcome::Unreachable { error } => Poll::NotYet(error),
        })
    })
    .await;
    match polled {
        Ok(Polled::Done(boot)) => Ok(boot),
        Ok(Polled::TimedOut { last_seen }) => Err(StepError::NotBack {
            host: host.name.clone(),
            waited: REBOOT_TIMEOUT,
            last_seen,
        }),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_copy_is_compared_table_by_table() {
        let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs
                .iter()
                .map(|(table, rows)| ((*table).to_owned(), *rows))
                .collect()
        };
        let expected = counts(&[("public.a", 3), ("public.b", 4)]);
        assert_eq!(
            compare(&expected, &counts(&[("public.a", 3), ("public.b", 4)])).unwrap(),
            "2 tables and 7 rows, as recorded when the copy was made"
        );
        assert_eq!(
            compare(&expected, &counts(&[("public.a", 2), ("public.c", 4)]))
                .unwrap_err()
                .to_string(),
            "`public.a` has 2 rows, 3 when the copy was made; `public.b` is missing"
        );
    }
}
