//! The dashboard (`GET /`, issue 16) in real headless Chromium: the daemon supervises the `trio`
//! lab with a backup made and restore-tested, the primary hangs, and once the daemon has failed
//! it over the page, loaded by Debian's `chromium` (`--dump-dom`), shows db-1 unreachable, the
//! failover with its outcome, and the new primary; then Chromium takes the screenshot that
//! `docs/dashboard.png` is (copied there when `HADOME_SCREENSHOT_TO=PATH` is set).
//!
//! Chromium runs in its own process group with its own home in the test's scratch directory; the
//! group is killed by its leader's PID once the leader has exited (or at the deadline), before
//! the leader is reaped so the PID cannot have been reused, and the crash handlers it starts in
//! groups of their own are found by the scratch path in their command line and killed by PID.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hadome_core::fact::Timestamp;
use hadome_journal::{Journal, KIND_INTENT};
use hadome_lab::Fault;

use crate::api_support::ApiDaemon;
use crate::support::{eventually, hadome_json, lab, TestLab};

/// How long anything the daemon does may take before the test gives up on it.
const WAIT: Duration = Duration::from_secs(90);
/// How long one Chromium run may take.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);

/// The start tag of the element whose `id` is `id`, if the page has one.
fn tag<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!(" id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    Some(&html[start..=end])
}

/// The value of attribute `name` of the element whose `id` is `id`.
fn attribute<'a>(html: &'a str, id: &str, name: &str) -> Option<&'a str> {
    let tag = tag(html, id)?;
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// The element whose `id` is `id`, up to the end of its row (`</tr>`), for its text.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} on the page:\n{html}"));
    let end = start + html[start..].find("</tr>").expect("the row's end");
    &html[start..end]
}

/// The page as served, over plain HTTP.
async fn served(api: &ApiDaemon) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let response = client.get(api.url("/")).send().await.ok()?;
    response.text().await.ok()
}

/// The failover's intent once closed: its id and the standby it promoted.
fn closed_failover(dir: &Path) -> Option<(i64, String)> {
    let journal = Journal::open(&dir.join("hadome.sqlite")).ok()?;
    let events = journal.events_since(Timestamp(i64::MIN)).ok()?;
    events.iter().find_map(|event| {
        let id = event.body["intent"].as_i64()?;
        let promoted = (event.kind == KIND_INTENT && event.body["action"]["name"] == "promote")
            .then(|| event.body["action"]["target"].as_str())??;
        journal
            .intent(id)
            .ok()??
            .outcome
            .map(|_| (id, promoted.to_owned()))
    })
}

/// A `pg_dump` backup of db-1 named `nightly` in the estate file, its copies in a directory of
/// `/dev/shm` (a filesystem other than the data directories', as `snapshot-independence` asks),
/// one copy made and restore-tested through the real binary. The directory goes with the guard.
fn backed_up(lab: &TestLab) -> RemoveDir {
    let dir = tempfile::Builder::new()
        .prefix("hadome-it-dashboard-")
        .tempdir_in("/dev/shm")
        .expect(
            "a directory in /dev/shm: the test needs a filesystem other than /tmp's for backups",
        )
        .keep();
    let pg_dump = hadome_lab::locate_bindir()
        .expect("PostgreSQL 15's programs (scripts/setup.sh installs them)")
        .join("pg_dump");
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        lab.client_port("db-1").unwrap()
    );
    let config = lab.dir().join("estate.toml");
    let mut estate = std::fs::read_to_string(&config).unwrap();
    estate.push_str(&format!(
        "\n[[backup]]\nname = \"nightly\"\ntype = \"pg_dump\"\ninstance = \"db-1\"\n\
         path = \"{}\"\ncommand = [\"{}\", \"-Fc\", \"--snapshot={{snapshot}}\", \"-f\", \"{{output}}\", \"{conninfo}\"]\n",
        dir.join("nightly-*.dump").display(),
        pg_dump.display(),
    ));
    std::fs::write(&config, estate).unwrap();
    let guard = RemoveDir(dir);
    for step in ["run", "restore-test"] {
        let (code, report) = hadome_json(&config, &["backup", step, "nightly"]);
        assert_eq!(code, 0, "hadome backup {step} nightly: {report}");
    }
    guard
}

