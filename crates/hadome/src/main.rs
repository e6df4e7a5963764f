//! The `hadome` binary: parse the command line, run the command, map the outcome to an exit code.
//!
//! Everything else lives in the libraries (`hadome-core`, `hadome-lab`) and in the command modules
//! here, which turn their answers into tables or JSON.

// Base modules: shared by the commands, and importing none of them.
mod actor;
mod assessment;
mod backup_facts;
mod cli;
mod cli_drill;
mod cli_host;
mod cli_init;
mod cli_lab;
mod cli_timeline;
mod clock;
mod coordination;
mod daemon_log;
mod error;
mod exit_code;
mod failpoint;
mod held;
mod journal_pool;
mod notify;
mod output;
mod pass;
mod rows;
mod timeline;
mod views;

// Command modules: one per command, over the base modules and the libraries, never each other.
mod ack_command;
mod advise_command;
mod backup_command;
mod daemon;
mod drill_command;
mod estate_command;
mod gate_command;
mod host_facts_command;
mod init_command;
mod lab_command;
mod run_command;
mod systemd_command;
mod timeline_command;

// The layering above, kept by a test.
#[cfg(test)]
mod layering;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::assessment::ActionWords;
use crate::cli::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => return clap_error(&error),
    };
    let as_json = wants_json(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => return clap_error(&error),
    };
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            error.report(as_json);
            ExitCode::from(error.exit_code())
        }
    }
}

/// Whether the (sub)command given has `--json`: its errors are then JSON too.
fn wants_json(matches: &clap::ArgMatches) -> bool {
    let mut current = matches;
    loop {
        if matches!(current.try_get_one::<bool>("json"), Ok(Some(true))) {
            return true;
        }
        match current.subcommand() {
            Some((_, sub)) => current = sub,
            None => return false,
        }
    }
}

/// A command line clap refuses: its own words and exit 2 (`exit_code::USAGE`), as JSON on
/// stderr when `--json` is among the arguments; `--help` and `--version` print as usual.
fn clap_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !informational && std::env::args().any(|argument| argument == "--json") {
        let rendered = error.render().to_string();
        let mut lines = rendered.lines().filter(|line| !line.trim().is_empty());
        let headline = lines
            .next()
            .unwrap_or("the command line is not valid")
            .trim_start_matches("error: ")
            .to_owned();
        // clap's own tips ("a similar value exists: 'rebuild'"), then where to read more.
        let mut hint: Vec<String> = lines
            .filter_map(|line| line.trim().strip_prefix("tip: "))
            .map(str::to_owned)
            .collect();
        hint.push("see `hadome --help` or `hadome COMMAND --help`".to_owned());
        error::report_json(&headline, &[], Some(&hint.join("; ")), exit_code::USAGE);
        return ExitCode::from(exit_code::USAGE);
    }
    let _ = error.print();
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(exit_code::USAGE))
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Check { config, json } => estate_command::check(config, json.json).await,
        Command::Status { config, json } => estate_command::status(config, json.json).await,
        Command::Gate {
            routes,
            within,
            config,
            json,
        } => gate_command::gate(routes, within, config, json.json).await,
        Command::Advise {
            member,
            config,
            json,
        } => advise_command::advise(&member, config, json.json).await,
        Command::Ask {
            action,
            target,
            from,
            no_reboot,
            api,
            config,
            json,
        } => {
            let words = ActionWords {
                action,
                target,
                from,
                no_reboot,
            };
            match (api, config) {
                (Some(api), _) => estate_command::ask_api(words, &api, json.json).await,
                (None, Some(config)) => {
                    estate_command::ask(words, cli::ConfigFile { config }, json.json).await
                }
                (None, None) => Err(CliError::Usage {
                    message: "`hadome ask` needs `--config FILE` or `--api URL`".to_owned(),
                    hint: Some("hadome ask rebuild db-3 --from db-1 --config estate.toml".to_owned()),
                }),
            }
        }
        Command::Run {
            action,
            target,
            from,
            no_reboot,
            flags,
            config,
            json,
        } => {
            run_command::run(run_command::RunOptions {
                words: ActionWords {
                    action,
                    target,
                    from,
                    no_reboot,
                },
                config,
                dry_run: flags.dry_run,
                overrides: flags.overrides,
                reason: flags.reason,
                json: json.json,
            })
            .await
        }
        Command::Ack {
            target,
            by,
            note,
            config,
            json,
        } => ack_command::ack(target, by, note, config, json.json),
        Command::Daemon { config, once } => daemon::run(config, once).await,
        Command::Backup(command) => backup_command::run(command).await,
        Command::Lab(command) => lab_command::run(command).await,
        Command::Drill(crate::cli_drill::DrillArgs { name, dir, json }) => match (name.as_str(), dir) {
            ("list", _) => drill_command::list(json.json),
            (name, Some(dir)) => drill_command::run(name, dir, json.json).await,
            (name, None) => Err(CliError::Usage {
                message: format!("`hadome drill {name}` needs `--dir DIR`: the lab directory the drill brings up (new or empty)"),
                hint: Some(format!("hadome drill {name} --dir /tmp/drill-{name}")),
            }),
        },
        Command::Init(arguments) => init_command::run(arguments).await,
        Command::HostFacts(arguments) => host_facts_command::run(arguments).await,
        Command::Systemd(command) => systemd_command::run(command),
        Command::Timeline(arguments) => timeline_command::run(arguments),
    }
}
