//! The built-in actions on a cluster of Debian's layout (`actions = "debian"`, issue 15):
//! `postgresql-common`'s `pg_ctlcluster` and `postgresql@VERSION-NAME.service`, on this machine
//! or over SSH on the instance's host.
//!
//! Each action is one run of [`SCRIPT`], a POSIX shell script given as `sh -c`'s argument (over
//! SSH every word quoted, so nothing of the estate is read by a shell as code), that does the
//! action and checks it on the host; the executor then checks the effect from where it runs (the
//! instance answers, streams, accepts writes), as for every step.
//!
//! - **stop**: `systemctl stop` of the unit, bounded; every process of the unit's cgroup gone.
//! - **start**: the unit unmasked (a runtime mask a fence left) and started; active.
//! - **fence**: a `standby.signal` in the data directory (never again a primary, whoever starts
//!   it), the unit masked until the next boot (systemd starts it no more), then every process of
//!   the unit's cgroup (and the postmaster of `postmaster.pid`, should it run outside the unit)
//!   killed by PID with SIGKILL, hung or not, and none left.
//! - **promote**: `pg_ctlcluster VERSION NAME promote`.
//! - **preserve** / **put-back**: the data directory renamed to `DATA.hadome-aside-STAMP` on its
//!   own filesystem (never deleted), or back.
//! - **basebackup**: `pg_basebackup -R -X stream` from the source into the (moved aside) data
//!   directory, as the cluster's owner, then the unit started; the copy's WAL is held on the
//!   source by pg_basebackup's temporary slot while it runs.
//! - **room**, **reaches**: the pre-flight checks of a rebuild, on the target's host: free bytes
//!   beside the data directory, and a replication connection to the source from there.

use std::time::Duration;

use hadome_core::estate::{Estate, Instance};
use hadome_core::remote::DebianCluster;

use crate::command::{run_where, CommandError, Ran};

/// How long a fence may take, SSH's connection included: a failover waits for it.
pub(crate) const FENCE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop, start, promote or a pre-flight check may take.
pub(crate) const UNIT_TIMEOUT: Duration = Duration::from_secs(120);

/// The script every built-in action runs: `sh -c SCRIPT hadome-debian ACTION VERSION NAME DATA
/// [ARG…]`. It exits 0 only when the action is done and checked, printing one line that says
/// what was done; otherwise it says why on standard error.
pub(crate) const SCRIPT: &str = r#"set -eu
action=$1 version=$2 name=$3 data=$4
shift 4
unit="postgresql@$version-$name.service"
bin="/usr/lib/postgresql/$version/bin"
if [ "$(id -u)" = 0 ]; then sudo=; else sudo="sudo -n"; fi
fail() { printf '%s\n' "$*" >&2; exit 1; }
state() { systemctl show -p ActiveState --value "$unit"; }
procs() {
  cg=$(systemctl show -p ControlGroup --value "$unit")
  [ -n "$cg" ] || return 0
  for f in "/sys/fs/cgroup$cg/cgroup.procs" "/sys/fs/cgroup/unified$cg/cgroup.procs" "/sys/fs/cgroup/systemd$cg/cgroup.procs"; do
    if [ -r "$f" ]; then tr '\n' ' ' < "$f"; return 0; fi
  done
}
postmaster() {
  [ -r "$data/postmaster.pid" ] || return 0
  pid=$(head -n 1 "$data/postmaster.pid")
  case "$pid" in ''|*[!0-9]*) return 0;; esac
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q postgres; then printf '%s' "$pid"; fi
}
# Polls `$1` (a shell condition) every 0.1 s for at most `$2` tenths of a second.
within() {
  i=0
  while ! eval "$1"; do
    i=$((i + 1))
    [ "$i" -lt "$2" ] || return 1
    sleep 0.1
  done
}
owner() { stat -c %U "$(dirname "$data")"; }
case "$action" in
stop)
  $sudo systemctl stop --no-block "$unit"
  within '[ "$(state)" != deactivating ] && [ "$(state)" != active ]' 600 \
    || fail "$unit is still $(state) after 60 s: it does not stop (hung?); fence it instead"
  left=$(procs)
  [ -z "$left" ] || fail "$unit is $(state), but processes $left are left in its cgroup"
  echo "$unit is $(state); no process of it is left"
  ;;
start)
  $sudo systemctl unmask --runtime "$unit" >/dev/null 2>&1 || true
  $sudo systemctl start "$unit"
  [ "$(state)" = active ] || fail "$unit is $(state) after its start: journalctl -u $unit says why"
  echo "$unit is active"
  ;;
