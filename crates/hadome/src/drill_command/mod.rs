//! `hadome drill`: the incidents rehearsed on the lab, narrated step by step, each step checked.
//!
//! The incidents' own remedy was rehearsal ("drills on a dev cluster"). A drill replays one
//! incident on a lab of real servers through the real `hadome` binary, as a person would type it:
//! each step is a narration, a `hadome …` command with the exit code and the words it must show,
//! a poll of a command until it shows something (bounded by a deadline), or the daemon started,
//! watched and stopped. The drill stops at the first step that did not behave and exits 1; it
//! exits 0 only when every step behaved as expected. The lab and the daemon are torn down by PID
//! at the end, on failure and on Ctrl-C too; the lab's journal is kept beside its directory first
//! (`DIR.drill-journal.sqlite`), so that `hadome timeline --journal` tells the drill's story.
//!
//! The drills themselves are data (`catalogue.rs`); this module runs them.

mod catalogue;
mod kept_journal;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::process::{Child, Command};

use crate::error::CliError;
use crate::exit_code;
use crate::output::{print_json, print_text, Paint};

pub(crate) use catalogue::DRILLS;

/// One incident's rehearsal.
pub(crate) struct Drill {
    /// Its name (`hadome drill NAME`).
    pub(crate) name: &'static str,
    /// The incident it replays (a letter of `../shared/incidents/README.md`) and its one line.
    pub(crate) incident: &'static str,
    /// What it shows, in a sentence.
    pub(crate) summary: &'static str,
    /// Its steps, in order.
    pub(crate) steps: fn() -> Vec<Step>,
}

/// What must be seen of a command.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shows {
    /// Nothing in particular.
    Anything,
    /// Each of these words somewhere in its output.
    All(&'static [&'static str]),
    /// One line with all of these words.
    Line(&'static [&'static str]),
    /// None of these words anywhere in its output (a positive control: the finding is gone).
    NoneOf(&'static [&'static str]),
    /// A number right after `after` (`"boots": 7`) that is at least `at_least`.
    AtLeast { after: &'static str, at_least: u64 },
}

impl Shows {
    fn holds(self, output: &str) -> bool {
        match self {
            Shows::Anything => true,
            Shows::All(words) => words.iter().all(|word| output.contains(word)),
            Shows::Line(words) => output
                .lines()
                .any(|line| words.iter().all(|word| line.contains(word))),
            Shows::NoneOf(words) => !words.iter().any(|word| output.contains(word)),
            Shows::AtLeast { after, at_least } => output.match_indices(after).any(|(at, _)| {
                let digits: String = output[at + after.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<u64>().is_ok_and(|number| number >= at_least)
            }),
        }
    }

    fn describe(self) -> String {
        match self {
            Shows::Anything => String::new(),
            Shows::All(words) => format!(", showing {}", quoted(words)),
            Shows::Line(words) => format!(", with a line showing {}", quoted(words)),
            Shows::NoneOf(words) => format!(", showing none of {}", quoted(words)),
            Shows::AtLeast { after, at_least } => {
                format!(", showing `{after}` at least {at_least}")
            }
        }
    }
}

fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|word| format!("\"{word}\""))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// One step of a drill. In `args`, `{dir}` is the drill's lab directory and `{config}` its
/// estate file.
pub(crate) enum Step {
    /// Narration.
    Say(&'static str),
    /// Run `hadome ARGS`; it must exit with one of `exit` and show `shows`.
    Run {
        args: &'static [&'static str],
        exit: &'static [u8],
        shows: Shows,
    },
    /// Run `hadome ARGS` again and again until it shows `shows`, for at most `within` seconds.
    Await {
        args: &'static [&'static str],
        shows: Shows,
        within: u64,
    },
    /// Start `hadome daemon --config {config}`, its log beside the lab.
    StartDaemon,
    /// Wait until the daemon's log shows `shows`, for at most `within` seconds; then print it.
    AwaitDaemonLog { shows: Shows, within: u64 },
    /// Stop the daemon (SIGTERM by its PID, then wait).
    StopDaemon,
}

