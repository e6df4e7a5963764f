//! The drills: each incident of `../shared/incidents/README.md` that hadome guards, as the steps a
//! person would take on the lab, with what each must show. `{dir}` is the drill's lab directory,
//! `{config}` its estate file.

use super::{Drill, Shows, Step};

/// Every drill, in incident order.
pub(crate) const DRILLS: &[Drill] = &[
    Drill {
        name: "misskey",
        incident: "A: a bot overwrote the freshest copies with a months-old replica",
        summary: "A stalled copy and an unapplied setting are found while every process is up; the bot's overwrite of the fresh primary from the stale copy is denied; the safe direction is done, guarded, until the estate checks clean.",
        steps: misskey,
    },
    Drill {
        name: "mackerel",
        incident: "B: a failover promoted a standby that had silently stopped replicating",
        summary: "The daemon supervises a trio; the primary freezes; the daemon waits until the standbys heard nothing either, fences the old primary, promotes the synchronous standby that holds every commit, and the old primary cannot come back as a second primary.",
        steps: mackerel,
    },
    Drill {
        name: "s512",
        incident: "C: a reboot timer rebooted a host forever, and the host was deleted with the only copy of its uploads",
        summary: "On a real systemd, check names the timer that can loop; with its stamp lost the host reboots at every boot; hadome's guard installed on its disk stops the loop at the next boot (systemd skips the reboot because hadome ask reboot denied it); deleting the host is denied while its uploads are uncovered, allowed once a verified final image covers them, and run delete-host takes and verifies a final image before it deletes (moving the host aside).",
        steps: s512,
    },
    Drill {
        name: "quorum",
        incident: "D: an image of a healthy member rebooted it while another was down, and the quorum was lost",
        summary: "Three real etcd members, one down: check says the cluster tolerates no further failure; imaging a healthy member's host with the console's default reboot is denied with the arithmetic, an image without reboot is not; advise says wait; the member comes back by itself, and the same image is allowed; run reboot holds the cluster, reboots the host and loses no acknowledged write.",
        steps: quorum,
    },
    Drill {
        name: "showcase",
        incident: "E: a deploy pointed nginx at an exited container, and the route looped between the console and SSO",
        summary: "On real nginx and a real wildcard DNS: the app deployed the PaaS's way (a literal proxy_pass) arrives, but check already names the latent hazards; the app exits and is redeployed, and hadome gate fails the deploy with the console → SSO cycle named after at most one hop-limit of requests, before users meet it; check reports redirect-loop, nginx-static-resolve and port-collision; the fix (the app on its own port, a resolver and a variable upstream) passes ask reload and the gate, and check has none of the three.",
        steps: showcase,
    },
];