/// Removes a directory when the test ends, passed or failed.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_hang_the_dashboard_shows_the_old_primary_unreachable_the_failover_and_the_new_primary(
) {
    let lab = lab("trio").await;
    let _backups = backed_up(&lab);
    let api = ApiDaemon::start(&lab, "dashboard", &[]).await;
    api.daemon
        .wait_for_log(
            "the daemon to find `trio` healthy",
            "cluster `trio`: healthy",
            1,
        )
        .await;
    eventually(
        "the page to show `trio` healthy, db-1 its primary",
        WAIT,
        || async {
            let page = served(&api).await?;
            (attribute(&page, "cluster-trio", "data-state") == Some("healthy")
                && attribute(&page, "member-db-1", "data-role") == Some("primary"))
            .then_some(())
        },
    )
    .await;

    lab.fault(&Fault::Hang("db-1".into())).await.unwrap();
    let (intent, new) = eventually("the failover to be journaled closed", WAIT, || {
        std::future::ready(closed_failover(lab.dir()))
    })
    .await;
    let intent_id = format!("intent-{intent}");
    let new_member = format!("member-{new}");
    // A pass after the failover: the page is polled over HTTP first, so that Chromium loads it
    // once, when there is something to see.
    eventually("the page to show the failover done", WAIT, || async {
        let page = served(&api).await?;
        (attribute(&page, &intent_id, "data-outcome") == Some("ok")
            && attribute(&page, &new_member, "data-role") == Some("primary")
            && attribute(&page, "member-db-1", "data-role") == Some("unreachable"))
        .then_some(())
    })
    .await;

    let scratch = lab.scratch.path().join("chromium");
    let dom = chromium(&scratch, &["--dump-dom"], &api.url("/")).await;
    let dom = String::from_utf8_lossy(&dom).into_owned();
    assert!(
        dom.contains("<meta http-equiv=\"refresh\" content=\"2\">"),
        "{dom}"
    );
    // The old primary: unreachable, red, with the probe's error.
    assert_eq!(
        attribute(&dom, "member-db-1", "data-role"),
        Some("unreachable")
    );
    assert_eq!(
        attribute(&dom, "member-db-1", "data-reachable"),
        Some("false")
    );
    assert_eq!(
        attribute(&dom, "member-db-1", "data-severity"),
        Some("deny")
    );
    assert!(row(&dom, "member-db-1").contains(">UNREACHABLE<"), "{dom}");
    assert!(
        dom.contains("data-member=\"db-1\"><td></td><td colspan=\"9\">UNREACHABLE: "),
        "db-1's error under its row: {dom}"
    );
    // The failover: the daemon's promote intent, fenced first, done.
    assert_eq!(attribute(&dom, &intent_id, "data-action"), Some("promote"));
    assert_eq!(
        attribute(&dom, &intent_id, "data-target"),
        Some(new.as_str())
    );
    assert_eq!(attribute(&dom, &intent_id, "data-actor"), Some("daemon"));
    assert_eq!(attribute(&dom, &intent_id, "data-outcome"), Some("ok"));
    assert!(row(&dom, &intent_id).contains("✓ fence `db-1`"), "{dom}");
    // The new primary, as the status document and the supervisor both hold it.
    assert_eq!(attribute(&dom, &new_member, "data-role"), Some("primary"));
    assert_eq!(attribute(&dom, &new_member, "data-reachable"), Some("true"));
    assert_eq!(
        attribute(&dom, "cluster-trio", "data-primary"),
        Some(new.as_str())
    );
    assert!(dom.contains(
        "class=\"finding crit\" data-rule=\"stale-facts\" data-subject=\"db-1\" data-severity=\"deny\""
    ));
    // The backup, its newest copy read whole once and its restore test passed.
    assert_eq!(
        attribute(&dom, "backup-nightly", "data-severity"),
        Some("none")
    );
    assert!(row(&dom, "backup-nightly").contains(">passed<"), "{dom}");

    let png = scratch.join("dashboard.png");
    let screenshot = format!("--screenshot={}", png.display());
    chromium(
        &scratch,
        &[screenshot.as_str(), "--window-size=1280,1200"],
        &api.url("/"),
    )
    .await;
    let bytes = std::fs::read(&png).expect("Chromium's screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
    if let Some(to) = std::env::var_os("HADOME_SCREENSHOT_TO") {
        std::fs::copy(&png, &to).expect("the screenshot copied to HADOME_SCREENSHOT_TO");
    }
}

/// Runs headless Chromium on `url` with `args`, its profile and home under `scratch`; returns
/// what it printed on stdout. Every process it started is gone when this returns.
async fn chromium(scratch: &Path, args: &[&str], url: &str) -> Vec<u8> {
    let home = scratch.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let stdout = scratch.join("stdout");
    let stderr = scratch.join("stderr");
    let mut command = Command::new("chromium");
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("profile").display()
        ))
        .args(args)
        .arg(url)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .process_group(0);
    let child = command
        .spawn()
        .expect("Debian's `chromium` (apt-get install chromium)");
    let running = Chromium {
        child,
        marker: scratch.display().to_string(),
    };
    let started = Instant::now();
    while !running.exited() {
        if started.elapsed() > CHROMIUM_DEADLINE {
            drop(running);
            panic!(
                "chromium {args:?} {url} did not finish within {CHROMIUM_DEADLINE:?}: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        // The interval between two checks whether it exited; the deadline above bounds them.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(running);
    std::fs::read(&stdout).unwrap()
}

/// A running Chromium; dropped, its process group and its strays are killed and waited for.
struct Chromium {
    child: Child,
    /// The scratch directory, which every process it starts names in its command line.
    marker: String,
}

impl Chromium {
    /// Whether the leader exited (a zombie, not reaped yet: its PID stays its own).
    fn exited(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    }

    /// The processes whose command line names the scratch directory.
    fn strays(&self) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&self.marker))
            })
            .collect()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, killpg, Signal};
        use nix::unistd::Pid;
        // The leader is not reaped yet, so its PID (the group's id) is still its own.
        let leader = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(leader, Signal::SIGKILL);
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let strays = self.strays();
            if strays.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in strays {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            // The interval between two looks for strays; the deadline above bounds them.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