/// How one step went, for the report.
#[derive(Debug, Serialize)]
struct StepReport {
    step: String,
    expected: String,
    ok: bool,
    exit: Option<i32>,
    output: String,
}

#[derive(Debug, Serialize)]
struct DrillReport {
    version: u32,
    drill: &'static str,
    incident: &'static str,
    dir: PathBuf,
    /// Where the lab's journal was kept, once the lab was torn down.
    journal: Option<PathBuf>,
    ok: bool,
    steps: Vec<StepReport>,
}

/// `hadome drill list`.
pub(crate) fn list(json: bool) -> Result<u8, CliError> {
    if json {
        let drills: Vec<serde_json::Value> = DRILLS
            .iter()
            .map(|drill| {
                serde_json::json!({
                    "name": drill.name,
                    "incident": drill.incident,
                    "summary": drill.summary,
                    "steps": (drill.steps)().len(),
                })
            })
            .collect();
        print_json(&serde_json::json!({ "version": 1, "drills": drills }));
    } else {
        let mut text = String::new();
        for drill in DRILLS {
            text.push_str(&format!(
                "{:<10} {}\n{:<10} {}\n",
                drill.name, drill.incident, "", drill.summary
            ));
        }
        text.push_str("\nRun one: hadome drill NAME --dir /tmp/drill\n");
        print_text(&text);
    }
    Ok(exit_code::OK)
}

/// `hadome drill NAME --dir D`.
pub(crate) async fn run(name: &str, dir: PathBuf, json: bool) -> Result<u8, CliError> {
    let Some(drill) = DRILLS.iter().find(|drill| drill.name == name) else {
        let names: Vec<&str> = DRILLS.iter().map(|drill| drill.name).collect();
        return Err(CliError::Usage {
            message: format!("there is no drill `{name}` (drills: {})", names.join(", ")),
            hint: hadome_core::suggest::closest(name, &names).map(|closest| {
                format!("did you mean `{closest}`? `hadome drill list` describes each")
            }),
        });
    };
    if dir.exists()
        && dir
            .read_dir()
            .map_or(true, |mut entries| entries.next().is_some())
    {
        return Err(CliError::Usage {
            message: format!(
                "`{}` exists and is not empty: a drill brings up its own lab there",
                dir.display()
            ),
            hint: Some("give a new directory, e.g. --dir /tmp/drill-s512".to_owned()),
        });
    }
    let hadome = std::env::current_exe().map_err(|error| CliError::Internal {
        message: format!("cannot find hadome's own binary: {error}"),
        hint: None,
    })?;
    let mut runner = Runner {
        hadome,
        log: dir.with_extension("drill-daemon.log"),
        dir,
        daemon: None,
        journal: None,
        paint: Paint::for_stdout(),
        json,
        reports: Vec::new(),
    };
    if !json {
        print_text(&format!(
            "drill {} — incident {}\n{}\n(The incidents are retold in the incidents README, ../shared/incidents/README.md; `hadome drill list` names each drill's.)\n",
            drill.name, drill.incident, drill.summary
        ));
    }
    let steps = (drill.steps)();
    let total = steps
        .iter()
        .filter(|step| !matches!(step, Step::Say(_)))
        .count();
    let outcome = tokio::select! {
        ok = runner.steps(&steps) => Ok(ok),
        _ = tokio::signal::ctrl_c() => Err(()),
    };
    runner.tear_down().await;
    let ok = matches!(outcome, Ok(true));
    if json {
        print_json(&DrillReport {
            version: 1,
            drill: drill.name,
            incident: drill.incident,
            dir: runner.dir.clone(),
            journal: runner.journal.clone(),
            ok,
            steps: runner.reports,
        });
    } else {
        let behaved = runner.reports.iter().filter(|report| report.ok).count();
        let verdict = if ok {
            runner.paint.green("passed")
        } else {
            runner.paint.red("FAILED")
        };
        print_text(&format!(
            "\ndrill {}: {verdict}: {behaved} of {total} steps behaved as expected\n",
            drill.name
        ));
        if let Some(journal) = &runner.journal {
            print_text(&format!(
                "its journal is kept: hadome timeline --journal {}\n",
                journal.display()
            ));
        }
    }
    match outcome {
        Err(()) => Err(CliError::Interrupted {
            message: format!("drill `{}` interrupted; its lab was torn down", drill.name),
        }),
        Ok(true) => Ok(exit_code::OK),
        Ok(false) => Ok(exit_code::FAILURE),
    }
}

