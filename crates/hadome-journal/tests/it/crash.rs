//! A process that dies between intent and outcome: its intent stays open for the next one.
//!
//! The test binary runs itself as the child (the env var names the journal), the child records an
//! intent and a step and aborts: no destructor runs, the connection is never closed, the WAL is
//! never checkpointed, as with kill -9.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use hadome_core::action::Action;
use hadome_core::fact::Timestamp;
use hadome_core::finding::Verdict;
use hadome_journal::{Journal, OpenIntent, Override};

/// Set in the child's environment: the journal it records in before aborting.
const CHILD_JOURNAL: &str = "HADOME_JOURNAL_TEST_ABORTING_CHILD";

/// What the child writes on stdout before the intent's id (after libtest's `test … ...`).
const INTENT_LINE: &str = "hadome-journal-test-intent=";

/// The child's half: does nothing unless run as the child by the test below.
#[test]
fn aborting_child_records_an_intent_and_a_step() {
    let Some(path) = std::env::var_os(CHILD_JOURNAL) else {
        return;
    };
    let mut journal = Journal::open(Path::new(&path)).unwrap();
    let id = journal
        .record_intent(
            Timestamp(2_000),
            &Action::Rebuild {
                target: "db-1".into(),
                source: "db-3".into(),
            },
            Verdict::NeedsHuman,
            &["stop db-1".into(), "pg_basebackup db-1 from db-3".into()],
            &[Override {
                rule: "stale-facts".into(),
                reason: "db-1 is gone".into(),
            }],
            "alice",
        )
        .unwrap();
    journal
        .record_step(id, Timestamp(2_100), "stop db-1", true, "stopped")
        .unwrap();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{INTENT_LINE}{id}").unwrap();
    stdout.flush().unwrap();
    std::process::abort();
}

#[test]
fn an_intent_recorded_by_a_process_that_aborted_before_its_outcome_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    // An earlier intent, closed: not to be reported.
    let mut journal = Journal::open(&path).unwrap();
    let closed = journal
        .record_intent(
            Timestamp(1_000),
            &Action::Stop {
                target: "db-2".into(),
            },
            Verdict::Allow,
            &["stop db-2".into()],
            &[],
            "bot",
        )
        .unwrap();
    journal
        .record_outcome(closed, Timestamp(1_500), true, "stopped")
        .unwrap();
    drop(journal);

    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::aborting_child_records_an_intent_and_a_step",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_JOURNAL, &path)
        .stdin(Stdio::null())
        .output()
        .expect("the test binary runs as the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the child aborted: {}\n{stdout}\n{stderr}",
        output.status
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(6),
            "killed by SIGABRT: {stdout}\n{stderr}"
        );
    }
    let id: i64 = stdout
        .lines()
        .find_map(|line| Some(line.split_once(INTENT_LINE)?.1))
        .unwrap_or_else(|| panic!("the child names its intent:\n{stdout}\n{stderr}"))
        .trim()
        .parse()
        .unwrap();

    let mut journal = Journal::open(&path).unwrap();
    assert_eq!(
        journal.open_intents().unwrap(),
        [OpenIntent {
            id,
            at: Timestamp(2_000),
            action_text: "rebuild db-1 from db-3".into(),
            action_name: "rebuild".into(),
            target: "db-1".into(),
            source: Some("db-3".into()),
            plan: vec!["stop db-1".into(), "pg_basebackup db-1 from db-3".into()],
            actor: "alice".into(),
            steps_done: vec!["stop db-1".into()],
        }]
    );
    let kinds: Vec<String> = journal
        .events_since(Timestamp(2_000))
        .unwrap()
        .into_iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(kinds, ["intent", "override", "step"]);

    journal
        .record_outcome(id, Timestamp(9_000), false, "abandoned: its process died")
        .unwrap();
    assert_eq!(journal.open_intents().unwrap(), []);
}
