//! The etcd observer (issue 13): what every `[[etcd]]` member says of itself, as
//! [`MemberProbe`]s.
//!
//! [`observe_members`] probes every member **concurrently**, one task each, and each probe is
//! bounded as a whole (connect, status, member list, alarms, a linearizable read) by the estate's
//! `probe_timeout_seconds`: a hung member (SIGSTOPped) is reported
//! [`MemberOutcome::Unreachable`] with [`FailureKind::Timeout`] within the bound. A probe that
//! fails in any way, a panic included, is that member's `Unreachable`: never an error, so the
//! `quorum` rule counts it as down (fail closed). The probe only reads; nothing here changes a
//! member.
//!
//! A quorum's TLS (`ca_file`, a client certificate) and credentials (`user`, `password_file`)
//! are applied to each of its members' connections (rustls, through `etcd-client`'s `tls`
//! feature). The password is read from its file by each probe and handed to the client: it is
//! never stored, logged or journaled, and an error never quotes it.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{
    AlarmAction, AlarmType, Certificate, Client, ConnectOptions, Identity, TlsOptions,
};
use hadome_core::estate::Estate;
use hadome_core::fact::FailureKind;
use hadome_core::quorum::{EtcdMember, EtcdSecurity, MemberOutcome, MemberProbe, MemberState};
use tokio::task::JoinSet;

/// What a member's `Status` said, as plain values (the client's response types cannot be built
/// without a server, so the mapping into [`MemberState`] is tested from these).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    member_id: u64,
    leader_id: u64,
    raft_term: u64,
    raft_index: u64,
    db_size_bytes: i64,
    is_learner: bool,
    errors: Vec<String>,
}

/// Probes every etcd member of `estate` concurrently, each bounded by `probe_timeout_seconds`.
///
/// Every member gets a [`MemberProbe`]: answered, or unreachable with the reason and its kind.
/// The map goes into `Facts::members`. It must run inside a tokio runtime.
pub async fn observe_members(estate: &Estate) -> BTreeMap<String, MemberProbe> {
    let seconds = estate.probe_timeout_seconds;
    let timeout = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| !timeout.is_zero());
    let mut probes = BTreeMap::new();
    let Some(timeout) = timeout else {
        for member in &estate.etcd_members {
            probes.insert(
                member.name.clone(),
                unreachable(
                    format!("not probed: probe_timeout_seconds = {seconds} is not a positive number of seconds"),
                    FailureKind::Other,
                ),
            );
        }
        return probes;
    };
    let mut tasks = JoinSet::new();
    let mut names = BTreeMap::new();
    for member in &estate.etcd_members {
        let name = member.name.clone();
        let member = member.clone();
        let security = estate
            .quorum_of(&member.name)
            .map(|quorum| quorum.security.clone())
            .unwrap_or_default();
        let handle = tasks.spawn(async move {
            let observed_at = crate::now();
            let probed = tokio::time::timeout(timeout, probe(&member, &security, timeout)).await;
            let outcome = match probed {
                Ok(Ok(state)) => MemberOutcome::Answered(state),
                Ok(Err(ProbeError::Etcd(error))) => {
                    let text = error.to_string();
                    let text = match tls_reason(&text) {
                        Some(reason) => format!("{reason}: {text}"),
                        None => text,
                    };
                    MemberOutcome::Unreachable {
                        kind: FailureKind::of_error(&text),
                        error: text,
                    }
                }
                Ok(Err(error @ ProbeError::Read { .. })) => MemberOutcome::Unreachable {
                    error: error.to_string(),
                    kind: FailureKind::Other,
                },
                Err(_) => MemberOutcome::Unreachable {
                    error: format!(
                        "no answer within {} (probe_timeout_seconds)",
                        crate::seconds(timeout)
                    ),
                    kind: FailureKind::Timeout,
                },
            };
            (
                member.name,
                MemberProbe {
                    observed_at,
                    outcome,
                },
            )
        });
        names.insert(handle.id(), name);
    }
    crate::join_probes(tasks, &names, |why| unreachable(why, FailureKind::Other)).await
}

fn unreachable(error: String, kind: FailureKind) -> MemberProbe {
    MemberProbe {
        observed_at: crate::now(),
        outcome: MemberOutcome::Unreachable { error, kind },
    }
}