/// Runs a drill's steps and keeps what it started.
struct Runner {
    hadome: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    daemon: Option<Child>,
    /// The lab's journal, kept beside the lab directory at the end.
    journal: Option<PathBuf>,
    paint: Paint,
    json: bool,
    reports: Vec<StepReport>,
}

/// The longest any one command of a drill may take.
const COMMAND_BOUND: Duration = Duration::from_secs(300);

impl Runner {
    /// Runs `steps` in order; false at the first that did not behave.
    async fn steps(&mut self, steps: &[Step]) -> bool {
        for step in steps {
            if !self.step(step).await {
                return false;
            }
        }
        true
    }

    fn fill(&self, args: &[&str]) -> Vec<String> {
        let dir = self.dir.display().to_string();
        let config = self.dir.join("estate.toml").display().to_string();
        args.iter()
            .map(|arg| arg.replace("{dir}", &dir).replace("{config}", &config))
            .collect()
    }

    fn say(&self, text: &str) {
        if !self.json {
            print_text(&format!("{text}\n"));
        }
    }

    fn record(
        &mut self,
        step: String,
        expected: String,
        ok: bool,
        exit: Option<i32>,
        output: String,
    ) -> bool {
        if !self.json {
            let mark = if ok {
                self.paint.green("✓")
            } else {
                self.paint.red("✗")
            };
            // Short lines: the binary's own path (in the lab estate's commands) shown as `hadome`.
            let binary = self.hadome.display().to_string();
            let shown: String = output
                .replace(&binary, "hadome")
                .lines()
                .map(|line| format!("    {line}\n"))
                .collect();
            print_text(&format!("{shown}  {mark} {expected}\n"));
        }
        self.reports.push(StepReport {
            step,
            expected,
            ok,
            exit,
            output,
        });
        ok
    }

