//! `[[service]]`, `[[route]]` and `[[nginx]]` (issue 14, incident E): the services behind web
//! routes, the routes a probe follows, and the nginx instances in front of them.
//!
//! Services come first (a route's `service` names one). A route's `Arrival.header` is its own
//! `expect_header`, or else its service's `marker_header`: a final response is then told apart
//! from another service's by that header. A service's or an nginx's `host` names a declared
//! `[[host]]` when the estate declares hosts; with none declared, any host name is taken (as an
//! instance's `host` is). Its own module: `parse.rs` holds the walk and the other tables.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use hadome_core::route::{Arrival, Url};
use hadome_core::suggest::closest;
use hadome_core::web::{Nginx, Route, Web, WebService, DEFAULT_HOP_LIMIT};

use super::host::valid_host_name;
use super::{Context, Table, Value, NO_PLACEHOLDERS};
use crate::error::ConfigError;

/// The keys of a `[[service]]`.
pub(super) const SERVICE_KEYS: &[&str] = &[
    "name",
    "address",
    "host",
    "marker_header",
    "running_command",
];
/// The keys of a `[[route]]`.
pub(super) const ROUTE_KEYS: &[&str] = &[
    "name",
    "url",
    "service",
    "hop_limit",
    "connect_to",
    "expect_status",
    "expect_host",
    "expect_header",
    "expect_body",
];
/// The keys of an `[[nginx]]`.
pub(super) const NGINX_KEYS: &[&str] = &[
    "name",
    "host",
    "dump_command",
    "test_command",
    "reload_command",
];

/// A route's `hop_limit`: at least one request, at most 50 (a probe never hammers a loop).
const HOP_LIMITS: RangeInclusive<i128> = 1..=50;
/// A route's `expect_status`: an HTTP status.
const STATUSES: RangeInclusive<i128> = 100..=599;
/// An nginx's `dump_command` when unset.
pub(super) const DEFAULT_DUMP_COMMAND: &[&str] = &["nginx", "-T"];
/// An nginx's `test_command` when unset.
pub(super) const DEFAULT_TEST_COMMAND: &[&str] = &["nginx", "-t"];
/// An nginx's `reload_command` when unset.
pub(super) const DEFAULT_RELOAD_COMMAND: &[&str] = &["nginx", "-s", "reload"];

/// A `host:port` split: the host without IPv6 brackets, and the port.
struct Address {
    host: String,
    port: u16,
}

/// Splits `host:port` (`[::1]:3000` for IPv6); the error is a phrase saying what is wrong.
fn split_address(text: &str) -> Result<Address, &'static str> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("has an IPv6 address with no closing `]`")?;
        let port = after
            .strip_prefix(':')
            .ok_or("has no `:PORT` after the IPv6 address's `]`")?;
        (host, port)
    } else {
        let (host, port) = text.rsplit_once(':').ok_or("has no `:PORT`")?;
        if host.contains(':') {
            return Err("holds an IPv6 address without brackets");
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("has no host before its `:PORT`");
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '[' | ']' | '@'))
    {
        return Err("has a host that is not a host name or an IP address");
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|port| *port >= 1)
        .ok_or("has a port that is not a number from 1 to 65535")?;
    Ok(Address {
        host: host.to_owned(),
        port,
    })
}

/// Splits `Name: text` into the header's name and the text its value contains.
fn split_header(text: &str) -> Result<(String, String), &'static str> {
    let (name, value) = text
        .split_once(':')
        .ok_or("has no `:` after a header name")?;
    let name = name.trim();
    if name.is_empty() {
        return Err("has no header name before its `:`");
    }
    // RFC 9110's token characters.
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
    {
        return Err("has a header name that is not an HTTP token (letters, digits, `-`)");
    }
    let value = value.trim();
    if value.is_empty() {
        return Err("has no text after its `:` to look for in the header's value");
    }
    Ok((name.to_owned(), value.to_owned()))
}

