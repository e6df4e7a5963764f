//! The page rendered from a hand-built pass and a scratch journal: a `trio` after its failover
//! (db-1 unreachable, db-2 promoted, db-3 following), a pause, a backup with no copy, and text
//! from every source (PostgreSQL's error, the supervisor, the journal) that must come out escaped.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use hadome_core::action::Action;
use hadome_core::fact::{
    Facts, History, InstanceState, KeepaliveSettings, LastKnown, Probe, ProbeOutcome,
    ReceiverStatus, Timestamp, WalReceiver,
};
use hadome_core::finding::Verdict;
use hadome_core::position::{DataPosition, Lsn};
use hadome_core::supervise::{ClusterReport, ClusterState};
use hadome_journal::Journal;

use super::super::Snapshot;
use super::{gather, render};

const NOW: i64 = 1_767_225_600_000;
const HOSTILE: &str = "<script>alert(\"x\")</script> & 'co'";

fn position(timeline: u32, lsn: u64) -> DataPosition {
    DataPosition {
        system_identifier: 7,
        timeline,
        lsn: Lsn(lsn),
        history: Some(Vec::new()),
    }
}

fn answered(in_recovery: bool, lsn: u64) -> Probe {
    let state = InstanceState {
        in_recovery,
        position: position(2, lsn),
        receive_lsn: None,
        replay_lsn: None,
        last_replay_at: in_recovery.then_some(Timestamp(NOW - 3_000)),
        postmaster_started_at: Timestamp(NOW - 3_600_000),
        wal_segment_size_bytes: 16 << 20,
        oldest_wal_segment: Some(1),
        recovery_target_timeline: "latest".to_owned(),
        primary_conninfo: String::new(),
        wal_receiver: in_recovery.then(|| WalReceiver {
            status: ReceiverStatus::parse("streaming"),
            received_timeline: 2,
            flushed_lsn: Some(Lsn(lsn)),
            last_message_at: None,
            last_message_age_ms: Some(100),
            sender: None,
            slot_name: None,
        }),
        replication: Vec::new(),
        slots: Vec::new(),
        unapplied_settings: Vec::new(),
        keepalive: KeepaliveSettings::UNKNOWN,
        synchronous: Default::default(),
    };
    Probe {
        observed_at: Timestamp(NOW),
        outcome: ProbeOutcome::Answered(Box::new(state)),
    }
}

fn estate(dir: &Path) -> hadome_core::estate::Estate {
    let mut text = format!(
        "[journal]\npath = \"{}\"\n[probe]\ntimeout_seconds = 0.5\ninterval_seconds = 0.5\n",
        dir.join("journal.sqlite").display()
    );
    for name in ["db-1", "db-2", "db-3"] {
        text.push_str(&format!(
            "\n[[instance]]\nname = \"{name}\"\nconninfo = \"host=127.0.0.1 port=5432\"\n\
             data_dir = \"/srv/{name}\"\nhost = \"localhost\"\napplication_name = \"{name}\"\n"
        ));
    }
    text.push_str(&format!(
        "\n[[cluster]]\nname = \"trio\"\nmembers = [\"db-1\", \"db-2\", \"db-3\"]\nfailover = \"auto\"\n\
         \n[[backup]]\nname = \"nightly\"\ntype = \"pg_dump\"\ninstance = \"db-2\"\npath = \"{}\"\n",
        dir.join("nightly-*.dump").display()
    ));
    hadome_config::parse(&text, &dir.join("estate.toml")).expect("the test's estate parses")
}

