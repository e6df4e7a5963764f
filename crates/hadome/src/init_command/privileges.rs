//! hadome's role on each running cluster: connected as it, the one way hadome reaches a server
//! (`hadome_observer::connect_config`), and asked which grants of `docs/privileges.md` it holds.
//!
//! Nothing is changed: the session reads `pg_has_role`, `has_table_privilege`,
//! `has_function_privilege` and `has_parameter_privilege` for its own role. A missing grant comes
//! with the statement that gives it, as `docs/privileges.md` writes it (a test keeps them equal).

use std::time::Duration;

use hadome_observer::Connect;

use super::clusters::LocalCluster;

/// The bound on connecting and asking, per cluster: like a probe's, a hung server is reported,
/// never waited on.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The `application_name` of `init`'s sessions (`pg_stat_activity` shows who asked).
const APPLICATION_NAME: &str = "hadome-init";

/// What a grant serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// The observer's probe: `check`, `status`, `ask` and every pass.
    Probe,
    /// What supervision changes on servers: the daemon's and `hadome run`'s promotions and
    /// `synchronous_standby_names`.
    Supervision,
}

impl Purpose {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Purpose::Probe => "probe",
            Purpose::Supervision => "supervision",
        }
    }
}

/// One privilege of `docs/privileges.md`.
#[derive(Debug)]
pub(super) struct Grant {
    /// What it is, in words (`EXECUTE on pg_promote(boolean, integer)`).
    pub(super) privilege: &'static str,
    pub(super) purpose: Purpose,
    /// Optional: hadome works without it, knowing less (a warning, not a failure).
    pub(super) optional: bool,
    /// A boolean SQL expression: whether the session's role holds it.
    test: &'static str,
    /// The statement that grants it, with `{role}` for the role.
    statement: &'static str,
    /// The first PostgreSQL version (`server_version_num`) that has this grant; before it, only
    /// a superuser holds the privilege.
    since_version_num: i32,
}

impl Grant {
    /// The statement that gives it to `role` (an identifier, quoted as SQL wants it).
    pub(super) fn statement_for(&self, role: &str) -> String {
        self.statement.replace("{role}", role)
    }
}

/// The grants of `docs/privileges.md`: the probe's, then supervision's.
pub(super) const GRANTS: [Grant; 7] = [
    Grant {
        privilege: "membership in pg_monitor",
        purpose: Purpose::Probe,
        optional: false,
        test: "pg_has_role('pg_monitor', 'USAGE')",
        statement: "GRANT pg_monitor TO {role};",
        since_version_num: 0,
    },
    Grant {
        privilege: "SELECT on pg_file_settings",
        purpose: Purpose::Probe,
        optional: false,
        test: "has_table_privilege('pg_catalog.pg_file_settings', 'SELECT')",
        statement: "GRANT SELECT ON pg_catalog.pg_file_settings TO {role};",
        since_version_num: 0,
    },
    Grant {
        privilege: "EXECUTE on pg_show_all_file_settings()",
        purpose: Purpose::Probe,
        optional: false,
        test: "has_function_privilege('pg_catalog.pg_show_all_file_settings()', 'EXECUTE')",
        statement: "GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_all_file_settings() TO {role};",
        since_version_num: 0,
    },
    Grant {
        privilege: "EXECUTE on pg_read_file(text, bigint, bigint, boolean)",
        purpose: Purpose::Probe,
        optional: true,
        test: "has_function_privilege(\
               'pg_catalog.pg_read_file(text, bigint, bigint, boolean)', 'EXECUTE')",
        statement: "GRANT EXECUTE ON FUNCTION \
                    pg_catalog.pg_read_file(text, bigint, bigint, boolean) TO {role};",
        since_version_num: 0,
    },
    Grant {
        privilege: "EXECUTE on pg_promote(boolean, integer)",
        purpose: Purpose::Supervision,
        optional: false,
        test: "has_function_privilege('pg_catalog.pg_promote(boolean, integer)', 'EXECUTE')",
        statement: "GRANT EXECUTE ON FUNCTION pg_catalog.pg_promote(boolean, integer) TO {role};",
        since_version_num: 0,
    },
    Grant {
        privilege: "ALTER SYSTEM on synchronous_standby_names",
        purpose: Purpose::Supervision,
        optional: false,
        test: "has_parameter_privilege('synchronous_standby_names', 'ALTER SYSTEM')",
        statement: "GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names TO {role};",
        since_version_num: 150_000,
    },
    Grant {
        privilege: "EXECUTE on pg_reload_conf()",
        purpose: Purpose::Supervision,
        optional: false,
        test: "has_function_privilege('pg_catalog.pg_reload_conf()', 'EXECUTE')",
        statement: "GRANT EXECUTE ON FUNCTION pg_catalog.pg_reload_conf() TO {role};",
        since_version_num: 0,
    },
];

