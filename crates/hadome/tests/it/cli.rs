//! The `hadome lab` command line, run as the real binary.

use std::time::Duration;

use hadome_lab::Lab;
use serde_json::Value;

use crate::support::{eventually, run_hadome, scratch, show, value};

fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("JSON on stdout ({error}):\n{}", show(output)))
}

/// Brings `misskey` up with the CLI and tears it down even if an assertion fails.
struct CliLab {
    dir: std::path::PathBuf,
    _scratch: tempfile::TempDir,
}

impl Drop for CliLab {
    fn drop(&mut self) {
        if self.dir.join("lab.json").exists() {
            let output = run_hadome(&["lab", "down", "--dir", self.dir.to_str().unwrap()], &[]);
            assert!(
                output.status.success() || std::thread::panicking(),
                "{}",
                show(&output)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misskey_comes_up_with_four_nodes_and_a_row_reaches_db_4_through_the_cascade() {
    let scratch = scratch();
    let lab = CliLab {
        dir: scratch.path().join("lab"),
        _scratch: scratch,
    };
    let dir = lab.dir.to_str().unwrap();

    let up = run_hadome(&["lab", "up", "misskey", "--dir", dir], &[]);
    assert!(up.status.success(), "{}", show(&up));
    let text = String::from_utf8_lossy(&up.stdout);
    assert!(text.contains("lab `misskey` is up"), "{text}");

    let status = run_hadome(&["lab", "status", "--dir", dir, "--json"], &[]);
    assert!(status.status.success(), "{}", show(&status));
    let status = stdout_json(&status);
    assert_eq!(status["version"], 1);
    let nodes = status["nodes"].as_array().unwrap();
    let shape: Vec<(String, String, Value)> = nodes
        .iter()
        .map(|node| {
            (
                node["name"].as_str().unwrap().to_owned(),
                node["role"].as_str().unwrap().to_owned(),
                node["upstream"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("db-1".to_owned(), "primary".to_owned(), Value::Null),
            ("db-2".to_owned(), "standby".to_owned(), Value::from("db-1")),
            ("db-3".to_owned(), "standby".to_owned(), Value::from("db-1")),
            ("db-4".to_owned(), "standby".to_owned(), Value::from("db-3")),
        ]
    );
    for node in nodes {
        assert_eq!(node["process"], "running", "{node}");
        assert_eq!(node["host"], "127.0.0.1");
        assert!(node["pid"].as_i64().is_some_and(|pid| pid > 1), "{node}");
        assert!(
            node["data_dir"]
                .as_str()
                .is_some_and(|path| path.starts_with(dir)),
            "{node}"
        );
    }

    // A client, as any application would: the host and port from the status.
    let port = |name: &str| {
        nodes.iter().find(|node| node["name"] == name).unwrap()["port"]
            .as_u64()
            .unwrap() as u16
    };
    let primary = hadome_lab::connect_tcp("db-1", port("db-1"), Duration::from_secs(5))
        .await
        .unwrap();
    primary
        .batch_execute("CREATE TABLE probe (marker text); INSERT INTO probe VALUES ('to-db-4')")
        .await
        .unwrap();
    let cascade = hadome_lab::connect_tcp("db-4", port("db-4"), Duration::from_secs(5))
        .await
        .unwrap();
    eventually(
        "the row to reach db-4 through db-3",
        Duration::from_secs(30),
        || async {
            let found = cascade
                .query_opt("SELECT marker FROM probe", &[])
                .await
                .ok()
                .flatten();
            found
                .map(|row| row.get::<_, String>(0))
                .filter(|marker| marker == "to-db-4")
        },
    )
    .await;

    // A fault through the CLI, then `lab down`: no PID of the lab survives, no directory stays.
    let fault = run_hadome(&["lab", "fault", "--dir", dir, "hang", "db-3"], &[]);
    assert!(fault.status.success(), "{}", show(&fault));
    assert!(
        String::from_utf8_lossy(&fault.stdout).contains("SIGSTOP"),
        "{}",
        show(&fault)
    );
    let pids = Lab::open(&lab.dir).unwrap().pids();
    assert!(pids.len() >= 9, "four instances and the proxy: {pids:?}");
    let down = run_hadome(&["lab", "down", "--dir", dir], &[]);
    assert!(down.status.success(), "{}", show(&down));
    let alive: Vec<i32> = pids
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        })
        .collect();
    assert!(
        alive.is_empty(),
        "alive after lab down (a hung node included): {alive:?}"
    );
    assert!(!lab.dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_exits_1_when_commits_are_missing_and_0_when_none_are() {
    let scratch = scratch();
    let lab = CliLab {
        dir: scratch.path().join("lab"),
        _scratch: scratch,
    };
    let dir = lab.dir.to_str().unwrap();
    let acks = lab.dir.with_file_name("acks");
    let acks = acks.to_str().unwrap();
    assert!(run_hadome(&["lab", "up", "trio", "--dir", dir], &[])
        .status
        .success());
    assert!(
        run_hadome(&["lab", "fault", "--dir", dir, "cut", "db-1", "db-3"], &[])
            .status
            .success()
    );
    let load = run_hadome(
        &[
            "lab",
            "load",
            "--dir",
            dir,
            "--node",
            "db-1",
            "--rate",
            "200",
            "--duration",
            "1",
            "--ack-log",
            acks,
            "--json",
        ],
        &[],
    );
    assert!(load.status.success(), "{}", show(&load));
    let acknowledged = stdout_json(&load)["load"]["acknowledged"].as_u64().unwrap();
    let attempted = stdout_json(&load)["load"]["attempted"].as_u64().unwrap();
    assert!(acknowledged > 0, "{}", show(&load));

    let synchronous = run_hadome(
        &[
            "lab",
            "verify",
            "--dir",
            dir,
            "--node",
            "db-2",
            "--ack-log",
            acks,
        ],
        &[],
    );
    assert_eq!(synchronous.status.code(), Some(0), "{}", show(&synchronous));
    assert!(String::from_utf8_lossy(&synchronous.stdout)
        .contains(&format!("db-2 has all {acknowledged}")));
    let cut = run_hadome(
        &[
            "lab",
            "verify",
            "--dir",
            dir,
            "--node",
            "db-3",
            "--ack-log",
            acks,
            "--json",
        ],
        &[],
    );
    assert_eq!(cut.status.code(), Some(1), "{}", show(&cut));
    assert_eq!(
        stdout_json(&cut)["verify"]["missing"].as_u64(),
        Some(acknowledged)
    );

    // The primary really has them, read back with the lab's own connection.
    let count = value(
        &Lab::open(&lab.dir).unwrap().connect("db-1").await.unwrap(),
        "db-1",
        "SELECT count(*)::text FROM hadome_lab_load",
    )
    .await;
    // A commit still unanswered when the load stopped may have committed: at least every
    // acknowledged one, at most every attempted one.
    let count: u64 = count.unwrap().parse().unwrap();
    assert!(
        (acknowledged..=attempted).contains(&count),
        "{acknowledged} <= {count} <= {attempted}"
    );
}

#[test]
fn bad_input_is_exit_2_with_a_hint_and_changes_nothing() {
    let scratch = scratch();
    let dir = scratch.path().join("lab");
    let dir_text = dir.to_str().unwrap();

    let unknown = run_hadome(&["lab", "up", "miskey", "--dir", dir_text], &[]);
    assert_eq!(unknown.status.code(), Some(2), "{}", show(&unknown));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("error: `miskey` is neither a built-in topology"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: did you mean `misskey`?"), "{stderr}");
    assert!(!dir.exists(), "nothing was created");

    let topology = scratch.path().join("bad.toml");
    std::fs::write(
        &topology,
        "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\nupstream = \"c\"\n",
    )
    .unwrap();
    let bad_file = run_hadome(
        &["lab", "up", topology.to_str().unwrap(), "--dir", dir_text],
        &[],
    );
    assert_eq!(bad_file.status.code(), Some(2), "{}", show(&bad_file));
    let stderr = String::from_utf8_lossy(&bad_file.stderr);
    assert!(
        stderr.contains("bad.toml:5:"),
        "the line is named: {stderr}"
    );
    assert!(stderr.contains("`c`, which is not a node"), "{stderr}");

    let no_lab = run_hadome(
        &["lab", "status", "--dir", scratch.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(no_lab.status.code(), Some(2), "{}", show(&no_lab));
    assert!(String::from_utf8_lossy(&no_lab.stderr).contains("holds no lab estate"));

    let arity = run_hadome(&["lab", "fault", "--dir", dir_text, "cut", "db-1"], &[]);
    assert_eq!(arity.status.code(), Some(2), "{}", show(&arity));
    assert!(String::from_utf8_lossy(&arity.stderr).contains("two nodes"));

    let no_such_fault = run_hadome(&["lab", "fault", "--dir", dir_text, "explode", "db-1"], &[]);
    assert_eq!(
        no_such_fault.status.code(),
        Some(2),
        "clap's own usage error: {}",
        show(&no_such_fault)
    );

    let missing = run_hadome(
        &["lab", "up", "pair", "--dir", dir_text],
        &[("HADOME_PG_BINDIR", "/nonexistent")],
    );
    assert_eq!(missing.status.code(), Some(1), "{}", show(&missing));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("`initdb` was not found in `/nonexistent`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("apt-get install postgresql-15"),
        "the install command is named: {stderr}"
    );
    assert!(!dir.exists(), "nothing was created");

    // As root, PostgreSQL runs as `postgres`, which must be able to reach the lab directory.
    let running_as_root =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
    if running_as_root {
        let closed = scratch.path().join("closed");
        std::fs::create_dir(&closed).unwrap();
        std::fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let inside = closed.join("lab");
        let unreachable = run_hadome(
            &["lab", "up", "pair", "--dir", inside.to_str().unwrap()],
            &[],
        );
        assert_eq!(unreachable.status.code(), Some(2), "{}", show(&unreachable));
        let stderr = String::from_utf8_lossy(&unreachable.stderr);
        assert!(
            stderr.contains("the `postgres` user cannot reach"),
            "{stderr}"
        );
        assert!(stderr.contains("chmod o+x"), "{stderr}");
        assert!(!inside.exists(), "nothing was created");
    }

    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("precious"), "data").unwrap();
    let occupied = run_hadome(&["lab", "up", "pair", "--dir", dir_text], &[]);
    assert_eq!(occupied.status.code(), Some(2), "{}", show(&occupied));
    assert_eq!(
        std::fs::read_to_string(dir.join("precious")).unwrap(),
        "data",
        "untouched"
    );
}

#[test]
fn help_teaches_the_faults_and_topologies_lists_the_built_ins() {
    let help = run_hadome(&["lab", "fault", "--help"], &[]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for fault in hadome_lab::FAULT_NAMES {
        assert!(text.contains(fault), "`{fault}` in fault --help:\n{text}");
    }
    assert!(
        text.contains("HADOME_LAB_DIR"),
        "the env var is shown:\n{text}"
    );

    let list = run_hadome(&["lab", "topologies"], &[]);
    assert!(list.status.success(), "{}", show(&list));
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("db-4 <- db-3"), "{text}");
    assert!(text.contains("db002 <- db001"), "{text}");
}

#[test]
fn check_and_ask_refuse_bad_input_with_exit_2_and_a_fix() {
    let scratch = scratch();
    let missing = scratch.path().join("nowhere.toml");
    let output = run_hadome(&["check", "--config", missing.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nowhere.toml"),
        "{}",
        show(&output)
    );

    let typo = scratch.path().join("estate.toml");
    std::fs::write(
        &typo,
        "[[instance]]\nname = \"db-1\"\nconninfo = \"host=127.0.0.1 port=1\"\ndata_dir = \"/srv/db-1\"\n\n[[cluster]]\nname = \"main\"\nmembers = [\"db-1\"]\nfreshnes_seconds = 5\n",
    )
    .unwrap();
    let output = run_hadome(&["status", "--config", typo.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("estate.toml:9"), "the line: {stderr}");
    assert!(
        stderr.contains("did you mean `freshness_seconds`?"),
        "{stderr}"
    );
    assert!(
        !scratch.path().join("hadome.sqlite").exists(),
        "a refused config opens no journal"
    );

    // `HADOME_CONFIG` stands for `--config` (the README's words), and `--config` wins over it.
    let from_env = run_hadome(&["status"], &[("HADOME_CONFIG", typo.to_str().unwrap())]);
    assert_eq!(from_env.status.code(), Some(2), "{}", show(&from_env));
    assert!(
        String::from_utf8_lossy(&from_env.stderr).contains("estate.toml:9"),
        "{}",
        show(&from_env)
    );
    let both = run_hadome(
        &["check", "--config", missing.to_str().unwrap()],
        &[("HADOME_CONFIG", typo.to_str().unwrap())],
    );
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("nowhere.toml"),
        "{}",
        show(&both)
    );

    let config = typo.to_str().unwrap();
    let no_source = run_hadome(&["ask", "rebuild", "db-1", "--config", config], &[]);
    assert_eq!(no_source.status.code(), Some(2), "{}", show(&no_source));
    assert!(
        String::from_utf8_lossy(&no_source.stderr).contains("needs `--from SOURCE`"),
        "{}",
        show(&no_source)
    );
    let stray_source = run_hadome(
        &[
            "ask", "promote", "db-1", "--from", "db-2", "--config", config,
        ],
        &[],
    );
    assert_eq!(
        stray_source.status.code(),
        Some(2),
        "{}",
        show(&stray_source)
    );
    let unknown_action = run_hadome(&["ask", "reboot", "db-1", "--config", config], &[]);
    assert_eq!(
        unknown_action.status.code(),
        Some(2),
        "{}",
        show(&unknown_action)
    );
}

/// A target the estate lacks is a usage error (exit 2) naming the known ones and the closest,
/// before anything is probed or journaled: not a `deny` under `stale-facts` (issue 15).
#[test]
fn ask_and_run_about_an_unknown_target_exit_2_with_the_closest_name() {
    let scratch = scratch();
    let estate = scratch.path().join("estate.toml");
    std::fs::write(
        &estate,
        "[[instance]]\nname = \"db-1\"\nconninfo = \"host=127.0.0.1 port=1\"\ndata_dir = \"/srv/db-1\"\n\n\
         [[instance]]\nname = \"db-2\"\nconninfo = \"host=127.0.0.1 port=1\"\ndata_dir = \"/srv/db-2\"\n",
    )
    .unwrap();
    let config = estate.to_str().unwrap();
    let cases: [&[&str]; 4] = [
        &["ask", "rebuild", "db-3", "--from", "db-1"],
        &["ask", "rebuild", "db-2", "--from", "db1"],
        &["run", "stop", "db-3"],
        &["ask", "reboot", "pg-z"],
    ];
    for words in cases {
        let mut args = words.to_vec();
        args.extend(["--config", config]);
        let output = run_hadome(&args, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{words:?}: {}",
            show(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("the estate has no "), "{words:?}: {stderr}");
        let known = if words[1] == "reboot" {
            "known: "
        } else {
            "known: db-1, db-2"
        };
        assert!(stderr.contains(known), "{words:?}: {stderr}");
    }
    let typo = run_hadome(
        &[
            "ask", "rebuild", "db-2", "--from", "db1", "--config", config,
        ],
        &[],
    );
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("did you mean `db-1`?"),
        "{}",
        show(&typo)
    );
    assert!(
        !scratch.path().join("hadome.sqlite").exists(),
        "an unknown name opens no journal"
    );

    // With --json the error is JSON too, on stderr, with the same exit code; clap's as well.
    let as_json = |args: &[&str]| {
        let output = run_hadome(args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", show(&output));
        assert!(output.stdout.is_empty(), "{}", show(&output));
        let error: Value = serde_json::from_slice(&output.stderr)
            .unwrap_or_else(|error| panic!("stderr is not JSON ({error}): {}", show(&output)));
        assert_eq!(error["version"], 1, "{error}");
        assert_eq!(error["exit"], 2, "{error}");
        error
    };
    let unknown = as_json(&["ask", "stop", "db-3", "--config", config, "--json"]);
    assert_eq!(
        unknown["error"],
        "the estate has no instance or etcd member `db-3`"
    );
    assert!(
        unknown["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("known: db-1, db-2"),
        "{unknown}"
    );
    let clap = as_json(&["ask", "rebuld", "db-1", "--config", config, "--json"]);
    assert!(
        clap["error"]
            .as_str()
            .unwrap_or_default()
            .contains("rebuld"),
        "{clap}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_prints_an_aligned_verdict_for_people_and_versioned_json_for_scripts() {
    let lab = crate::support::lab("trio").await;
    let config = lab.dir().join("estate.toml");
    let config = config.to_str().unwrap();
    let human = run_hadome(
        &[
            "ask", "rebuild", "db-3", "--from", "db-1", "--config", config,
        ],
        &[],
    );
    assert_eq!(human.status.code(), Some(0), "{}", show(&human));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.starts_with("ALLOW-AFTER  rebuild db-3 from db-1\n"),
        "{text}"
    );
    assert!(
        text.contains("  first: preserve `db-3`'s data directory"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour when stdout is not a terminal: {text:?}"
    );

    let stop = run_hadome(&["ask", "stop", "db-2", "--config", config, "--json"], &[]);
    assert_eq!(
        stop.status.code(),
        Some(3),
        "the only synchronous standby: {}",
        show(&stop)
    );
    let json = stdout_json(&stop);
    assert_eq!(json["version"], 1);
    assert_eq!(json["verdict"], "needs-human");
    assert_eq!(json["findings"][0]["rule"], "quorum");
    for key in ["rule", "severity", "subject", "message"] {
        assert!(json["findings"][0][key].is_string(), "`{key}` in {json:#}");
    }

    let status = run_hadome(&["status", "--config", config, "--json"], &[]);
    assert_eq!(status.status.code(), Some(0), "{}", show(&status));
    let members = stdout_json(&status)["clusters"][0]["members"].clone();
    assert_eq!(members[0]["role"], "primary");
    assert_eq!(
        members[0]["streaming"],
        Value::Null,
        "a primary has no receiver"
    );
    assert_eq!(members[1]["streaming"], true);
    assert_eq!(
        members[2]["lag_bytes"].as_u64().map(|lag| lag < 1 << 20),
        Some(true),
        "{members:#}"
    );
}