/// What a TLS failure in a client's error `text` means, in words (rustls names it in code:
/// `InvalidCertificate(UnknownIssuer)`), when it is one.
pub fn tls_reason(text: &str) -> Option<&'static str> {
    let any = |needles: &[&str]| needles.iter().any(|needle| text.contains(needle));
    if any(&["UnknownIssuer", "BadSignature"]) {
        Some(
            "the member's certificate was not trusted: it is not signed by the CA of `ca_file` \
             (is `ca_file` the CA that signed the members' certificates?)",
        )
    } else if any(&["NotValidForName"]) {
        Some(
            "the member's certificate was not trusted: it does not name the endpoint's host \
             (write the endpoint with a name or address its certificate lists)",
        )
    } else if any(&["Expired", "NotValidYet"]) {
        Some("the member's certificate was not trusted: it is outside its validity period")
    } else if any(&["CertificateRequired", "BadCertificate", "bad certificate"]) {
        Some(
            "the member did not accept the client certificate (is `cert_file` signed by the CA \
             the members trust?)",
        )
    } else if any(&["without sending TLS close_notify"]) {
        // TLS 1.3 checks the client's certificate after the client's side of the handshake:
        // a member that refuses it may close before its alert is read.
        Some(
            "the member closed the TLS connection without a word (does it accept the client \
             certificate of `cert_file`? a refused one is often closed so)",
        )
    } else {
        None
    }
}

/// Why a probe got no answer: the member's (or the connection's), or a file of the quorum's
/// security that could not be read (which names the file, never its content).
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error(transparent)]
    Etcd(#[from] etcd_client::Error),
    #[error(transparent)]
    Read(#[from] SecurityFileError),
}

/// A file of an etcd connection's TLS or credentials that could not be read: it names the
/// file and the key that gives it, never the file's content.
#[derive(Debug, thiserror::Error)]
#[error("could not read {what} `{}` ({table} `{key}`): {source}", path.display())]
pub struct SecurityFileError {
    /// What the file holds ("the CA certificate").
    pub what: &'static str,
    /// The estate file's table that names it (`[[quorum]]`, `[coordination]`).
    pub table: &'static str,
    /// The key that names it (`ca_file`).
    pub key: &'static str,
    /// The file.
    pub path: std::path::PathBuf,
    /// Why it could not be read.
    #[source]
    pub source: std::io::Error,
}

/// Reads one file of a connection's security.
async fn read(
    what: &'static str,
    table: &'static str,
    key: &'static str,
    path: &std::path::Path,
) -> Result<Vec<u8>, SecurityFileError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| SecurityFileError {
            what,
            table,
            key,
            path: path.to_owned(),
            source,
        })
}

/// The connection options for an etcd of `security` (a quorum's members, `[coordination]`'s
/// cluster, which `table` names in errors), each connect and call bounded by `timeout`: TLS
/// with its CA (and client certificate), and the user with the password read from its file
/// now. The password goes to the client only: it is never stored, logged or quoted in an error.
pub async fn connect_options(
    security: &EtcdSecurity,
    timeout: Duration,
    table: &'static str,
) -> Result<ConnectOptions, SecurityFileError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_timeout(timeout);
    if let Some(ca_file) = &security.ca_file {
        let ca = read("the CA certificate", table, "ca_file", ca_file).await?;
        let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(ca));
        if let Some((cert_file, key_file)) = &security.client_cert {
            let cert = read("the client certificate", table, "cert_file", cert_file).await?;
            let key = read("the client certificate's key", table, "key_file", key_file).await?;
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        options = options.with_tls(tls);
    }
    if let Some(credentials) = &security.credentials {
        let password = read(
            "the password",
            table,
            "password_file",
            &credentials.password_file,
        )
        .await?;
        let password = String::from_utf8_lossy(&password);
        let password = password.strip_suffix('\n').unwrap_or(&password);
        let password = password.strip_suffix('\r').unwrap_or(password);
        options = options.with_user(credentials.user.clone(), password.to_owned());
    }
    Ok(options)
}

/// One member: status, member list, alarms, and a linearizable read.
async fn probe(
    member: &EtcdMember,
    security: &EtcdSecurity,
    timeout: Duration,
) -> Result<MemberState, ProbeError> {
    let options = connect_options(security, timeout, "[[quorum]]").await?;
    let mut client = Client::connect(&member.endpoints, Some(options)).await?;
    let status = client.status().await?;
    let status = Status {
        member_id: status.header().map_or(0, |header| header.member_id()),
        leader_id: status.leader(),
        raft_term: status.raft_term(),
        raft_index: status.raft_index(),
        db_size_bytes: status.db_size(),
        is_learner: status.is_learner(),
        errors: status.errors().to_vec(),
    };
    // A learner (a member added by `replace-member`, catching up) answers `Status` and nothing
    // else of these: etcd 3.4 refuses it the member list, alarms and a linearizable read ("rpc
    // not supported for learner"). Its status is all there is to know; it does not vote.
    if status.is_learner {
        return Ok(member_state(status, Vec::new(), &[]));
    }
    let list = client.member_list().await?;
    let members: Vec<(u64, String)> = list
        .members()
        .iter()
        .map(|listed| (listed.id(), listed.name().to_owned()))
        .collect();
    let alarms = client
        .alarm(AlarmAction::Get, AlarmType::None, None)
        .await?;
    let alarms: Vec<AlarmType> = alarms.alarms().iter().map(|alarm| alarm.alarm()).collect();
    let mut state = member_state(status, members, &alarms);
    if let Some(failed) = linearizable_read(&mut client, timeout / 2).await {
        state.errors.push(failed);
    }
    Ok(state)
}

