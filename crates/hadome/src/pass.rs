//! One observation pass, shared by every command that judges the estate (`check`, `status`, `ask`,
//! `run`, `backup …`): load the estate, observe every instance concurrently (each probe bounded by
//! the probe timeout), the backups as deep as asked, the declared hosts' facts, the etcd members,
//! the routes (probed), the services (running or not) and each nginx's configuration (read and
//! linted); record the facts in the journal (so a copy that stops answering keeps its last known
//! position, and each member's health as the `quorum` rule judges it), and read the journal's
//! history back, with `now` for the pure core.

use std::time::Instant;

use hadome_core::action::Action;
use hadome_core::estate::Estate;
use hadome_core::fact::{Facts, History, Timestamp};

use crate::backup_facts::{observe_backups, reading_for, BackupReading};
use crate::cli::ConfigFile;
use crate::clock::wall_clock;
use crate::error::CliError;

/// One observation pass and what the journal remembers.
pub(crate) struct Pass {
    pub(crate) estate: Estate,
    pub(crate) facts: Facts,
    pub(crate) history: History,
    pub(crate) now: Timestamp,
    pub(crate) journal: hadome_journal::Journal,
    pub(crate) observe_seconds: f64,
}

impl Pass {
    /// The pass as `views` reads it.
    pub(crate) fn seen(&self) -> crate::views::Seen<'_> {
        crate::views::Seen {
            estate: &self.estate,
            facts: &self.facts,
            history: &self.history,
            now: self.now,
            journal: &self.journal,
        }
    }
}

/// One pass: the instances probed and, concurrently, the backups read as deep as `reading` says.
pub(crate) async fn observe(config: &ConfigFile, reading: BackupReading) -> Result<Pass, CliError> {
    let estate = hadome_config::load(&config.config)?;
    observe_estate(estate, reading, false).await
}

/// The pass that judges `action` (`ask`, `run`): every name the action uses checked first (an
/// unknown one is a usage error with the closest known name, before anything is probed), the
/// backups read as deep as the action needs, and each nginx's `test_command` (`nginx -t`) run
/// too for a reload.
pub(crate) async fn observe_for(config: &ConfigFile, action: &Action) -> Result<Pass, CliError> {
    let estate = hadome_config::load(&config.config)?;
    if let Some(unknown) = action.unknown_names(&estate).into_iter().next() {
        return Err(CliError::Usage {
            message: unknown.message(),
            hint: Some(unknown.hint()),
        });
    }
    let test_nginx = matches!(action, Action::Reload { .. });
    observe_estate(estate, reading_for(action), test_nginx).await
}

pub(crate) async fn observe_estate(
    estate: Estate,
    reading: BackupReading,
    test_nginx: bool,
) -> Result<Pass, CliError> {
    let mut journal = hadome_journal::Journal::open(&estate.journal_path)?;
    let started = Instant::now();
    // nginx's lint needs to know which services run, so it follows the services' probe; routes
    // are probed meanwhile.
    let web = async {
        let services = hadome_observer::web::observe_services(&estate).await;
        let nginx = hadome_observer::web::observe_nginx(&estate, &services, test_nginx).await;
        (services, nginx)
    };
    let (mut facts, (backups, storage), hosts, members, routes, (services, nginx)) = tokio::join!(
        hadome_observer::observe(&estate),
        observe_backups(&estate, reading),
        hadome_observer::host::observe_hosts(&estate),
        hadome_observer::etcd::observe_members(&estate),
        hadome_observer::route::observe_routes(&estate),
        web
    );
    facts.backups = backups;
    facts.storage = storage;
    facts.hosts = hosts;
    facts.members = members;
    facts.routes = routes;
    facts.services = services;
    facts.nginx = nginx;
    let observe_seconds = started.elapsed().as_secs_f64();
    let now = wall_clock();
    journal.record_facts(&facts)?;
    // The members' health as the `quorum` rule judges it, so that the journal's `last_healthy`
    // and down episodes ("down for 14 min", `hadome advise`) agree with the rule.
    let healthy = hadome_core::interlock::member_health(&estate, &facts, now)
        .into_iter()
        .map(|(name, health)| (name, health.healthy))
        .collect();
    journal.record_member_health(now, &healthy)?;
    let history = journal.history()?;
    Ok(Pass {
        estate,
        facts,
        history,
        now,
        journal,
        observe_seconds,
    })
}