fence)
  if [ -d "$data" ]; then
    $sudo touch "$data/standby.signal"
    $sudo chown "$(stat -c %u:%g "$data")" "$data/standby.signal"
    signal="standby.signal written (it starts again only as a standby)"
  else
    signal="no data directory at $data to write standby.signal into"
  fi
  $sudo systemctl mask --runtime "$unit" >/dev/null
  pids="$(procs) $(postmaster)"
  killed=$(printf '%s\n' $pids | sort -un | tr '\n' ' ')
  killed=${killed% }
  [ -z "$killed" ] || $sudo kill -KILL $killed 2>/dev/null || true
  within '[ -z "$(procs)$(postmaster)" ]' 100 \
    || fail "fence of $unit incomplete after 10 s: processes $(procs) $(postmaster) are left"
  echo "fenced $unit: killed ${killed:-no process} by PID with SIGKILL, none left; masked until the next boot; $signal"
  ;;
promote)
  $sudo pg_ctlcluster "$version" "$name" promote
  echo "pg_ctlcluster $version $name promote returned"
  ;;
preserve)
  stamp=$1
  [ -e "$data" ] || { echo "nothing to preserve: $data does not exist"; exit 0; }
  aside="$data.hadome-aside-$stamp"
  n=2
  while [ -e "$aside" ]; do aside="$data.hadome-aside-$stamp-$n"; n=$((n + 1)); done
  $sudo mv -T -- "$data" "$aside"
  [ -d "$aside" ] && [ ! -e "$data" ] || fail "$data was not moved to $aside"
  echo "moved to $aside"
  ;;
put-back)
  aside=$1
  [ ! -e "$data" ] || fail "$data exists again: $aside stays where it is"
  $sudo mv -T -- "$aside" "$data"
  echo "moved $aside back to $data"
  ;;
basebackup)
  conninfo=$1
  [ ! -e "$data" ] || fail "$data exists: it must be moved aside first"
  $sudo runuser -u "$(owner)" -- "$bin/pg_basebackup" -D "$data" -R -X stream -c fast -d "$conninfo"
  [ -f "$data/standby.signal" ] || fail "pg_basebackup left no standby.signal in $data"
  $sudo systemctl unmask --runtime "$unit" >/dev/null 2>&1 || true
  $sudo systemctl start "$unit"
  [ "$(state)" = active ] || fail "$unit is $(state) after its start: journalctl -u $unit says why"
  echo "copied with pg_basebackup -R -X stream; $unit is active"
  ;;
room)
  needed=$1
  dir=$data
  while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  free=$(df -B1 --output=avail "$dir" | tail -n 1 | tr -d ' ')
  case "$free" in ''|*[!0-9]*) fail "df did not say how much is free on the filesystem of $dir";; esac
  [ "$free" -ge "$needed" ] \
    || fail "no room for the copy: $needed bytes needed, $free free on the filesystem of $dir"
  echo "$free bytes free beside $data"
  ;;
reaches)
  conninfo=$1
  [ -x "$bin/pg_basebackup" ] || fail "no $bin/pg_basebackup on this host"
  $sudo runuser -u "$(owner)" -- "$bin/psql" -X -A -t -d "$conninfo" -c IDENTIFY_SYSTEM >/dev/null \
    || fail "no replication connection from this host to the source"
  echo "the source answers a replication connection from this host"
  ;;
*)
  fail "unknown action $action"
  ;;
esac
"#;

/// One built-in action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Stop,
    Start,
    Fence,
    Promote,
    /// Move the data directory aside, with this stamp.
    Preserve(String),
    /// Move this directory back to the data directory.
    PutBack(String),
    /// Copy from the source reached with this conninfo (no password in it).
    Basebackup(String),
    /// At least this many bytes free beside the data directory.
    Room(u64),
    /// A replication connection with this conninfo from the host.
    Reaches(String),
}

impl Action {
    fn words(&self) -> (&'static str, Option<String>) {
        match self {
            Action::Stop => ("stop", None),
            Action::Start => ("start", None),
            Action::Fence => ("fence", None),
            Action::Promote => ("promote", None),
            Action::Preserve(stamp) => ("preserve", Some(stamp.clone())),
            Action::PutBack(aside) => ("put-back", Some(aside.clone())),
            Action::Basebackup(conninfo) => ("basebackup", Some(conninfo.clone())),
            Action::Room(bytes) => ("room", Some(bytes.to_string())),
            Action::Reaches(conninfo) => ("reaches", Some(conninfo.clone())),
        }
    }

    fn timeout(&self) -> Duration {
        match self {
            Action::Fence => FENCE_TIMEOUT,
            Action::Basebackup(_) => crate::COMMAND_TIMEOUT,
            _ => UNIT_TIMEOUT,
        }
    }
}

