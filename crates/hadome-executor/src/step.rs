//! [`Step`]: one typed thing the executor does to a server, and the sentence that names it.
//!
//! The sentences are journaled as the intent's plan and each step's record, printed by `hadome
//! run` and logged by the daemon; tests and people grep them, so they change only on purpose.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run the instance's `stop_command`.
    Stop(String),
    /// Move the instance's data directory aside (never delete it).
    Preserve {
        /// The instance whose data directory it is.
        instance: String,
        /// The data directory, as the estate names it.
        data_dir: PathBuf,
    },
    /// Run the target's `rebuild_command`, then wait until it streams.
    Rebuild {
        /// The instance rebuilt.
        target: String,
        /// The instance it is rebuilt from (`{source}`, `{source_conninfo}`).
        source: String,
    },
    /// Run the instance's `start_command`, then wait until it answers.
    Start(String),
    /// `pg_promote()`, then wait until it accepts writes.
    Promote(String),
    /// Run the instance's `fence_command` (its `stop_command` when it has none): it must accept
    /// no more writes, even when hung.
    Fence(String),
    /// Run the backup's `restore_command` on `copy` (the newest copy, verified by the
    /// assessment), which creates the target's data directory and leaves it stopped.
    Restore {
        /// The `[[backup]]` restored.
        backup: String,
        /// The instance whose data directory the command creates.
        target: String,
        /// The copy restored (`{copy}`); `None` when no copy was verified, and the step fails.
        copy: Option<PathBuf>,
    },
    /// Count the target's rows in every table and compare them with those recorded when the copy
    /// was made (in the dump's own snapshot).
    Compare {
        /// The instance counted.
        target: String,
        /// Rows per table (`schema.table`) when the copy was made.
        expected: BTreeMap<String, u64>,
    },
    /// Ask standbys to retry their stream at once (`pg_reload_conf()`), after their primary was
    /// restarted in place. Advisory: a standby that cannot be asked retries on its own within
    /// `wal_retrieve_retry_interval`, so the step reports each answer and never fails.
    RetryStreams(Vec<String>),
    /// Run the target's `follow_command`: it repoints the standby at its new upstream (a
    /// failover's followers).
    Follow {
        /// The standby repointed.
        target: String,
        /// Its new upstream (`{source}`, `{source_conninfo}`).
        source: String,
    },
    /// Put a data directory that [`Step::Preserve`] moved aside back in place, after the step
    /// that was to replace it failed (what that step left is moved aside first). The executor
    /// adds it itself: a repair never leaves a member without its data (issue 18).
    PutBack {
        /// The instance whose data directory it is.
        instance: String,
        /// The data directory, as the estate names it.
        data_dir: PathBuf,
        /// Where it was moved aside.
        aside: PathBuf,
    },
    /// Set `synchronous_standby_names` on the instance (`ALTER SYSTEM`, then a reload) and wait
    /// until it runs with the value (a failover's new primary).
    SetSynchronousStandbyNames {
        /// The instance whose setting changes.
        instance: String,
        /// The new value; empty: no synchronous standby.
        value: String,
    },
    /// Run the host's `reboot_command` (`{host}`). The step ends when the command exits 0: that
    /// the host came back with a new boot id is not verified here, since it needs the host's
    /// facts (`hadome host-facts`), which the caller reads (left to the integration of issue 12).
    RebootHost(String),
    /// Run an nginx instance's `test_command` (`nginx -t`), then, only when it passes, its
    /// `reload_command` (issue 14). A reload's effect (new workers) is not probed here: the
    /// routes' probes (`hadome gate`) are the check that matters after it.
    ReloadNginx(String),
    /// Run the host's `image_command` (`{host}`, `{image}`): take an image of it named `image`.
    TakeImage {
        /// The host.
        host: String,
        /// The image's name (`hadome_core::host::final_image_name`); `None` until the caller
        /// names it (`hadome run` does, at its pass's `now`), and then the step fails.
        image: Option<String>,
    },
    /// Run the host's `verify_image_command` (`{host}`, `{image}`): it exits 0 only when the image
    /// is complete and readable. A failed verify stops the plan, so nothing after it (a deletion)
    /// is done.
    VerifyImage {
        /// The host.
        host: String,
        /// The image's name, as [`Step::TakeImage`] took it; `None`: the step fails.
        image: Option<String>,
    },
    /// Run the host's `delete_command` (`{host}`). Its plan takes and verifies a final image
    /// first ([`crate::plan`]).
    DeleteHost(String),
    /// Delete a path on a host: not supported by `hadome run` yet ([`crate::check_configured`]
    /// refuses it, and [`crate::execute`] fails it), so nothing is ever removed through it.
    DeletePath {
        /// The host.
        host: String,
        /// The path.
        path: PathBuf,
    },
    /// Run one of a quorum member's commands (`[[etcd]]`), verified by probing the member for a
    /// stop or a start.
    Member {
        /// The member.
        member: String,
        /// What is done.
        op: crate::member::MemberOp,
    },
}

