//! The `hadome` binary: parse the command line, run the command, map the outcome to an exit code.
//!
//! Everything else lives in the libraries (`hadome-core`, `hadome-lab`) and in the command modules
//! here, which turn their answers into tables or JSON.

mod ack_command;
mod backup_command;
mod backup_jobs;
mod cli;
mod daemon;
mod error;
mod estate_command;
mod exit_code;
mod held;
mod lab_command;
mod notify;
mod output;
mod run_command;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{BackupCommand, Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2, our `exit_code::USAGE`.
    let cli = Cli::parse();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            error.report();
            ExitCode::from(error.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Check { config, json } => estate_command::check(config, json.json).await,
        Command::Status { config, json } => estate_command::status(config, json.json).await,
        Command::Ask {
            action,
            target,
            from,
            config,
            json,
        } => estate_command::ask(action, target, from, config, json.json).await,
        Command::Run {
            action,
            target,
            from,
            flags,
            config,
            json,
        } => {
            run_command::run(run_command::RunOptions {
                action,
                target,
                from,
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
        Command::Backup(command) => match command {
            BackupCommand::Run { name, config, json } => {
                backup_command::run(name, config, json.json).await
            }
            BackupCommand::Verify { name, config, json } => {
                backup_command::verify(name, config, json.json).await
            }
            BackupCommand::RestoreTest { name, config, json } => {
                backup_command::restore_test(name, config, json.json).await
            }
        },
        Command::Lab(command) => lab_command::run(command).await,
    }
}