/// A linearizable read (etcd's default `Range`) of the key `health`, as etcd's own health check
/// does, bounded by `bound`: the member must confirm with the leader that it is current. A member
/// cut off from its peers still answers `Status` from memory, but cannot do this. `None` when
/// the read completed; otherwise why not, which goes into the member's `errors` (so it counts
/// as down).
async fn linearizable_read(client: &mut Client, bound: Duration) -> Option<String> {
    match tokio::time::timeout(bound, client.get("health", None)).await {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(format!("a linearizable read failed: {error}")),
        Err(_) => Some(format!(
            "a linearizable read did not complete within {} (half the probe timeout): the member \
             may be cut off from its leader",
            crate::seconds(bound)
        )),
    }
}

/// What the three answers say, as the core's [`MemberState`]: alarms by etcd's names
/// (`NOSPACE`, `CORRUPT`), each once, `NONE` dropped; a negative size (never sent) as 0.
fn member_state(status: Status, members: Vec<(u64, String)>, alarms: &[AlarmType]) -> MemberState {
    let mut names: Vec<String> = alarms
        .iter()
        .filter(|alarm| **alarm != AlarmType::None)
        .map(|alarm| alarm.as_str_name().to_owned())
        .collect();
    names.sort_unstable();
    names.dedup();
    MemberState {
        member_id: status.member_id,
        leader_id: status.leader_id,
        raft_term: status.raft_term,
        raft_index: status.raft_index,
        db_size_bytes: u64::try_from(status.db_size_bytes).unwrap_or(0),
        is_learner: status.is_learner,
        errors: status.errors,
        alarms: names,
        members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_maps_to_the_core_s_member_state() {
        let status = Status {
            member_id: 2,
            leader_id: 1,
            raft_term: 7,
            raft_index: 5000,
            db_size_bytes: 20 << 20,
            is_learner: false,
            errors: vec!["slow fdatasync".to_owned()],
        };
        let members = vec![(1, "etcd-1".to_owned()), (2, "etcd-2".to_owned())];
        let state = member_state(
            status,
            members.clone(),
            &[
                AlarmType::Nospace,
                AlarmType::None,
                AlarmType::Nospace,
                AlarmType::Corrupt,
            ],
        );
        assert_eq!(
            state,
            MemberState {
                member_id: 2,
                leader_id: 1,
                raft_term: 7,
                raft_index: 5000,
                db_size_bytes: 20 << 20,
                is_learner: false,
                errors: vec!["slow fdatasync".to_owned()],
                alarms: vec!["CORRUPT".to_owned(), "NOSPACE".to_owned()],
                members,
            }
        );
    }

    #[test]
    fn a_tls_failure_is_said_in_words() {
        let unknown = "grpc request error: message: \"invalid peer certificate: UnknownIssuer\", \
                       source: ConnectError(Custom { error: InvalidCertificate(UnknownIssuer) })";
        assert!(tls_reason(unknown)
            .unwrap()
            .starts_with("the member's certificate was not trusted: it is not signed by the CA"));
        assert!(tls_reason("InvalidCertificate(NotValidForName)")
            .unwrap()
            .contains("does not name the endpoint's host"));
        assert_eq!(tls_reason("connection refused"), None);
    }

    #[tokio::test]
    async fn a_member_that_refuses_is_a_fact_not_an_error() {
        // Port 1 on loopback: nothing listens, so the connection is refused at once.
        let estate = Estate {
            instances: Vec::new(),
            clusters: Vec::new(),
            journal_path: "/tmp/j".into(),
            probe_timeout_seconds: 2.0,
            probe_interval_seconds: 1.0,
            notify: Default::default(),
            backups: Vec::new(),
            snapshots: Vec::new(),
            hosts: Vec::new(),
            etcd_members: vec![EtcdMember {
                name: "etcd-1".to_owned(),
                endpoints: vec!["http://127.0.0.1:1".to_owned()],
                host: "h1".to_owned(),
                data_dir: None,
                commands: Default::default(),
            }],
            quorums: Vec::new(),
            coordination: None,
            api: None,
            web: Default::default(),
        };
        let probes = observe_members(&estate).await;
        let probe = &probes["etcd-1"];
        assert!(
            matches!(probe.outcome, MemberOutcome::Unreachable { .. }),
            "{probe:?}"
        );
    }
}