impl Context<'_> {
    /// The three tables of the web part, services first (routes name them).
    pub(super) fn web(
        &self,
        service_entries: &[&Value<'_>],
        route_entries: &[&Value<'_>],
        nginx_entries: &[&Value<'_>],
        hosts: &[String],
    ) -> Result<Web, ConfigError> {
        let mut web = Web::default();
        let mut lines: BTreeMap<String, usize> = BTreeMap::new();
        for (index, element) in service_entries.iter().enumerate() {
            let service = self.web_service(index, element, &lines, hosts)?;
            lines.insert(service.name.clone(), self.line(element.span().start));
            web.services.push(service);
        }
        lines.clear();
        for (index, element) in route_entries.iter().enumerate() {
            let route = self.route(index, element, &lines, &web.services)?;
            lines.insert(route.name.clone(), self.line(element.span().start));
            web.routes.push(route);
        }
        lines.clear();
        for (index, element) in nginx_entries.iter().enumerate() {
            let nginx = self.nginx(index, element, &lines, hosts)?;
            lines.insert(nginx.name.clone(), self.line(element.span().start));
            web.nginx.push(nginx);
        }
        Ok(web)
    }

    /// One `[[service]]`.
    fn web_service(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
        hosts: &[String],
    ) -> Result<WebService, ConfigError> {
        let (table, name) = self.named_table(index, element, seen, "service", SERVICE_KEYS)?;
        let example = "address = \"app-1:3000\"";
        let (text, offset) = self.required_string(&table, "address", example)?;
        let address = split_address(text).map_err(|why| {
            self.invalid(
                offset,
                table.path("address"),
                format!("is `{text}`, which {why}"),
                format!(
                    "write the `host:port` an upstream (`proxy_pass`) names the service by, such \
                     as `{example}`, or `address = \"[::1]:3000\"` for an IPv6 address"
                ),
            )
        })?;
        let marker_header = self.header(&table, "marker_header")?;
        let running_command = self.command(
            &table,
            "running_command",
            &["systemctl", "is-active", "--quiet", name],
            &NO_PLACEHOLDERS,
        )?;
        Ok(WebService {
            name: name.to_owned(),
            address_host: address.host,
            port: address.port,
            host: self.placed_on(&table, hosts)?,
            marker_header,
            running_command,
        })
    }

    /// One `[[route]]`; `services` are the estate's, in file order.
    fn route(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
        services: &[WebService],
    ) -> Result<Route, ConfigError> {
        let (table, name) = self.named_table(index, element, seen, "route", ROUTE_KEYS)?;
        let (text, offset) =
            self.required_string(&table, "url", "url = \"http://app-1.apps.example.org/\"")?;
        let url = Url::parse(text).map_err(|error| {
            self.invalid(
                offset,
                table.path("url"),
                format!("is not a URL hadome follows: {}", error.why),
                "write the whole URL a user requests first, `http://` or `https://` included, \
                 such as `url = \"http://app-1.apps.example.org/\"`",
            )
        })?;
        let (service_name, service_offset) =
            self.required_string(&table, "service", "service = \"app-1\"")?;
        let Some(service) = services.iter().find(|service| service.name == service_name) else {
            let known: Vec<&str> = services
                .iter()
                .map(|service| service.name.as_str())
                .collect();
            let fix = match closest(service_name, &known) {
                Some(close) => format!("did you mean `{close}`?"),
                None if known.is_empty() => format!(
                    "declare the service first: `[[service]]` with `name = \"{service_name}\"` \
                     and its `address` (examples/estate.toml)"
                ),
                None => format!(
                    "name a `[[service]]` (the services are {}), or declare `{service_name}` \
                     with its own `[[service]]`",
                    known
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(self.invalid(
                service_offset,
                table.path("service"),
                format!("names `{service_name}`, which is not a declared service"),
                fix,
            ));
        };
        let hop_limit = match self.integer_in(
            &table,
            "hop_limit",
            HOP_LIMITS,
            i128::try_from(DEFAULT_HOP_LIMIT).unwrap_or(10),
            "the most requests a probe of this route sends",
        )? {
            None => DEFAULT_HOP_LIMIT,
            // Within 1..=50, so it fits.
            Some(limit) => usize::try_from(limit).unwrap_or(DEFAULT_HOP_LIMIT),
        };
        let status = self
            .integer_in(
                &table,
                "expect_status",
                STATUSES,
                200,
                "the HTTP status the route must end with",
            )?
            // Within 100..=599, so it fits.
            .map(|status| u16::try_from(status).unwrap_or_default());
        let connect_to =
            match self.string(&table, "connect_to", "connect_to = \"127.0.0.1:8080\"")? {
                None => None,
                Some((text, offset)) => {
                    split_address(text).map_err(|why| {
                        self.invalid(
                            offset,
                            table.path("connect_to"),
                            format!("is `{text}`, which {why}"),
                            "write the `host:port` the probe connects to for every hop (the nginx \
                         in front of the route), such as `connect_to = \"127.0.0.1:8080\"`, \
                         or leave the key out to resolve each hop's host",
                        )
                    })?;
                    Some(text.to_owned())
                }
            };
        let final_host = match self.string(
            &table,
            "expect_host",
            "expect_host = \"app-1.apps.example.org\"",
        )? {
            None => None,
            Some(("", offset)) => {
                return Err(self.invalid(
                    offset,
                    table.path("expect_host"),
                    "is empty",
                    "name the host the route must end on, such as `expect_host = \
                     \"app-1.apps.example.org\"`, or leave the key out (the URL's own host)",
                ))
            }
            Some((host, _)) => Some(host.to_ascii_lowercase()),
        };
        let header = match self.header(&table, "expect_header")? {
            Some(header) => Some(header),
            None => service.marker_header.clone(),
        };
        let body_marker =
            match self.string(&table, "expect_body", "expect_body = \"Welcome\"")? {
                None => None,
                Some(("", offset)) => return Err(self.invalid(
                    offset,
                    table.path("expect_body"),
                    "is empty",
                    "give text the final page contains, such as `expect_body = \"Welcome\"`, or \
                     leave the key out",
                )),
                Some((text, _)) => Some(text.to_owned()),
            };
        Ok(Route {
            name: name.to_owned(),
            url,
            service: service.name.clone(),
            arrival: Arrival {
                status,
                final_host,
                header,
                body_marker,
            },
            hop_limit,
            connect_to,
        })
    }

    /// One `[[nginx]]`.
    fn nginx(
        &self,
        index: usize,
        element: &Value<'_>,
        seen: &BTreeMap<String, usize>,
        hosts: &[String],
    ) -> Result<Nginx, ConfigError> {
        let (table, name) = self.named_table(index, element, seen, "nginx", NGINX_KEYS)?;
        let owned = |words: &[&str]| words.iter().map(|word| (*word).to_owned()).collect();
        let command = |key: &str, default: &[&str]| -> Result<Vec<String>, ConfigError> {
            Ok(self
                .command(&table, key, default, &NO_PLACEHOLDERS)?
                .unwrap_or_else(|| owned(default)))
        };
        Ok(Nginx {
            name: name.to_owned(),
            host: self.placed_on(&table, hosts)?,
            dump_command: command("dump_command", DEFAULT_DUMP_COMMAND)?,
            test_command: command("test_command", DEFAULT_TEST_COMMAND)?,
            reload_command: command("reload_command", DEFAULT_RELOAD_COMMAND)?,
        })
    }

    /// An optional `host`: a valid host name, and a declared `[[host]]` when there are any.
    fn placed_on(
        &self,
        table: &Table<'_, '_>,
        hosts: &[String],
    ) -> Result<Option<String>, ConfigError> {
        let Some((host, offset)) = self.string(table, "host", "host = \"web-1\"")? else {
            return Ok(None);
        };
        if !valid_host_name(host) {
            return Err(self.invalid(
                offset,
                table.path("host"),
                format!("is `{host}`, which is not a valid host name"),
                "name the host it runs on: 1 to 253 characters of a-z, 0-9, `-`, `_` and `.`, \
                 starting with a letter or digit",
            ));
        }
        if !hosts.is_empty() && !hosts.iter().any(|known| known == host) {
            return Err(ConfigError::UnknownHost {
                at: self.at(offset),
                key: table.path("host"),
                name: host.to_owned(),
                known: hosts.to_vec(),
            });
        }
        Ok(Some(host.to_owned()))
    }

    /// An optional `Name: text` header.
    fn header(
        &self,
        table: &Table<'_, '_>,
        key: &str,
    ) -> Result<Option<(String, String)>, ConfigError> {
        let example = format!("{key} = \"X-Service: app-1\"");
        let Some((text, offset)) = self.string(table, key, &example)? else {
            return Ok(None);
        };
        split_header(text).map(Some).map_err(|why| {
            self.invalid(
                offset,
                table.path(key),
                format!("is `{text}`, which {why}"),
                format!(
                    "write the header's name, a colon, then text its value contains, such as \
                     `{example}`"
                ),
            )
        })
    }
}
