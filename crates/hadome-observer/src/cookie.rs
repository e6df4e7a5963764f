//! The cookie jar of one route probe (issue 14, incident E): what a hop's `Set-Cookie` says, and
//! which cookies go back to the next hop's host.
//!
//! The rules, from RFC 6265 (§5.1.3 domain matching, §5.2 parsing, §5.3 storage), kept to what a
//! redirect chain needs:
//! - A `Set-Cookie` value MUST be read as `NAME=VALUE` then `;`-separated attributes; a first
//!   part without `=` or with an empty name is ignored (§5.2 steps 2–3).
//! - The `Domain` attribute (case-insensitive) MUST be lowercased and stripped of one leading
//!   dot; an empty one counts as absent. Without one, the cookie is host-only: it goes back to
//!   exactly the host that set it.
//! - A cookie whose `Domain` the setting host does not domain-match MUST be rejected (the browser
//!   drops it; it is still reported as set, which is how a probe shows a service setting a cookie
//!   for another domain). So is a `Domain` on a host that is an IP address, unless equal.
//! - A host domain-matches a domain when it is the domain, or ends with `.` and the domain and is
//!   not an IP address.
//! - A cookie set again with the same name and domain replaces the earlier one; `Max-Age=0` or
//!   a non-positive `Max-Age` removes it. Paths, `Secure` and expiry dates are not tracked: a
//!   probe lasts seconds and requests whatever the chain says.
//!
//! Nothing is kept between probes: each probe makes its own [`Jar`].

use hadome_core::route::SetCookie;

/// One `Set-Cookie` header, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedCookie {
    /// The name.
    pub(crate) name: String,
    /// The value.
    pub(crate) value: String,
    /// The `Domain` attribute, lowercased without a leading dot.
    pub(crate) domain: Option<String>,
    /// Whether `Max-Age` asks to remove it (zero or negative).
    pub(crate) expired: bool,
}

impl ParsedCookie {
    /// What a hop reports of it.
    pub(crate) fn reported(&self) -> SetCookie {
        SetCookie {
            name: self.name.clone(),
            domain: self.domain.clone(),
        }
    }
}

/// Reads one `Set-Cookie` header value; `None` when RFC 6265 says to ignore it.
pub(crate) fn parse_set_cookie(header: &str) -> Option<ParsedCookie> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut cookie = ParsedCookie {
        name: name.to_owned(),
        value: value.trim().to_owned(),
        domain: None,
        expired: false,
    };
    for attribute in parts {
        let (key, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "domain" => {
                let domain = value
                    .strip_prefix('.')
                    .unwrap_or(value)
                    .to_ascii_lowercase();
                cookie.domain = (!domain.is_empty()).then_some(domain);
            }
            "max-age" => {
                if let Ok(seconds) = value.parse::<i64>() {
                    cookie.expired = seconds <= 0;
                }
            }
            _ => {}
        }
    }
    Some(cookie)
}

/// RFC 6265 §5.1.3: whether `host` domain-matches `domain` (both lowercased).
pub(crate) fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && !is_ip_address(host))
}

fn is_ip_address(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok()
}

/// A stored cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    name: String,
    value: String,
    /// The `Domain`, or the setting host for a host-only cookie.
    domain: String,
    host_only: bool,
}

/// The cookies one probe has been given so far.
#[derive(Debug, Default)]
pub(crate) struct Jar {
    cookies: Vec<Stored>,
}

impl Jar {
    /// Stores what `host` set, unless RFC 6265 rejects it.
    pub(crate) fn store(&mut self, host: &str, cookie: &ParsedCookie) {
        let (domain, host_only) = match &cookie.domain {
            Some(domain) if domain_matches(host, domain) => (domain.clone(), false),
            Some(_) => return,
            None => (host.to_owned(), true),
        };
        self.cookies
            .retain(|stored| !(stored.name == cookie.name && stored.domain == domain));
        if !cookie.expired {
            self.cookies.push(Stored {
                name: cookie.name.clone(),
                value: cookie.value.clone(),
                domain,
                host_only,
            });
        }
    }

    /// The `Cookie` header for a request to `host`; `None` when no cookie goes there.
    pub(crate) fn header_for(&self, host: &str) -> Option<String> {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|stored| {
                if stored.host_only {
                    stored.domain == host
                } else {
                    domain_matches(host, &stored.domain)
                }
            })
            .map(|stored| format!("{}={}", stored.name, stored.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(header: &str) -> ParsedCookie {
        parse_set_cookie(header).unwrap_or_else(|| panic!("`{header}` should parse"))
    }

    #[test]
    fn set_cookie_headers_are_read_as_rfc_6265_says() {
        let cookie = parsed("session=abc=1; Path=/; DOMAIN=.Apps.Lab; HttpOnly");
        assert_eq!(cookie.name, "session");
        assert_eq!(cookie.value, "abc=1");
        assert_eq!(cookie.domain.as_deref(), Some("apps.lab"));
        assert!(!cookie.expired);
        assert_eq!(parsed(" token = x ").name, "token");
        assert_eq!(parsed("a=b; Domain=").domain, None);
        assert_eq!(parsed("a=b; Domain").domain, None);
        assert!(parsed("a=; Max-Age=0").expired);
        assert!(parsed("a=b; max-age=-5").expired);
        assert!(!parsed("a=b; Max-Age=soon").expired);
        for ignored in ["", "novalue", "=value", " =x; Domain=a"] {
            assert_eq!(parse_set_cookie(ignored), None, "{ignored}");
        }
        assert_eq!(
            parsed("sso=1; domain=sso.lab").reported(),
            SetCookie {
                name: "sso".into(),
                domain: Some("sso.lab".into())
            }
        );
    }

    #[test]
    fn domain_matching_follows_rfc_6265() {
        assert!(domain_matches("apps.lab", "apps.lab"));
        assert!(domain_matches("console.apps.lab", "apps.lab"));
        assert!(domain_matches("a.b.apps.lab", "apps.lab"));
        assert!(!domain_matches("evilapps.lab", "apps.lab"));
        assert!(!domain_matches("apps.lab", "console.apps.lab"));
        assert!(!domain_matches("sso.lab", "apps.lab"));
        assert!(domain_matches("127.0.0.1", "127.0.0.1"));
        assert!(!domain_matches("10.0.0.1", "0.0.1"));
        assert!(!domain_matches("[::1]", "1]"));
    }

    #[test]
    fn the_jar_sends_cookies_back_only_to_matching_hosts() {
        let mut jar = Jar::default();
        jar.store("console.apps.lab", &parsed("wide=1; Domain=apps.lab"));
        jar.store("console.apps.lab", &parsed("narrow=2"));
        // Rejected: console may not set a cookie for sso.lab.
        jar.store("console.apps.lab", &parsed("foreign=3; Domain=sso.lab"));
        assert_eq!(
            jar.header_for("console.apps.lab").as_deref(),
            Some("wide=1; narrow=2")
        );
        assert_eq!(jar.header_for("app-1.apps.lab").as_deref(), Some("wide=1"));
        assert_eq!(
            jar.header_for("sub.console.apps.lab").as_deref(),
            Some("wide=1")
        );
        assert_eq!(jar.header_for("sso.lab"), None);
        // Set again: replaced; Max-Age=0: removed.
        jar.store("app-1.apps.lab", &parsed("wide=4; Domain=.apps.lab"));
        jar.store("console.apps.lab", &parsed("narrow=; Max-Age=0"));
        assert_eq!(
            jar.header_for("console.apps.lab").as_deref(),
            Some("wide=4")
        );
    }
}
