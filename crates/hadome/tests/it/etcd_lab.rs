//! `hadome lab up etcd3`: three real etcd members (Debian's etcd 3.4) behind the lab proxy, through
//! the real binary (issue 13, point 5). Each test has its own lab directory; a guard tears the lab
//! down by PID even when the test fails. Members are read with Debian's `etcdctl` at the endpoints
//! `lab status --json` gives, each call bounded; waits poll with deadlines.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use hadome_lab::Lab;

use crate::support::{run_hadome, scratch, show};

/// An etcd3 lab brought up by the real binary; dropped, it is torn down by PID.
pub(crate) struct EtcdLab {
    dir: PathBuf,
    _scratch: tempfile::TempDir,
}

impl EtcdLab {
    pub(crate) fn up() -> EtcdLab {
        EtcdLab::up_with("etcd3", &[])
    }

    /// `hadome lab up TOPOLOGY OPTIONS… --dir DIR` (`etcd_tls.rs`: `--tls`).
    pub(crate) fn up_with(topology: &str, options: &[&str]) -> EtcdLab {
        let scratch = scratch();
        let dir = scratch.path().join("lab");
        let lab = EtcdLab {
            dir: dir.clone(),
            _scratch: scratch,
        };
        let mut args = vec!["lab", "up", topology];
        args.extend(options);
        args.extend(["--dir", lab.dir()]);
        let output = run_hadome(&args, &[]);
        assert!(
            output.status.success(),
            "lab up {topology} {options:?}: {}",
            show(&output)
        );
        lab
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn dir(&self) -> &str {
        self.dir.to_str().expect("a UTF-8 scratch path")
    }

    pub(crate) fn fault(&self, fault: &str, member: &str) -> Output {
        let output = run_hadome(&["lab", "fault", "--dir", self.dir(), fault, member], &[]);
        assert!(
            output.status.success(),
            "fault {fault} {member}: {}",
            show(&output)
        );
        output
    }

    pub(crate) fn status(&self) -> serde_json::Value {
        let output = run_hadome(&["lab", "status", "--dir", self.dir(), "--json"], &[]);
        assert!(output.status.success(), "lab status: {}", show(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    pub(crate) fn member(&self, name: &str) -> serde_json::Value {
        self.status()["etcd"]
            .as_array()
            .unwrap()
            .iter()
            .find(|member| member["name"] == name)
            .unwrap_or_else(|| panic!("no member {name}"))
            .clone()
    }

    pub(crate) fn endpoint(&self, name: &str) -> String {
        self.member(name)["endpoint"].as_str().unwrap().to_owned()
    }

    pub(crate) fn config(&self) -> String {
        self.dir.join("estate.toml").to_str().unwrap().to_owned()
    }

    /// `hadome ACTION… --config DIR/estate.toml`.
    pub(crate) fn hadome(&self, args: &[&str]) -> Output {
        let config = self.config();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", config.as_str()]);
        run_hadome(&all, &[])
    }

    /// The placed host's current boot id and how many boots it had, from `lab host-facts`.
    fn boot(&self, host: &str) -> (String, usize) {
        let output = run_hadome(&["lab", "host-facts", "--dir", self.dir(), host], &[]);
        assert!(output.status.success(), "host-facts: {}", show(&output));
        let facts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let facts = &facts["host_facts"];
        let boots = facts["boots"].as_array().unwrap();
        assert_eq!(
            boots.last().unwrap()["boot_id"],
            facts["boot_id"],
            "the current boot is the last listed: {facts}"
        );
        (facts["boot_id"].as_str().unwrap().to_owned(), boots.len())
    }

    fn pid(&self, member: &str) -> Option<i64> {
        self.member(member)["pid"].as_i64()
    }
}

impl Drop for EtcdLab {
    fn drop(&mut self) {
        if self.dir.join("lab.json").exists() {
            if let Ok(lab) = Lab::open(&self.dir) {
                if let Err(error) = lab.down() {
                    eprintln!("teardown of {}: {error}", self.dir.display());
                }
            }
        }
    }
}

/// `etcdctl --endpoints ENDPOINT ARGS`, bounded: 2 s to dial, 2 s per command, 10 s in all.
pub(crate) fn etcdctl(endpoint: &str, args: &[&str]) -> Output {
    std::process::Command::new("timeout")
        .args(["10", "etcdctl", "--endpoints", endpoint])
        .args(["--dial-timeout=2s", "--command-timeout=2s"])
        .args(args)
        .env("ETCDCTL_API", "3")
        .output()
        .expect("etcdctl runs (scripts/setup.sh installs etcd-client)")
}

/// The leader's member id as `endpoint` reports it (`endpoint status -w json`), when it answers.
pub(crate) fn leader_seen_by(endpoint: &str) -> Option<u64> {
    let output = etcdctl(endpoint, &["endpoint", "status", "-w", "json"]);
    if !output.status.success() {
        return None;
    }
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    status[0]["Status"]["leader"]
        .as_u64()
        .filter(|leader| *leader != 0)
}

/// Polls `check` every 100 ms until it is `Some`, or fails after `timeout` naming `what`.
pub(crate) fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alive(pid: i64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ") && !stat.contains(") X ")
}

pub(crate) fn put(endpoint: &str, key: &str, value: &str) -> Output {
    etcdctl(endpoint, &["put", key, value])
}

pub(crate) fn get(endpoint: &str, key: &str) -> Option<String> {
    let output = etcdctl(endpoint, &["get", key, "--print-value-only"]);
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

const MEMBERS: [&str; 3] = ["etcd-1", "etcd-2", "etcd-3"];

#[test]
fn three_members_answer_agree_on_a_leader_and_survive_one_down() {
    let lab = EtcdLab::up();
    let status = lab.status();
    let members = status["etcd"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{status}");
    for (member, (name, host)) in members.iter().zip(MEMBERS.iter().zip(["h1", "h2", "h3"])) {
        assert_eq!(member["name"], *name, "{member}");
        assert_eq!(member["host"], host, "{member}");
        assert_eq!(member["process"], "running", "{member}");
        assert!(member["pid"].as_i64().is_some_and(alive), "{member}");
        let endpoint = member["endpoint"].as_str().unwrap();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{member}");
    }
    assert_eq!(
        members
            .iter()
            .filter(|member| member["leader"] == true)
            .count(),
        1,
        "{status}"
    );

    // Every member answers through its proxied endpoint, and all name one leader.
    let endpoints: Vec<String> = MEMBERS.iter().map(|name| lab.endpoint(name)).collect();
    let leaders: Vec<u64> = endpoints
        .iter()
        .map(|endpoint| {
            poll(
                &format!("{endpoint} to name a leader"),
                Duration::from_secs(20),
                || leader_seen_by(endpoint),
            )
        })
        .collect();
    assert!(
        leaders.windows(2).all(|pair| pair[0] == pair[1]),
        "{leaders:?}"
    );

    // A put through one member is read through another (a linearizable read by default).
    let written = put(&endpoints[0], "hadome/lab", "one");
    assert!(written.status.success(), "{}", show(&written));
    assert_eq!(get(&endpoints[1], "hadome/lab").as_deref(), Some("one"));

    // The estate file names each member's proxied endpoint, its host and the quorum.
    let estate = std::fs::read_to_string(lab.dir.join("estate.toml")).unwrap();
    assert!(
        estate.contains(&format!(
            "[[etcd]]\nname = \"etcd-1\"\nendpoints = [\"{}\"]\nhost = \"h1\"\n",
            endpoints[0]
        )),
        "{estate}"
    );
    assert!(
        estate.contains(
            "[[quorum]]\nname = \"etcd\"\nmembers = [\"etcd-1\", \"etcd-2\", \"etcd-3\"]\n"
        ),
        "{estate}"
    );
    assert!(
        !estate.contains("[[instance]]") && !estate.contains("[[cluster]]"),
        "{estate}"
    );

    // One member stopped: the other two still take writes.
    let pid = lab.member("etcd-3")["pid"].as_i64().unwrap();
    lab.fault("stop", "etcd-3");
    assert!(!alive(pid), "etcd-3's PID {pid} is still alive");
    assert_eq!(lab.member("etcd-3")["process"], "stopped");
    poll(
        "a write with etcd-3 stopped",
        Duration::from_secs(20),
        || {
            put(&endpoints[1], "hadome/lab", "two")
                .status
                .success()
                .then_some(())
        },
    );
    assert_eq!(get(&endpoints[0], "hadome/lab").as_deref(), Some("two"));

    // Started again, it catches up and serves the write it missed.
    lab.fault("start", "etcd-3");
    poll(
        "etcd-3 to serve the write it missed",
        Duration::from_secs(20),
        || (get(&endpoints[2], "hadome/lab").as_deref() == Some("two")).then_some(()),
    );

    // Crashed (SIGKILL) and started again: its data directory brings it back.
    lab.fault("crash", "etcd-2");
    assert_eq!(lab.member("etcd-2")["process"], "stopped");
    lab.fault("start", "etcd-2");
    poll(
        "etcd-2 to serve reads again",
        Duration::from_secs(20),
        || (get(&endpoints[1], "hadome/lab").as_deref() == Some("two")).then_some(()),
    );
}

#[test]
fn a_hung_member_does_not_answer_until_resumed_and_down_leaves_no_process() {
    let lab = EtcdLab::up();
    let endpoint = lab.endpoint("etcd-1");
    poll("etcd-1 to name a leader", Duration::from_secs(20), || {
        leader_seen_by(&endpoint)
    });

    lab.fault("hang", "etcd-1");
    assert_eq!(lab.member("etcd-1")["process"], "hung");
    let started = Instant::now();
    let output = etcdctl(&endpoint, &["get", "hadome/lab", "--command-timeout=1s"]);
    assert!(
        !output.status.success(),
        "a hung member answered: {}",
        show(&output)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "etcdctl took {:?} to give up",
        started.elapsed()
    );
    // The other two still take writes.
    let other = lab.endpoint("etcd-2");
    poll("a write with etcd-1 hung", Duration::from_secs(20), || {
        put(&other, "hadome/lab", "hung")
            .status
            .success()
            .then_some(())
    });

    lab.fault("resume", "etcd-1");
    assert_eq!(lab.member("etcd-1")["process"], "running");
    poll("etcd-1 to answer again", Duration::from_secs(20), || {
        (get(&endpoint, "hadome/lab").as_deref() == Some("hung")).then_some(())
    });

    // Isolated: its client URL is closed, the lab still sees it run; rejoined, it answers.
    lab.fault("isolate", "etcd-1");
    assert_eq!(lab.member("etcd-1")["isolated"], true);
    assert!(
        get(&endpoint, "hadome/lab").is_none(),
        "an isolated member answered"
    );
    lab.fault("rejoin", "etcd-1");
    poll(
        "etcd-1 to answer after rejoin",
        Duration::from_secs(20),
        || get(&endpoint, "hadome/lab"),
    );

    // Hang one again so `down` must stop a stopped process too.
    lab.fault("hang", "etcd-2");
    let status = lab.status();
    let mut pids: Vec<i64> = status["etcd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["pid"].as_i64().unwrap())
        .collect();
    pids.push(status["proxy_pid"].as_i64().unwrap());
    let down = run_hadome(&["lab", "down", "--dir", lab.dir()], &[]);
    assert!(down.status.success(), "{}", show(&down));
    for pid in pids {
        assert!(!alive(pid), "PID {pid} is still alive after lab down");
    }
    assert!(!Path::new(lab.dir()).exists());
}

/// Issue 13 on real etcd: the `quorum` rule reads the members through the observer. With all
/// three healthy, stopping `etcd-2` is allowed (a warning: exactly the quorum left); with
/// `etcd-3` stopped, it is denied with the arithmetic, and `check` says the cluster tolerates no
/// further failure.
#[test]
fn stopping_a_member_is_judged_by_the_healthy_majority_it_leaves() {
    let lab = EtcdLab::up();
    let config = lab.dir.join("estate.toml");
    let config = config.to_str().unwrap();
    let ask = || run_hadome(&["ask", "stop", "etcd-2", "--config", config], &[]);
    let allowed = ask();
    assert_eq!(allowed.status.code(), Some(0), "{}", show(&allowed));
    assert!(
        show(&allowed)
            .contains("3 voters, quorum 2: `etcd-1` healthy; `etcd-2` healthy; `etcd-3` healthy"),
        "{}",
        show(&allowed)
    );

    lab.fault("stop", "etcd-3");
    let denied = ask();
    assert_eq!(denied.status.code(), Some(1), "{}", show(&denied));
    let said = show(&denied);
    assert!(
        said.contains("quorum")
            && said.contains("`etcd-3` does not answer")
            && said.contains("1 healthy left, under the quorum of 2"),
        "{said}"
    );
    let check = run_hadome(&["check", "--config", config], &[]);
    assert!(
        show(&check).contains("`etcd` tolerates no further failure"),
        "{}",
        show(&check)
    );
}

/// Point 1 of issue 13: credentials. With etcd's `auth enable` on the real members, a quorum
/// whose `user` and `password_file` are right is observed healthy; a wrong password makes every
/// member count as down (fail closed) and the output never shows the password; a missing
/// password file is named with its key.
#[test]
fn a_quorum_with_auth_enabled_is_observed_with_its_user_and_the_password_never_shown() {
    let lab = EtcdLab::up();
    let endpoint = lab.endpoint("etcd-1");
    poll("etcd-1 to name a leader", Duration::from_secs(20), || {
        leader_seen_by(&endpoint)
    });
    let password = "hadome-lab-s3cret-7f4e";
    for args in [
        vec!["user", "add", "root", "--new-user-password", password],
        vec!["role", "add", "root"],
        vec!["user", "grant-role", "root", "root"],
        vec!["auth", "enable"],
    ] {
        let output = etcdctl(&endpoint, &args);
        assert!(
            output.status.success(),
            "etcdctl {args:?}: {}",
            show(&output)
        );
    }
    // Without credentials, a read is refused now: auth is really on.
    let refused = etcdctl(&endpoint, &["get", "health"]);
    assert!(!refused.status.success(), "{}", show(&refused));

    let password_file = lab.dir.join("etcd-password");
    let estate_path = lab.dir.join("estate.toml");
    let original = std::fs::read_to_string(&estate_path).unwrap();
    let members_line = "members = [\"etcd-1\", \"etcd-2\", \"etcd-3\"]\n";
    assert!(original.contains(members_line), "{original}");
    let with_user = original.replace(
        members_line,
        &format!(
            "{members_line}user = \"root\"\npassword_file = \"{}\"\n",
            password_file.display()
        ),
    );
    std::fs::write(&estate_path, &with_user).unwrap();
    let config = estate_path.to_str().unwrap();

    // The right password: every member answers, nothing is wrong with the quorum.
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let checked = poll(
        "check to pass with the user",
        Duration::from_secs(20),
        || {
            let output = run_hadome(&["check", "--config", config], &[]);
            output.status.success().then_some(output)
        },
    );
    let text = String::from_utf8_lossy(&checked.stdout).into_owned();
    assert!(!text.contains("quorum"), "{text}");
    assert!(!text.contains(password), "{text}");

    // A wrong password: no member is trusted, and neither password is ever printed.
    let wrong = "not-the-password-91c2";
    std::fs::write(&password_file, format!("{wrong}\n")).unwrap();
    let output = run_hadome(&["check", "--config", config, "--json"], &[]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(all.contains("no healthy majority"), "{all}");
    assert!(all.contains("authentication failed"), "{all}");
    assert!(!all.contains(wrong) && !all.contains(password), "{all}");

    // No password file: the probe names the file and its key.
    std::fs::remove_file(&password_file).unwrap();
    let output = run_hadome(&["check", "--config", config], &[]);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(
        text.contains(&format!(
            "could not read the password `{}` ([[quorum]] `password_file`)",
            password_file.display()
        )),
        "{text}"
    );
}

/// Whether `output` denies for `quorum` (a `✗ quorum` line).
pub(crate) fn denied_for_quorum(output: &Output) -> bool {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.trim_start().starts_with("✗ quorum"))
}

/// Issue 13's done-when on real etcd: the placed hosts `h1`..`h3` are `[[host]]`s whose facts are
/// the lab's boots. With `etcd-3` stopped, a reboot or an image of `h2` (which reboots by
/// default) is denied for `quorum` with the arithmetic, an image without a reboot is not, and
/// `run reboot h2` does nothing; once `etcd-3` is back and caught up, `run reboot h2` reboots
/// it through the lab's `reboot-host`, verified by a new boot id, `etcd-2` back.
#[test]
fn reboot_and_image_of_a_host_are_judged_by_the_quorum_of_the_members_on_it() {
    let lab = EtcdLab::up();
    let check = lab.hadome(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    assert!(
        show(&check).contains("3 hosts, 3 etcd members observed"),
        "{}",
        show(&check)
    );
    let (first_boot, boots) = lab.boot("h2");
    assert_eq!(boots, 1);

    lab.fault("stop", "etcd-3");
    for action in [&["ask", "reboot", "h2"][..], &["ask", "image", "h2"]] {
        let denied = lab.hadome(action);
        assert_eq!(
            denied.status.code(),
            Some(1),
            "{action:?}: {}",
            show(&denied)
        );
        let said = show(&denied);
        assert!(
            denied_for_quorum(&denied)
                && said.contains("3 voters, quorum 2:")
                && said.contains("`etcd-3` does not answer")
                && said.contains("takes `etcd-2` down: 1 healthy left, under the quorum of 2"),
            "{action:?}: {said}"
        );
    }
    let no_reboot = lab.hadome(&["ask", "image", "h2", "--no-reboot"]);
    assert!(!denied_for_quorum(&no_reboot), "{}", show(&no_reboot));
    assert_eq!(no_reboot.status.code(), Some(0), "{}", show(&no_reboot));

    // `run` is refused, and nothing is done: the same boot, the same etcd-2.
    let pid = lab.pid("etcd-2");
    let refused = lab.hadome(&["run", "reboot", "h2"]);
    assert_eq!(refused.status.code(), Some(1), "{}", show(&refused));
    assert!(
        denied_for_quorum(&refused) && show(&refused).contains("nothing was done"),
        "{}",
        show(&refused)
    );
    assert_eq!(lab.boot("h2"), (first_boot.clone(), 1));
    assert_eq!(lab.pid("etcd-2"), pid);

    // etcd-3 back and caught up: the reboot is allowed (exactly the quorum left: a warning).
    lab.fault("start", "etcd-3");
    let allowed = poll(
        "`ask reboot h2` to allow once etcd-3 caught up",
        Duration::from_secs(20),
        || {
            let output = lab.hadome(&["ask", "reboot", "h2"]);
            (output.status.code() == Some(0)).then_some(output)
        },
    );
    assert!(
        show(&allowed).contains("`etcd-3` healthy; rebooting `h2` takes `etcd-2` down: 2 healthy left, exactly the quorum"),
        "{}",
        show(&allowed)
    );

    // Another `hadome run` holds the quorum cluster (its hold in the lab's journal): the reboot
    // is refused as busy, and nothing is done. One disruption per quorum cluster at a time.
    let mut journal = hadome_journal::Journal::open(&lab.dir.join("hadome.sqlite")).unwrap();
    let now = hadome_core::fact::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let hold = hadome_journal::hold_lease("etcd");
    let person = "another person pid 1 on elsewhere";
    assert!(journal
        .acquire_lease(&hold, person, now, 600_000)
        .unwrap()
        .is_held());
    let busy = lab.hadome(&["run", "reboot", "h2"]);
    assert_eq!(busy.status.code(), Some(4), "{}", show(&busy));
    assert!(
        show(&busy).contains("cluster `etcd` is held by another `hadome run`"),
        "{}",
        show(&busy)
    );
    assert_eq!(lab.boot("h2"), (first_boot.clone(), 1));
    assert_eq!(lab.pid("etcd-2"), pid);
    journal.release_lease(&hold, person, now).unwrap();

    let done = lab.hadome(&["run", "reboot", "h2"]);
    assert_eq!(done.status.code(), Some(0), "{}", show(&done));
    let (second_boot, boots) = lab.boot("h2");
    assert_eq!(boots, 2);
    assert_ne!(second_boot, first_boot);
    assert!(
        show(&done).contains("not a real reboot")
            && show(&done).contains(&format!("it came back: boot {second_boot}")),
        "{}",
        show(&done)
    );
    let new_pid = lab.pid("etcd-2");
    assert!(
        new_pid.is_some_and(alive) && new_pid != pid,
        "{new_pid:?} {pid:?}"
    );
    assert_eq!(lab.boot("h1").1, 1, "only h2 rebooted");
}

/// A member hung with SIGSTOP counts as down: a reboot of another member's host is denied.
#[test]
fn a_hung_member_counts_as_down_for_a_reboot_of_another_host() {
    let lab = EtcdLab::up();
    // Allowed once `h2` has been up its `min_uptime_seconds` (1 s after `lab up` began).
    poll("`ask reboot h2` to allow", Duration::from_secs(30), || {
        (lab.hadome(&["ask", "reboot", "h2"]).status.code() == Some(0)).then_some(())
    });
    lab.fault("hang", "etcd-3");
    // On a loaded machine a healthy member's probe can also run into the 0.5 s bound for a pass:
    // poll (bounded) until the pass sees exactly etcd-3 down.
    let denied = poll(
        "`ask reboot h2` to deny with etcd-3 hung",
        Duration::from_secs(20),
        || {
            let output = lab.hadome(&["ask", "reboot", "h2"]);
            (output.status.code() == Some(1) && show(&output).contains("1 healthy left"))
                .then_some(output)
        },
    );
    assert!(
        denied_for_quorum(&denied)
            && show(&denied).contains("1 healthy left, under the quorum of 2"),
        "{}",
        show(&denied)
    );
}

/// Kills its `hadome lab load` child by PID when dropped (a failed test leaves no load behind).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `lab load` on etcd through a `reboot-host` of one member's host loses no acknowledged put;
/// `lab verify` does find a put that is not there.
#[test]
fn a_load_across_a_host_reboot_loses_no_acknowledged_put() {
    let lab = EtcdLab::up();
    let ack_log = lab.dir.join("acks");
    let ack_log = ack_log.to_str().unwrap();
    let load = std::process::Command::new(crate::support::hadome_binary())
        .args(["lab", "load", "--dir", lab.dir(), "--duration", "8"])
        .args(["--rate", "50", "--ack-log", ack_log])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hadome lab load starts");
    let mut load = Child(load);
    poll(
        "the load's first acknowledged put",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(ack_log)
                .is_ok_and(|text| !text.is_empty())
                .then_some(())
        },
    );
    let (before, _) = lab.boot("h2");
    let pid = lab.pid("etcd-2");
    let rebooted = run_hadome(
        &[
            "lab",
            "fault",
            "--dir",
            lab.dir(),
            "reboot-host",
            "h2",
            "--down-seconds",
            "2",
        ],
        &[],
    );
    assert!(rebooted.status.success(), "{}", show(&rebooted));
    assert!(
        show(&rebooted).contains("not a real reboot"),
        "{}",
        show(&rebooted)
    );
    assert_ne!(lab.boot("h2").0, before);
    assert_ne!(lab.pid("etcd-2"), pid);

    let status = poll("the load to end", Duration::from_secs(30), || {
        load.0.try_wait().unwrap()
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(load.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "load: {stdout}");
    assert!(stdout.starts_with("etcd: "), "{stdout}");
    let acknowledged = std::fs::read_to_string(ack_log).unwrap().lines().count();
    assert!(acknowledged > 0, "{stdout}");

    let verify = run_hadome(
        &["lab", "verify", "--dir", lab.dir(), "--ack-log", ack_log],
        &[],
    );
    assert_eq!(verify.status.code(), Some(0), "{}", show(&verify));
    assert!(
        show(&verify).contains(&format!("has all {acknowledged} acknowledged puts")),
        "{}",
        show(&verify)
    );

    // A put the log says was acknowledged but etcd never saw is found missing.
    std::fs::write(
        ack_log,
        std::fs::read_to_string(ack_log).unwrap() + "999999999 0 0\n",
    )
    .unwrap();
    let verify = run_hadome(
        &[
            "lab",
            "verify",
            "--dir",
            lab.dir(),
            "--etcd",
            "--ack-log",
            ack_log,
        ],
        &[],
    );
    assert_eq!(verify.status.code(), Some(1), "{}", show(&verify));
    assert!(
        show(&verify).contains(&format!(
            "is missing 1 of {} acknowledged puts (first missing ids: 999999999)",
            acknowledged + 1
        )),
        "{}",
        show(&verify)
    );
}
