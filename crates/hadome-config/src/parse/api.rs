//! `[api]` (issue 16): where `hadome daemon` serves its HTTP API, `/metrics` and dashboard, and
//! the `[[api.token]]`s that may change the estate through it.
//!
//! Without the table no API is served. `listen` is loopback unless `expose = true` says the
//! operator means it (the API has no TLS of its own: put a TLS proxy in front). Only the token
//! files' paths are read here; the daemon reads the secrets when it starts and when it reloads.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hadome_core::estate::{Api, ApiRole, ApiToken};
use toml::de::DeValue;

use super::{Context, Entry};
use crate::error::ConfigError;

/// The keys of `[api]`.
pub(super) const API_KEYS: &[&str] = &["listen", "expose", "token"];
/// The keys of each `[[api.token]]`.
const TOKEN_KEYS: &[&str] = &["name", "role", "file"];

/// Where the API listens when `listen` is left out.
pub(crate) const DEFAULT_API_LISTEN: &str = "127.0.0.1:8421";

impl Context<'_> {
    /// `[api]`: its address, whether it may be reached from other hosts, and its tokens.
    pub(super) fn api(&self, entry: &Entry<'_, '_>) -> Result<Api, ConfigError> {
        let table = self.subtable(entry, "api", "`[api]`")?;
        self.check_known(&table, API_KEYS)?;
        let expose = match table.get("expose") {
            None => false,
            Some(entry) => match entry.value.get_ref() {
                DeValue::Boolean(value) => *value,
                _ => {
                    return Err(self.wrong_type(
                        entry.value,
                        table.path("expose"),
                        "a boolean",
                        "write `expose = true` or leave it out (loopback only)",
                    ))
                }
            },
        };
        let listen = match self.string(&table, "listen", "listen = \"127.0.0.1:8421\"")? {
            None => DEFAULT_API_LISTEN.to_owned(),
            Some((text, offset)) => {
                let Ok(address) = text.parse::<SocketAddr>() else {
                    return Err(self.invalid(
                        offset,
                        table.path("listen"),
                        format!("is `{text}`, which is not an `IP:PORT` address"),
                        "write an address and a port, such as `listen = \"127.0.0.1:8421\"` \
                         (port 0: any free port, which the daemon logs)",
                    ));
                };
                if !address.ip().is_loopback() && !expose {
                    return Err(self.invalid(
                        offset,
                        table.path("listen"),
                        format!("is `{text}`, which other hosts can reach: the API has no TLS of its own, and anyone who reaches it can read the estate"),
                        "listen on loopback (`listen = \"127.0.0.1:8421\"`) and put a TLS proxy in front, or add `expose = true` to `[api]` if this network is trusted",
                    ));
                }
                text.to_owned()
            }
        };
        let mut tokens = Vec::new();
        if let Some(entry) = table.get("token") {
            let elements = self.array_of_tables(entry, "api.token")?;
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for (index, element) in elements.into_iter().enumerate() {
                let DeValue::Table(raw) = element.get_ref() else {
                    unreachable!("array_of_tables checked each element is a table");
                };
                let token = self.table(
                    raw,
                    format!("api.token[{index}]"),
                    "this `[[api.token]]`",
                    element.span().start,
                );
                self.check_known(&token, TOKEN_KEYS)?;
                let (name, offset) =
                    self.required_string(&token, "name", "name = \"chatops-bot\"")?;
                if let Some(line) = seen.get(name) {
                    return Err(self.invalid(
                        offset,
                        token.path("name"),
                        format!("is `{name}`, already the name of the token on line {line}"),
                        "give each token its own name: it is journaled as the actor of what the token does",
                    ));
                }
                seen.insert(name.to_owned(), self.line(offset));
                let (word, role_offset) =
                    self.required_string(&token, "role", "role = \"operator\"")?;
                let Some(role) = ApiRole::parse(word) else {
                    let roles: Vec<&str> = ApiRole::ALL.iter().map(|role| role.as_str()).collect();
                    return Err(self.invalid(
                        role_offset,
                        token.path("role"),
                        format!("is `{word}`, which is not a role"),
                        format!(
                            "use `viewer` (reads only), `acker` (may `POST /v1/ack`) or `operator` (may also `POST /v1/run`){}",
                            hadome_core::suggest::closest(word, &roles)
                                .map_or_else(String::new, |close| format!("; did you mean `{close}`?"))
                        ),
                    ));
                };
                let file = self.absolute_path(
                    &token,
                    "file",
                    "/etc/hadome/api/chatops-bot.token",
                    "the file that holds the token (its first line)",
                )?;
                tokens.push(ApiToken {
                    name: name.to_owned(),
                    role,
                    file,
                });
            }
        }
        Ok(Api {
            listen,
            expose,
            tokens,
        })
    }
}
