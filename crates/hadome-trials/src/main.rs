//! `hadome-trials`: randomized fault trials (`bench/trials.sh`, `docs/trials.md`); the
//! command line over the library.
//!
//! Each seed draws a topology and a schedule of 1–3 faults ([`schedule`]); each trial runs it on
//! a fresh lab with `hadome daemon` supervising under a write load ([`trial`]) and checks that no
//! acknowledged commit was lost, no two members accepted writes at once, no data directory was
//! replaced without a journaled intent, the trial ended with one primary or an escalation that
//! says why, and the daemon kept within its budgets ([`verdict`]). Exit status 0 only when every
//! check of every trial held; a failed trial prints its seed and schedule, and `--seeds N` runs it
//! again.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hadome_trials::{report, schedule, trial};

/// Randomized fault trials of hadome's daemon on lab estates.
///
/// Each seed picks a topology (trio, misskey, mackerel) and 1–3 faults at random moments
/// (crash, hang, hang-postmaster, resume, cut/heal, isolate/rejoin, stall, stop of a standby,
/// kill -9 of the daemon, a second fault during a failover), runs them under a write load with
/// the daemon supervising, heals, settles and checks. Exits 0 only when every check of every
/// trial holds; a failed trial names its seed, which reproduces its schedule.
#[derive(Debug, Parser)]
#[command(name = "hadome-trials", version)]
struct Args {
    /// The seeds: N, A-B, or a comma list of them (1-100; 7; 1,5,9-12).
    #[arg(long, env = "SEEDS", default_value = "1-3")]
    seeds: String,
    /// The hadome binary the daemon and the lab's commands run.
    #[arg(long, env = "HADOME_BIN", default_value = "target/debug/hadome")]
    hadome: PathBuf,
    /// Where each trial's lab and logs go (`seed-N/`); failed trials' logs stay there.
    #[arg(long, env = "SCRATCH", default_value = "target/trials")]
    scratch: PathBuf,
    /// Also write the markdown results here.
    #[arg(long, env = "RESULTS")]
    results: Option<PathBuf>,
    /// Seconds from the last fault to the heal.
    #[arg(long, env = "HOLD_S", default_value_t = 4.0)]
    hold: f64,
    /// Seconds the settle may take at most.
    #[arg(long, env = "SETTLE_S", default_value_t = 60.0)]
    settle: f64,
    /// Seconds the one primary must stay the one.
    #[arg(long, env = "STABLE_S", default_value_t = 3.0)]
    stable: f64,
    /// Print each seed's plan and stop, running nothing.
    #[arg(long)]
    plan_only: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seeds = match schedule::parse_seeds(&args.seeds) {
        Ok(seeds) => seeds,
        Err(error) => {
            eprintln!("hadome-trials: {error}");
            return ExitCode::from(2);
        }
    };
    let plans: Vec<schedule::Plan> = match seeds
        .iter()
        .map(|seed| trial::plan(*seed))
        .collect::<Result<_, String>>()
    {
        Ok(plans) => plans,
        Err(error) => {
            eprintln!("hadome-trials: {error}");
            return ExitCode::from(2);
        }
    };
    if args.plan_only {
        for plan in &plans {
            println!("{}", plan.describe());
        }
        return ExitCode::SUCCESS;
    }
    if !args.hadome.is_file() {
        eprintln!(
            "hadome-trials: no hadome binary at {}: build it (`cargo build -p hadome`) or name one with --hadome",
            args.hadome.display()
        );
        return ExitCode::from(2);
    }
    let hadome = std::fs::canonicalize(&args.hadome).unwrap_or(args.hadome.clone());
    let scratch = match std::fs::create_dir_all(&args.scratch)
        .and_then(|()| std::fs::canonicalize(&args.scratch))
    {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!(
                "hadome-trials: cannot use {} for the trials' labs: {error}",
                args.scratch.display()
            );
            return ExitCode::from(2);
        }
    };
    let settings = trial::Settings {
        hadome,
        scratch,
        hold: Duration::from_secs_f64(args.hold),
        settle: Duration::from_secs_f64(args.settle),
        stable: Duration::from_secs_f64(args.stable),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hadome-trials: no async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let results = runtime.block_on(async {
        tokio::select! {
            results = report::run_all(&plans, &settings) => Some(results),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    // Dropping the runtime ends the tasks; a trial interrupted above tore its lab down when its
    // future was dropped.
    drop(runtime);
    let Some(results) = results else {
        eprintln!("hadome-trials: interrupted");
        return ExitCode::from(130);
    };
    let markdown = report::markdown(&results);
    println!("{markdown}");
    if let Some(path) = &args.results {
        if let Err(error) = std::fs::write(path, &markdown) {
            eprintln!("hadome-trials: writing {}: {error}", path.display());
            return ExitCode::from(1);
        }
    }
    if results.iter().all(report::TrialResult::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