impl Step {
    /// [`Step::describe`], saying how the estate has it done: a Debian cluster's steps are
    /// hadome's built-in actions (`actions = "debian"`), not its argv commands.
    pub fn describe_in(&self, estate: &hadome_core::estate::Estate) -> String {
        let text = self.describe();
        let (name, how) = match self {
            Step::Stop(name) => (name, "(its stop_command)"),
            Step::Start(name) => (name, "(its start_command)"),
            Step::Fence(name) => (name, "(its fence_command)"),
            Step::Rebuild { target, .. } => (target, "(its rebuild_command)"),
            Step::Promote(name) => (name, "with pg_promote()"),
            _ => return text,
        };
        match estate
            .instance(name)
            .and_then(|instance| instance.commands.debian.as_ref())
        {
            Some(cluster) if how.starts_with('(') => {
                text.replace(how, &format!("(built in: {})", cluster.unit()))
            }
            Some(cluster) => text.replace(
                how,
                &format!(
                    "with pg_ctlcluster {} {} promote",
                    cluster.version, cluster.name
                ),
            ),
            None => text,
        }
    }

    /// The step as one sentence: what is done, with what, and what is waited for.
    pub fn describe(&self) -> String {
        match self {
            Step::Stop(instance) => format!("stop `{instance}` (its stop_command)"),
            Step::Preserve { instance, data_dir } => {
                format!(
                    "preserve `{instance}`'s data directory: move `{}` aside",
                    data_dir.display()
                )
            }
            Step::Rebuild { target, source } => {
                format!("rebuild `{target}` from `{source}` (its rebuild_command), then wait until it streams")
            }
            Step::Start(instance) => {
                format!("start `{instance}` (its start_command), then wait until it answers")
            }
            Step::Promote(instance) => {
                format!("promote `{instance}` with pg_promote(), then wait until it accepts writes")
            }
            Step::Fence(instance) => format!("fence `{instance}` (its fence_command)"),
            Step::Restore {
                backup,
                target,
                copy,
            } => format!(
                "restore `{backup}`'s copy {} onto `{target}` (the backup's restore_command)",
                copy.as_ref().map_or_else(
                    || "(the newest, as verified)".to_owned(),
                    |copy| format!("`{}`", copy.display())
                )
            ),
            Step::Compare { target, expected } => format!(
                "compare `{target}`'s tables with the {} tables and {} rows recorded when the copy was made",
                expected.len(),
                expected.values().sum::<u64>()
            ),
            Step::RetryStreams(standbys) => format!(
                "ask `{}` to retry their stream at once (pg_reload_conf(); synchronous commits wait for them)",
                standbys.join("`, `")
            ),
            Step::Follow { target, source } => format!("`{target}` follows `{source}`"),
            Step::PutBack {
                instance,
                data_dir,
                aside,
            } => format!(
                "put `{instance}`'s data directory back: move `{}` to `{}`",
                aside.display(),
                data_dir.display()
            ),
            Step::SetSynchronousStandbyNames { value, .. } => {
                format!("synchronous_standby_names = '{value}'")
            }
            Step::RebootHost(host) => format!("reboot `{host}` (its reboot_command)"),
            Step::ReloadNginx(nginx) => format!(
                "test nginx `{nginx}`'s configuration (its test_command), then reload it (its reload_command)"
            ),
            Step::TakeImage { host, image } => format!(
                "take an image of `{host}`, {} (its image_command)",
                shown_image(image.as_deref())
            ),
            Step::VerifyImage { host, image } => format!(
                "verify {} of `{host}` (its verify_image_command); nothing after it is done unless it passes",
                shown_image(image.as_deref())
            ),
            Step::DeleteHost(host) => format!("delete `{host}` (its delete_command)"),
            Step::DeletePath { host, path } => format!(
                "delete `{host}:{}` (not supported by `hadome run` yet)",
                path.display()
            ),
            Step::Member { member, op } => op.describe(member),
        }
    }
}

/// An image's name as a step shows it.
fn shown_image(image: Option<&str>) -> String {
    image.map_or_else(
        || "(not named yet)".to_owned(),
        |image| format!("`{image}`"),
    )
}