/// Whether the role holds one grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Holding {
    Granted,
    /// Not held; the statement gives it.
    Missing {
        statement: String,
    },
    /// This PostgreSQL version lets only a superuser have it (no statement gives it to a role).
    SuperuserOnly,
}

/// What one running cluster said about hadome's role.
#[derive(Debug, Clone)]
pub(super) struct Privileges {
    pub(super) superuser: bool,
    pub(super) in_recovery: bool,
    /// `server_version` (`15.18 (Debian 15.18-0+deb12u1)`).
    pub(super) server_version: String,
    /// [`GRANTS`], in order, each with whether it is held.
    pub(super) holdings: Vec<(&'static Grant, Holding)>,
}

impl Privileges {
    /// The statements that give what is missing and not optional.
    pub(super) fn missing_required(&self) -> Vec<&str> {
        self.holdings
            .iter()
            .filter(|(grant, _)| !grant.optional)
            .filter_map(|(_, holding)| match holding {
                Holding::Missing { statement } => Some(statement.as_str()),
                Holding::Granted | Holding::SuperuserOnly => None,
            })
            .collect()
    }
}

/// How far `init` got with one cluster.
#[derive(Debug, Clone)]
pub(super) enum Reach {
    /// Not running when listed: nothing was asked.
    NotRunning,
    /// Running, but the role could not connect or ask: why, and what to do when hadome knows.
    Refused {
        reason: String,
        hint: Option<String>,
    },
    Checked(Privileges),
}

impl Reach {
    /// Whether hadome knows the role holds every grant that is not optional.
    pub(super) fn complete(&self) -> bool {
        match self {
            Reach::Checked(privileges) => privileges.missing_required().is_empty(),
            Reach::NotRunning | Reach::Refused { .. } => false,
        }
    }
}

/// Connects to `cluster` through `conninfo` (as hadome's role) and asks which grants it holds;
/// a cluster that is not running is not asked. Bounded by [`CHECK_TIMEOUT`].
pub(super) async fn check(cluster: &LocalCluster, conninfo: &str, role: &str) -> Reach {
    if !cluster.running {
        return Reach::NotRunning;
    }
    let connect = match hadome_observer::connect_config(conninfo, CHECK_TIMEOUT, APPLICATION_NAME) {
        Ok(connect) => connect,
        Err(error) => {
            return Reach::Refused {
                reason: format!("its conninfo is not usable: {error}"),
                hint: None,
            }
        }
    };
    match tokio::time::timeout(CHECK_TIMEOUT, ask(&connect)).await {
        Ok(Ok(privileges)) => Reach::Checked(privileges),
        Ok(Err(reason)) => {
            let hint = refusal_hint(&reason, role);
            Reach::Refused { reason, hint }
        }
        Err(_) => Reach::Refused {
            reason: format!(
                "it did not answer within {} s (hung, or overloaded)",
                CHECK_TIMEOUT.as_secs()
            ),
            hint: None,
        },
    }
}

/// Connects and asks. The connection is driven here, not in a task of its own, so nothing
/// outlives the check (as the observer's probe does).
async fn ask(connect: &Connect) -> Result<Privileges, String> {
    let (client, connection) = connect.connect().await.map_err(|error| describe(&error))?;
    let mut connection = std::pin::pin!(connection);
    let answer = tokio::select! {
        answer = ask_on(&client) => answer,
        ended = &mut connection => Err(match ended {
            Err(error) => format!("the server ended the session: {}", describe(&error)),
            Ok(()) => "the server ended the session".to_owned(),
        }),
    };
    // End the session cleanly (a Terminate message), within a bound of its own.
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(1), connection).await;
    answer
}