/// db-1 hung and fenced (last seen on timeline 1), db-2 the primary on timeline 2, db-3 a KiB
/// behind; the supervisor healthy again; the failover journaled with its steps; the old
/// primary's cluster paused; the backup listed with no copy.
fn after_a_failover(dir: &Path) -> (Snapshot, Journal) {
    let estate = estate(dir);
    let mut facts = Facts::default();
    facts.instances.insert(
        "db-1".to_owned(),
        Probe {
            observed_at: Timestamp(NOW),
            outcome: ProbeOutcome::unreachable(format!("connection refused {HOSTILE}")),
        },
    );
    facts
        .instances
        .insert("db-2".to_owned(), answered(false, 0x3_0000_0400));
    facts
        .instances
        .insert("db-3".to_owned(), answered(true, 0x3_0000_0000));
    facts.backups.insert(
        "nightly".to_owned(),
        hadome_core::backup::BackupObservation {
            observed_at: Timestamp(NOW),
            copies: Ok(Vec::new()),
        },
    );
    let mut history = History::default();
    history.last_known.insert(
        "db-1".to_owned(),
        LastKnown {
            position: position(1, 0x3_0000_0000),
            was_primary: true,
            was_streaming: false,
            observed_at: Timestamp(NOW - 40_000),
            last_replay_at: None,
            synchronous: Default::default(),
            keepalive: Default::default(),
        },
    );
    let snapshot = Snapshot {
        estate,
        facts,
        history,
        now: Timestamp(NOW),
        taken: Instant::now(),
        reports: vec![ClusterReport {
            cluster: "trio".to_owned(),
            primary: Some("db-2".to_owned()),
            state: ClusterState::Healthy,
            detail: format!("`db-2` answers {HOSTILE}"),
        }],
        pass_seconds: 0.012,
        probes: BTreeMap::new(),
    };
    let mut journal = Journal::open(&snapshot.estate.journal_path).expect("a scratch journal");
    let at = Timestamp(NOW - 30_000);
    let promote = Action::Promote {
        target: "db-2".to_owned(),
    };
    let plan = ["fence `db-1`".to_owned(), "promote `db-2`".to_owned()];
    let intent = journal
        .record_intent(at, &promote, Verdict::Allow, &plan, &[], "daemon")
        .unwrap();
    journal
        .record_step(
            intent,
            at,
            "fence `db-1`",
            true,
            "every process of `db-1` killed",
        )
        .unwrap();
    journal
        .record_step(intent, at, "promote `db-2`", true, HOSTILE)
        .unwrap();
    journal
        .record_outcome(intent, at, true, "`db-2` is the primary")
        .unwrap();
    journal
        .pause(at, "trio", &format!("failover budget spent {HOSTILE}"))
        .unwrap();
    (snapshot, journal)
}

/// The start tag of the element whose `id` is `id`.
fn tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!(" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in:\n{html}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

/// The value of attribute `name` of start tag `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    &tag[at..at + tag[at..].find('"').unwrap()]
}

#[test]
fn the_page_shows_a_failover_and_escapes_every_text() {
    let dir = tempfile::tempdir().unwrap();
    let (snapshot, journal) = after_a_failover(dir.path());
    let board = gather(
        &snapshot,
        &snapshot.facts,
        &journal,
        Path::new("/etc/hadome/<estate>.toml"),
    )
    .unwrap();
    let html = render::page(&board);

    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"2\">"));
    assert!(!html.contains("<script"), "nothing unescaped:\n{html}");
    assert!(
        !html.contains("src=") && !html.contains("<link"),
        "no external asset"
    );
    assert!(html.contains("/etc/hadome/&lt;estate&gt;.toml"));
    let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;";
    // PostgreSQL's error (in its row and in its finding), the supervisor's detail, a step's
    // detail, a pause's reason.
    assert_eq!(html.matches(escaped).count(), 5, "{html}");

    let cluster = tag(&html, "cluster-trio");
    assert_eq!(attribute(cluster, "data-state"), "healthy");
    assert_eq!(attribute(cluster, "data-primary"), "db-2");

    let old = tag(&html, "member-db-1");
    assert_eq!(attribute(old, "data-role"), "unreachable");
    assert_eq!(attribute(old, "data-reachable"), "false");
    assert_eq!(attribute(old, "data-severity"), "deny");
    assert!(attribute(old, "class").contains("crit"));
    assert!(html.contains(&format!("UNREACHABLE: connection refused {escaped}")));
    let new = tag(&html, "member-db-2");
    assert_eq!(attribute(new, "data-role"), "primary");
    assert_eq!(attribute(new, "data-severity"), "none");
    assert!(attribute(new, "class").contains("ok"));
    let follower = tag(&html, "member-db-3");
    assert_eq!(attribute(follower, "data-role"), "standby");
    assert!(
        html.contains("<td class=\"num\">1.0 KiB</td>"),
        "db-3's lag"
    );

    let failover = tag(&html, "intent-1");
    assert_eq!(attribute(failover, "data-action"), "promote");
    assert_eq!(attribute(failover, "data-target"), "db-2");
    assert_eq!(attribute(failover, "data-actor"), "daemon");
    assert_eq!(attribute(failover, "data-outcome"), "ok");
    assert!(html.contains("✓ fence `db-1`"));
    // The daemon's one failover of the hour is spent.
    assert!(html.contains("data-failovers=\"1\" data-failovers-allowed=\"1\""));
    assert!(html.contains("Resume with <code>hadome ack trio</code>"));

    assert!(html.contains(
        "<tr class=\"finding crit\" data-rule=\"stale-facts\" data-subject=\"db-1\" data-severity=\"deny\">"
    ));
    let backup = tag(&html, "backup-nightly");
    assert_eq!(attribute(backup, "data-severity"), "deny");
    assert!(html.contains("backup `nightly` has no copy"));
}

#[test]
fn before_the_first_pass_the_page_says_so_and_reloads() {
    let html = render::waiting(2);
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"2\">"));
    assert!(html.contains("id=\"waiting\""));
    let html = render::failed("journal `<j>` is locked", 2);
    assert!(html.contains("journal `&lt;j&gt;` is locked"));
}