    async fn step(&mut self, step: &Step) -> bool {
        match step {
            Step::Say(text) => {
                self.say(&format!("\n# {text}"));
                true
            }
            Step::Run { args, exit, shows } => {
                let args = self.fill(args);
                let line = format!("$ hadome {}", args.join(" "));
                self.say(&line);
                let (code, output) = self.hadome(&args).await;
                let expected = format!(
                    "expected: exit {}{}",
                    exit.iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(" or "),
                    shows.describe()
                );
                let ok = code.is_some_and(|code| exit.iter().any(|want| i32::from(*want) == code))
                    && shows.holds(&output);
                let got = match code {
                    Some(code) => format!("; got exit {code}"),
                    None => "; it did not finish".to_owned(),
                };
                self.record(
                    line,
                    format!("{expected}{}", if ok { String::new() } else { got }),
                    ok,
                    code,
                    output,
                )
            }
            Step::Await {
                args,
                shows,
                within,
            } => {
                let args = self.fill(args);
                let line = format!(
                    "$ hadome {}   (again until it shows what is expected)",
                    args.join(" ")
                );
                self.say(&line);
                let deadline = Instant::now() + Duration::from_secs(*within);
                let expected = format!("expected within {within} s{}", shows.describe());
                loop {
                    let (code, output) = self.hadome(&args).await;
                    if shows.holds(&output) {
                        return self.record(line, expected, true, code, output);
                    }
                    if Instant::now() >= deadline {
                        return self.record(
                            line,
                            format!("{expected}; it never did"),
                            false,
                            code,
                            output,
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Step::StartDaemon => {
                let config = self.dir.join("estate.toml");
                let line = format!("$ hadome daemon --config {} &", config.display());
                self.say(&line);
                let started = std::fs::File::create(&self.log).and_then(|log| {
                    let errors = log.try_clone()?;
                    Command::new(&self.hadome)
                        .arg("daemon")
                        .arg("--config")
                        .arg(&config)
                        .env("NO_COLOR", "1")
                        .stdin(Stdio::null())
                        .stdout(log)
                        .stderr(errors)
                        .kill_on_drop(true)
                        .spawn()
                });
                match started {
                    Ok(child) => {
                        self.daemon = Some(child);
                        self.record(
                            line,
                            "expected: the daemon runs".to_owned(),
                            true,
                            None,
                            String::new(),
                        )
                    }
                    Err(error) => self.record(
                        line,
                        format!("expected: the daemon runs; it could not start: {error}"),
                        false,
                        None,
                        String::new(),
                    ),
                }
            }
            Step::AwaitDaemonLog { shows, within } => {
                let line = "(the daemon's log)".to_owned();
                let deadline = Instant::now() + Duration::from_secs(*within);
                let expected = format!("expected within {within} s{}", shows.describe());
                loop {
                    let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                    if shows.holds(&log) {
                        self.say(&line);
                        return self.record(line, expected, true, None, log);
                    }
                    if Instant::now() >= deadline {
                        self.say(&line);
                        return self.record(
                            line,
                            format!("{expected}; it never did"),
                            false,
                            None,
                            log,
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Step::StopDaemon => {
                let line = "(the daemon is stopped)".to_owned();
                self.say(&line);
                let stopped = self.stop_daemon().await;
                self.record(
                    line,
                    "expected: it stops".to_owned(),
                    stopped,
                    None,
                    String::new(),
                )
            }
        }
    }

    /// Runs `hadome ARGS`, bounded; its exit code (None: killed at the bound, or not started)
    /// and its stdout and stderr.
    async fn hadome(&self, args: &[String]) -> (Option<i32>, String) {
        let child = Command::new(&self.hadome)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(error) => return (None, format!("could not start hadome: {error}")),
        };
        match tokio::time::timeout(COMMAND_BOUND, child.wait_with_output()).await {
            Ok(Ok(output)) => {
                let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&output.stderr));
                (output.status.code(), text)
            }
            Ok(Err(error)) => (None, format!("hadome failed: {error}")),
            // The child is killed by PID as its handle drops.
            Err(_) => (None, format!("no end within {} s", COMMAND_BOUND.as_secs())),
        }
    }

    /// Stops the daemon by its PID: SIGTERM, then SIGKILL after 10 s.
    async fn stop_daemon(&mut self) -> bool {
        let Some(mut child) = self.daemon.take() else {
            return true;
        };
        if let Some(pid) = child.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(status) => status.is_ok(),
            Err(_) => {
                let _ = child.kill().await;
                false
            }
        }
    }

    /// Stops the daemon, keeps the lab's journal, and brings the lab down (by PID, through
    /// `hadome lab down`); removes the daemon's log.
    async fn tear_down(&mut self) {
        self.stop_daemon().await;
        self.journal = kept_journal::keep(&self.dir);
        if self.dir.join("lab.json").exists() {
            let args = vec![
                "lab".to_owned(),
                "down".to_owned(),
                "--dir".to_owned(),
                self.dir.display().to_string(),
            ];
            let (code, output) = self.hadome(&args).await;
            if code != Some(0) {
                eprintln!(
                    "warning: `hadome lab down --dir {}` did not finish cleanly: {output}",
                    self.dir.display()
                );
            }
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