async fn ask_on(client: &tokio_postgres::Client) -> Result<Privileges, String> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int4, \
                    current_setting('server_version'), \
                    coalesce((SELECT rolsuper FROM pg_catalog.pg_roles \
                              WHERE rolname = current_user), false), \
                    pg_is_in_recovery(), \
                    quote_ident(current_user)",
            &[],
        )
        .await
        .map_err(|error| describe(&error))?;
    let version_num: i32 = row.get(0);
    let server_version: String = row.get(1);
    let superuser: bool = row.get(2);
    let in_recovery: bool = row.get(3);
    let role: String = row.get(4);
    let asked: Vec<&'static Grant> = GRANTS
        .iter()
        .filter(|grant| version_num >= grant.since_version_num)
        .collect();
    let tests: Vec<&str> = asked.iter().map(|grant| grant.test).collect();
    let answers = client
        .query_one(&format!("SELECT {}", tests.join(", ")), &[])
        .await
        .map_err(|error| describe(&error))?;
    let mut holdings = Vec::with_capacity(GRANTS.len());
    for grant in &GRANTS {
        let holding = match asked.iter().position(|asked| std::ptr::eq(*asked, grant)) {
            None if superuser => Holding::Granted,
            None => Holding::SuperuserOnly,
            Some(column) => {
                let held: bool = answers.try_get(column).map_err(|error| describe(&error))?;
                if held {
                    Holding::Granted
                } else {
                    Holding::Missing {
                        statement: grant.statement_for(&role),
                    }
                }
            }
        };
        holdings.push((grant, holding));
    }
    Ok(Privileges {
        superuser,
        in_recovery,
        server_version,
        holdings,
    })
}

/// A driver error in words: PostgreSQL's own message for a server error (`FATAL: role "x" does
/// not exist`), the causes otherwise (tokio-postgres's own `Display` says only "db error").
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// What to do about a refused connection, when the reason says.
fn refusal_hint(reason: &str, role: &str) -> Option<String> {
    if reason.contains("Peer authentication failed") {
        Some(format!(
            "peer authentication maps the OS user to the role: run `hadome init` as the OS user \
             the daemon runs as (`sudo -u {role} hadome init …`), or give pg_hba.conf another \
             method for `{role}`"
        ))
    } else if reason.contains("does not exist") && reason.contains("role") {
        Some(format!(
            "create the role on the primary, as a superuser: `CREATE ROLE {role} LOGIN;`, then \
             the grants of docs/privileges.md"
        ))
    } else if reason.contains("no pg_hba.conf entry") {
        Some(format!(
            "add a pg_hba.conf line for the role, such as `local postgres {role} peer`, and \
             reload the server"
        ))
    } else if reason.contains("password") {
        Some(
            "hadome's conninfo carries no password: use peer authentication, a certificate, or \
             `passfile=` in the instance's conninfo"
                .to_owned(),
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_statement_is_the_one_docs_privileges_md_gives() {
        let doc = include_str!("../../../../docs/privileges.md");
        for grant in &GRANTS {
            let statement = grant.statement_for("hadome");
            assert!(
                doc.contains(&statement),
                "docs/privileges.md does not give `{statement}` ({})",
                grant.privilege
            );
        }
    }

    #[test]
    fn only_pg_read_file_is_optional() {
        let optional: Vec<&str> = GRANTS
            .iter()
            .filter(|grant| grant.optional)
            .map(|grant| grant.privilege)
            .collect();
        assert_eq!(
            optional,
            ["EXECUTE on pg_read_file(text, bigint, bigint, boolean)"]
        );
    }

    #[test]
    fn a_refusal_names_the_fix_it_knows() {
        let peer = refusal_hint(
            "FATAL: Peer authentication failed for user \"hadome\"",
            "hadome",
        )
        .expect("a hint");
        assert!(peer.contains("sudo -u hadome hadome init"), "{peer}");
        let missing =
            refusal_hint("FATAL: role \"hadome\" does not exist", "hadome").expect("a hint");
        assert!(missing.contains("CREATE ROLE hadome LOGIN;"), "{missing}");
        assert_eq!(refusal_hint("connection refused", "hadome"), None);
    }
}