/// The cluster an instance's built-in actions act on: its own when `actions = "debian"`, else
/// the one its data directory names (`/var/lib/postgresql/15/main`), for the steps every
/// instance on an SSH host needs (move aside, pre-flight); `None` when neither says.
pub(crate) fn cluster_of(instance: &Instance) -> DebianCluster {
    instance.commands.debian.clone().unwrap_or_else(|| {
        let mut parts = instance
            .data_dir
            .components()
            .rev()
            .filter_map(|part| part.as_os_str().to_str());
        let name = parts.next().unwrap_or("main").to_owned();
        let version = parts.next().unwrap_or("15").to_owned();
        DebianCluster { version, name }
    })
}

/// Whether `instance`'s data directory and processes are reached through the built-in actions
/// rather than here: it is a Debian cluster, or it lives on a host reached over SSH (whose data
/// directory this machine must never touch: a path of the same name here is another's).
pub(crate) fn remote_or_debian(estate: &Estate, instance: &Instance) -> bool {
    instance.commands.debian.is_some() || estate.ssh_of(&instance.host).is_some()
}

/// Moves `instance`'s data directory aside where it lives (`DATA.hadome-aside-STAMP`); where it
/// went, `None` when there was nothing to move.
pub(crate) async fn preserve(
    estate: &Estate,
    instance: &Instance,
) -> Result<Option<std::path::PathBuf>, CommandError> {
    let stamp = hadome_core::fact::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64),
    )
    .utc_stamp();
    let ran = run(estate, instance, &Action::Preserve(stamp)).await?;
    Ok(ran
        .said
        .strip_prefix("moved to ")
        .map(std::path::PathBuf::from))
}

/// Runs `action` on `instance`'s cluster, where it lives, bounded; journaled as `built-in ACTION
/// of postgresql@VERSION-NAME.service` (and `on HOST: ` when remote).
pub(crate) async fn run(
    estate: &Estate,
    instance: &Instance,
    action: &Action,
) -> Result<Ran, CommandError> {
    let cluster = cluster_of(instance);
    let (word, argument) = action.words();
    let mut argv: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        SCRIPT.into(),
        "hadome-debian".into(),
        word.into(),
        cluster.version.clone(),
        cluster.name.clone(),
        instance.data_dir.display().to_string(),
    ];
    let mut shown = format!("built-in {word} of {}", cluster.unit());
    if let Some(argument) = argument {
        shown.push(' ');
        match action {
            Action::Basebackup(_) | Action::Reaches(_) => {
                shown.push_str(&hadome_observer::strip_password(&argument))
            }
            _ => shown.push_str(&argument),
        }
        argv.push(argument);
    }
    run_where(estate, &instance.name, &argv, shown, action.timeout()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_valid_posix_shell() {
        // `sh -n` parses without running: a syntax error here would fail every action.
        let status = std::process::Command::new("sh")
            .args(["-n", "-c", SCRIPT])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn an_unknown_action_fails_and_says_so() {
        let output = std::process::Command::new("sh")
            .args([
                "-c",
                SCRIPT,
                "hadome-debian",
                "dance",
                "15",
                "main",
                "/nowhere",
            ])
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("unknown action dance"));
    }

    #[test]
    fn preserve_and_put_back_move_a_directory_and_delete_nothing() {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("main");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("PG_VERSION"), "15\n").unwrap();
        let run = |words: &[&str]| {
            std::process::Command::new("sh")
                .args(["-c", SCRIPT, "hadome-debian"])
                .args(words)
                .output()
                .unwrap()
        };
        let data_text = data.display().to_string();
        let moved = run(&["preserve", "15", "main", &data_text, "20261204T120000Z"]);
        assert!(moved.status.success(), "{moved:?}");
        let aside = scratch.path().join("main.hadome-aside-20261204T120000Z");
        assert!(aside.join("PG_VERSION").exists());
        assert!(!data.exists());
        std::fs::create_dir(&data).unwrap();
        let again = run(&["preserve", "15", "main", &data_text, "20261204T120000Z"]);
        assert!(again.status.success(), "{again:?}");
        assert!(scratch
            .path()
            .join("main.hadome-aside-20261204T120000Z-2")
            .exists());
        assert!(aside.join("PG_VERSION").exists());
        let aside_text = aside.display().to_string();
        std::fs::create_dir(&data).unwrap();
        let refused = run(&["put-back", "15", "main", &data_text, &aside_text]);
        assert!(!refused.status.success());
        assert!(aside.join("PG_VERSION").exists(), "nothing moved over");
        std::fs::remove_dir(&data).unwrap();
        let back = run(&["put-back", "15", "main", &data_text, &aside_text]);
        assert!(back.status.success(), "{back:?}");
        assert!(data.join("PG_VERSION").exists() && !aside.exists());
        let nothing = run(&["preserve", "15", "main", "/nowhere/at/all", "x"]);
        assert!(String::from_utf8_lossy(&nothing.stdout).contains("nothing to preserve"));
    }
}