fn misskey() -> Vec<Step> {
    vec![
        Step::Say("Incident A's estate: db-1 primary, db-2 its synchronous standby, db-3 an asynchronous copy, db-4 cascaded from db-3."),
        Step::Run {
            args: &["lab", "up", "misskey", "--dir", "{dir}"],
            exit: &[0],
            shows: Shows::All(&["db-4"]),
        },
        Step::Say("Two slips, as in 2021: a configuration change on db-4 never applied, and db-3 left behind until the WAL it needs is recycled."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "config-change", "db-4", "work_mem=64MB"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "stall", "db-3"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Say("hadome check sees both at once, though every process is up (exit 1: something is critical)."),
        Step::Run {
            args: &["check", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["replication-stalled", "config-applied"]),
        },
        Step::Say("Months later a DDoS freezes db-1 and db-2. The bot wants to 'restore' them from db-3: denied."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "hang", "db-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "hang", "db-2"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["ask", "rebuild", "db-1", "--from", "db-3", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["overwrite-older"]),
        },
        Step::Say("The freeze passes. The safe direction is allowed: rebuild the stale copy from the fresh one, its data kept aside first."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "resume", "db-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "resume", "db-2"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["ask", "rebuild", "db-3", "--from", "db-1", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["preserve"]),
        },
        Step::Run {
            args: &["run", "rebuild", "db-3", "--from", "db-1", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["moved to"]),
        },
        Step::Say("Rebuilding db-3 strands its cascade, db-4: hadome says so, and the fix is the same safe direction."),
        Step::Run {
            args: &["run", "rebuild", "db-4", "--from", "db-3", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["moved to"]),
        },
        Step::Say("The estate checks clean."),
        Step::Await {
            args: &["check", "--config", "{config}"],
            shows: Shows::All(&["0 critical, 0 warnings"]),
            within: 30,
        },
    ]
}

fn mackerel() -> Vec<Step> {
    vec![
        Step::Say("Incident B, guarded: a trio (db-1 primary, db-2 synchronous, db-3 asynchronous) under hadome daemon."),
        Step::Run {
            args: &["lab", "up", "trio", "--dir", "{dir}"],
            exit: &[0],
            shows: Shows::All(&["db-3"]),
        },
        Step::StartDaemon,
        Step::AwaitDaemonLog {
            shows: Shows::All(&["healthy: `db-1` is the primary"]),
            within: 30,
        },
        Step::Say("db-1 freezes (every process stopped), as the Mackerel primary did. Its standbys keep a 'streaming' connection open."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "hang", "db-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Say("The daemon waits until db-1's standbys heard nothing from it either, fences db-1, and promotes db-2, which holds every acknowledged commit."),
        Step::Await {
            args: &["status", "--config", "{config}"],
            shows: Shows::Line(&["db-2", "primary"]),
            within: 30,
        },
        Step::AwaitDaemonLog {
            shows: Shows::All(&["fence", "db-2"]),
            within: 10,
        },
        Step::Say("The fence left db-1 unable to come back as a second primary: started again, it is read-only."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "start", "db-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Await {
            args: &["status", "--config", "{config}"],
            shows: Shows::Line(&["db-1", "standby"]),
            within: 30,
        },
        Step::StopDaemon,
    ]
}

fn s512() -> Vec<Step> {
    vec![
        Step::Say("Incident C's host: a real systemd (in a container), a daily reboot timer with Persistent=true against a memory leak, /srv/uploads that no backup covers, /srv/config that a backup does."),
        Step::Run {
            args: &["lab", "up", "s512", "--dir", "{dir}"],
            exit: &[0],
            shows: Shows::Line(&["s512", "running"]),
        },
        Step::Say("hadome check reads the host's units as systemd does and names the timer that can loop (exit 1: critical)."),
        Step::Run {
            args: &["check", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["systemd-reboot-loop", "reboot-daily.timer", "reboot-guard"]),
        },
        Step::Say("The timer's stamp does not survive a reboot (a lost write), and the host reboots once: from then on every boot fires the timer again. No guard yet: the host reboots in a loop, its boot count rising in its own journal."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "stamp-lost", "s512"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "reboot-host", "s512"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Await {
            args: &["lab", "status", "--dir", "{dir}", "--json"],
            shows: Shows::AtLeast {
                after: "\"boots\": ",
                at_least: 6,
            },
            within: 60,
        },
        Step::Say("A person powers the host off and installs hadome's reboot guard onto its disk: an ExecCondition= that runs `hadome ask reboot s512` on the host itself, from its own facts and journal, no daemon needed."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "stop-host", "s512"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["systemd", "drop-in", "reboot-guard", "--unit", "reboot-daily.service", "--host", "s512", "--root", "{dir}/hosts/s512/root"],
            exit: &[0],
            shows: Shows::All(&["hadome-reboot-guard.conf"]),
        },
        Step::Say("Powered on, the timer fires at once, as at every boot; systemd asks hadome first, hadome denies (up for seconds, and the boot history shows the loop), and systemd skips the reboot. The loop has stopped."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "start-host", "s512"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Await {
            args: &["lab", "exec", "--dir", "{dir}", "s512", "--", "journalctl", "-u", "reboot-daily.service", "-b", "--no-pager"],
            shows: Shows::All(&["reboot-uptime", "Skipped due to 'exec-condition'"]),
            within: 60,
        },
        Step::Run {
            args: &["ask", "reboot", "s512", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["reboot-uptime", "boot history"]),
        },
        Step::Say("Then the incident's second act: deleting the host, 'its data is backed up'. It is not: /srv/uploads has the only copy."),
        Step::Run {
            args: &["ask", "delete-host", "s512", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["destroy-coverage", "s512:/srv/uploads"]),
        },
        Step::Say("A final image, taken and verified, covers everything the host holds now: the deletion is allowed."),
        Step::Run {
            args: &["run", "image", "s512", "--no-reboot", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["is complete"]),
        },
        Step::Run {
            args: &["ask", "delete-host", "s512", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["ALLOW"]),
        },
        Step::Say("run delete-host takes and verifies one more final image before it deletes; the lab's delete moves the host aside, never removes it."),
        Step::Run {
            args: &["run", "delete-host", "s512", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["is complete", "moved"]),
        },
    ]
}

fn quorum() -> Vec<Step> {
    vec![
        Step::Say("Incident D's datastore: three etcd members, etcd-1..3 on hosts h1..h3 (the lab's real Debian etcd 3.4); it tolerates one member down. An acknowledged load runs against it first, so the drill can show what an outage would cost."),
        Step::Run {
            args: &["lab", "up", "etcd3", "--dir", "{dir}"],
            exit: &[0],
            shows: Shows::Line(&["etcd-3", "h3", "running"]),
        },
        Step::Await {
            args: &["check", "--config", "{config}"],
            shows: Shows::All(&["0 critical, 0 warnings"]),
            within: 30,
        },
        Step::Run {
            args: &["lab", "load", "--dir", "{dir}", "--ack-log", "{dir}/etcd-load.acks", "--duration", "2"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Say("One member becomes unreachable (its process stops). The cluster still has its quorum, and check says it tolerates no further failure."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "stop", "etcd-3"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Await {
            args: &["check", "--config", "{config}"],
            shows: Shows::Line(&["quorum", "tolerates no further failure"]),
            within: 30,
        },
        Step::Say("In a hurry to get back to three, the operator images a healthy member's host with the console's default, which reboots it. hadome denies it, with the arithmetic: 1 of 3 would be left."),
        Step::Run {
            args: &["ask", "image", "h2", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["quorum", "3 voters, quorum 2", "1 healthy left"]),
        },
        Step::Say("An image without the reboot takes no member down: not denied for quorum."),
        Step::Run {
            args: &["ask", "image", "h2", "--no-reboot", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["ALLOW"]),
        },
        Step::Say("The runbook's decision point: wait for the member, or replace it? advise decides from the facts: down only minutes, its host answers, and replacing it now would itself leave no failure to spare."),
        Step::Run {
            args: &["advise", "etcd-3", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["wait"]),
        },
        Step::Say("The member comes back by itself, as in the incident, and catches up."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "start", "etcd-3"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Await {
            args: &["check", "--config", "{config}"],
            shows: Shows::All(&["0 critical, 0 warnings"]),
            within: 60,
        },
        Step::Say("Now the same image, reboot and all, is allowed: two members stay up while h2 reboots."),
        Step::Run {
            args: &["ask", "image", "h2", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["ALLOW"]),
        },
        Step::Say("run reboot h2 holds the quorum cluster, reboots the lab host (its members stopped and started again: the lab cannot reboot this machine), and sees a new boot of h2. Nothing acknowledged was lost."),
        Step::Run {
            args: &["run", "reboot", "h2", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["not a real reboot", "it came back: boot", "reboot h2 done"]),
        },
        Step::Run {
            args: &["lab", "verify", "--dir", "{dir}", "--ack-log", "{dir}/etcd-load.acks"],
            exit: &[0],
            shows: Shows::All(&["has all"]),
        },
    ]
}

fn showcase() -> Vec<Step> {
    vec![
        Step::Say("Incident E's PaaS: nginx in front of a console (which sends a visitor without its cookie to SSO), an SSO (which sends them back with a token) and app-1, behind a DNS server with the incident's wildcard record *.apps.lab -> the console, all in a namespace the lab owns."),
        Step::Run {
            args: &["lab", "up", "showcase", "--dir", "{dir}"],
            exit: &[0],
            shows: Shows::All(&["app-1"]),
        },
        Step::Say("The PaaS deploys app-1 its usual way: a server block with a literal proxy_pass http://app-1:3000, which nginx resolves once, at load. The app runs, so the route arrives, and the gate passes."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "deploy", "app-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["gate", "app-1", "--within", "20", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["gate passed"]),
        },
        Step::Say("But check already names the hazard the deploy left behind: the literal name with no resolver, on the console's port."),
        Step::Run {
            args: &["check", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["nginx-static-resolve", "port-collision"]),
        },
        Step::Say("The app's container exits (its DNS record goes with it), and the PaaS redeploys it the same way. At load, app-1 now falls through the wildcard to the console."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "stop", "app-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "deploy", "app-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Say("The deploy script runs hadome gate: it fails the deploy at once, naming the cycle between the console and SSO, having sent at most one hop limit of requests."),
        Step::Run {
            args: &["gate", "app-1", "--within", "20", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["redirects in a cycle", "console.apps.lab", "sso.lab", "gate failed"]),
        },
        Step::Run {
            args: &["check", "--config", "{config}"],
            exit: &[1],
            shows: Shows::All(&["redirect-loop", "nginx-static-resolve", "port-collision"]),
        },
        Step::Say("The fix, both halves: the app back, on a port of its own; nginx with a resolver and a variable upstream, so a name is resolved per request and never frozen on the console. The deploy writes the block without reloading; hadome judges the new configuration (nginx -t and the lint) before it is loaded, then loads it."),
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "start", "app-1"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["lab", "fault", "--dir", "{dir}", "deploy", "app-1", "--fixed", "--no-reload"],
            exit: &[0],
            shows: Shows::All(&["not reloaded"]),
        },
        Step::Run {
            args: &["ask", "reload", "web", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["ALLOW"]),
        },
        Step::Run {
            args: &["run", "reload", "web", "--config", "{config}"],
            exit: &[0],
            shows: Shows::Anything,
        },
        Step::Run {
            args: &["gate", "app-1", "--within", "20", "--config", "{config}"],
            exit: &[0],
            shows: Shows::All(&["gate passed"]),
        },
        Step::Run {
            args: &["check", "--config", "{config}"],
            exit: &[0],
            shows: Shows::NoneOf(&["redirect-loop", "nginx-static-resolve", "port-collision"]),
        },
    ]
}
