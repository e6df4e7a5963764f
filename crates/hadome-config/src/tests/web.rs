//! `[[service]]`, `[[route]]` and `[[nginx]]` (issue 14): valid files, defaults, a web-only
//! estate, and each error with its line, key and fix.

use std::path::Path;

use hadome_core::route::{Arrival, Url};
use hadome_core::web::DEFAULT_HOP_LIMIT;

use super::{report, TWO_INSTANCES};
use crate::parse;

/// A web-only estate: two services (lines 1–9), a route (11–14), an nginx (16–17).
const WEB: &str = "\
[[service]]
name = \"app-1\"
address = \"app-1:3000\"
marker_header = \"X-Hadome-Service: app-1\"
running_command = [\"systemctl\", \"is-active\", \"--quiet\", \"app-1\"]

[[service]]
name = \"console\"
address = \"127.0.0.10:3000\"

[[route]]
name = \"app-1\"
url = \"http://app-1.apps.lab/\"
service = \"app-1\"

[[nginx]]
name = \"web\"
";

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|word| (*word).to_owned()).collect()
}

#[test]
fn every_key_becomes_the_estates_web() {
    let source = format!(
        "{TWO_INSTANCES}{}",
        r#"
[[host]]
name = "web-1"

[[service]]
name = "app-1"
address = "[::1]:3000"
host = "web-1"
marker_header = "X-Hadome-Service: app-1"
running_command = ["docker", "inspect", "--format", "{{.State.Running}}", "app-1"]

[[route]]
name = "app-1-home"
url = "HTTP://App-1.Apps.Lab:80/a/../home?x=1"
service = "app-1"
hop_limit = 5
connect_to = "127.0.0.1:8080"
expect_status = 204
expect_host = "App-1.apps.lab"
expect_header = "X-Other: yes"
expect_body = "Welcome"

[[nginx]]
name = "web"
host = "web-1"
dump_command = ["ssh", "web-1", "nginx", "-T"]
test_command = ["ssh", "web-1", "nginx", "-t"]
reload_command = ["ssh", "web-1", "systemctl", "reload", "nginx"]
"#
    );
    // `{{` is no placeholder of `running_command`: the estate's commands reserve braces.
    let source = source.replace("{{.State.Running}}", ".State.Running");
    let estate = parse(&source, Path::new("estate.toml")).unwrap();
    let service = estate.web.service("app-1").unwrap();
    assert_eq!((service.address_host.as_str(), service.port), ("::1", 3000));
    assert_eq!(service.host.as_deref(), Some("web-1"));
    assert_eq!(
        service.marker_header,
        Some(("X-Hadome-Service".to_owned(), "app-1".to_owned()))
    );
    assert_eq!(
        service.running_command,
        Some(words(&[
            "docker",
            "inspect",
            "--format",
            ".State.Running",
            "app-1"
        ]))
    );
    let route = estate.web.route("app-1-home").unwrap();
    assert_eq!(
        route.url,
        Url::parse("http://app-1.apps.lab/home?x=1").unwrap()
    );
    assert_eq!(route.service, "app-1");
    assert_eq!(route.hop_limit, 5);
    assert_eq!(route.connect_to.as_deref(), Some("127.0.0.1:8080"));
    assert_eq!(
        route.arrival,
        Arrival {
            status: Some(204),
            final_host: Some("app-1.apps.lab".to_owned()),
            header: Some(("X-Other".to_owned(), "yes".to_owned())),
            body_marker: Some("Welcome".to_owned()),
        }
    );
    let nginx = estate.web.nginx("web").unwrap();
    assert_eq!(nginx.host.as_deref(), Some("web-1"));
    assert_eq!(nginx.dump_command, words(&["ssh", "web-1", "nginx", "-T"]));
    assert_eq!(nginx.test_command, words(&["ssh", "web-1", "nginx", "-t"]));
    assert_eq!(
        nginx.reload_command,
        words(&["ssh", "web-1", "systemctl", "reload", "nginx"])
    );
    // The instances are still there: the web part is beside them.
    assert_eq!(estate.instances.len(), 2);
}

#[test]
fn a_web_only_estate_loads_with_every_default() {
    let estate = parse(WEB, Path::new("estate.toml")).unwrap();
    assert!(estate.instances.is_empty() && estate.hosts.is_empty());
    assert_eq!(estate.web.services.len(), 2);
    let console = estate.web.service("console").unwrap();
    assert_eq!(
        (console.address_host.as_str(), console.port),
        ("127.0.0.10", 3000)
    );
    assert_eq!(
        (
            &console.host,
            &console.marker_header,
            &console.running_command
        ),
        (&None, &None, &None)
    );
    let route = estate.web.route("app-1").unwrap();
    assert_eq!(route.hop_limit, DEFAULT_HOP_LIMIT);
    assert_eq!(route.connect_to, None);
    // No `expect_header`: the service's marker is how the route tells it arrived.
    assert_eq!(
        route.arrival,
        Arrival {
            status: None,
            final_host: None,
            header: Some(("X-Hadome-Service".to_owned(), "app-1".to_owned())),
            body_marker: None,
        }
    );
    let nginx = estate.web.nginx("web").unwrap();
    assert_eq!(nginx.host, None);
    assert_eq!(nginx.dump_command, words(&["nginx", "-T"]));
    assert_eq!(nginx.test_command, words(&["nginx", "-t"]));
    assert_eq!(nginx.reload_command, words(&["nginx", "-s", "reload"]));
}

#[test]
fn a_route_to_an_unknown_service_suggests_the_closest() {
    assert_eq!(
        report(&WEB.replace("service = \"app-1\"", "service = \"app-2\"")),
        "estate.toml:14: `route \"app-1\".service` names `app-2`, which is not a declared \
         service | hint: did you mean `app-1`?"
    );
    assert_eq!(
        report(&WEB.replace("service = \"app-1\"", "service = \"billing\"")),
        "estate.toml:14: `route \"app-1\".service` names `billing`, which is not a declared \
         service | hint: name a `[[service]]` (the services are `app-1`, `console`), or \
         declare `billing` with its own `[[service]]`"
    );
    assert_eq!(
        report("[[route]]\nname = \"r\"\nurl = \"http://a/\"\nservice = \"a\"\n"),
        "estate.toml:4: `route \"r\".service` names `a`, which is not a declared service \
         | hint: declare the service first: `[[service]]` with `name = \"a\"` and its \
         `address` (examples/estate.toml)"
    );
    assert_eq!(
        report("[[route]]\nname = \"r\"\nurl = \"http://a/\"\n"),
        "estate.toml:1: `route \"r\".service` is missing | hint: add `service = \"app-1\"` to \
         this `[[route]]`"
    );
}

#[test]
fn duplicate_names_point_at_the_first() {
    assert_eq!(
        report(&WEB.replace("name = \"console\"", "name = \"app-1\"")),
        "estate.toml:8: `service[1].name`: service `app-1` is already declared on line 1 \
         | hint: give every service a distinct `name`"
    );
    assert_eq!(
        report(&format!(
            "{WEB}\n[[route]]\nname = \"app-1\"\nurl = \"http://b/\"\nservice = \"console\"\n"
        )),
        "estate.toml:20: `route[1].name`: route `app-1` is already declared on line 11 \
         | hint: give every route a distinct `name`"
    );
    assert_eq!(
        report(&format!("{WEB}\n[[nginx]]\nname = \"web\"\n")),
        "estate.toml:20: `nginx[1].name`: nginx `web` is already declared on line 16 \
         | hint: give every nginx a distinct `name`"
    );
    // Services, routes and nginx instances are named apart: one name in each is fine.
    let estate = parse(
        &WEB.replace("name = \"web\"", "name = \"app-1\""),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert!(estate.web.nginx("app-1").is_some());
}

#[test]
fn a_bad_url_says_why() {
    assert_eq!(
        report(&WEB.replace("http://app-1.apps.lab/", "app-1.apps.lab")),
        "estate.toml:13: `route \"app-1\".url` is not a URL hadome follows: it has no \
         `scheme://` | hint: write the whole URL a user requests first, `http://` or \
         `https://` included, such as `url = \"http://app-1.apps.example.org/\"`"
    );
    assert_eq!(
        report(&WEB.replace("http://app-1.apps.lab/", "ftp://app-1.apps.lab/")),
        "estate.toml:13: `route \"app-1\".url` is not a URL hadome follows: its scheme is not \
         `http` or `https` | hint: write the whole URL a user requests first, `http://` or \
         `https://` included, such as `url = \"http://app-1.apps.example.org/\"`"
    );
}

#[test]
fn hop_limit_is_1_to_50() {
    let with_limit = |limit: &str| {
        WEB.replace(
            "service = \"app-1\"\n\n[[nginx]]",
            &format!("service = \"app-1\"\nhop_limit = {limit}\n\n[[nginx]]"),
        )
    };
    for limit in ["0", "51"] {
        assert_eq!(
            report(&with_limit(limit)),
            format!(
                "estate.toml:15: `route \"app-1\".hop_limit` must be a whole number from 1 to \
                 50, not `{limit}` | hint: write the most requests a probe of this route \
                 sends, such as `hop_limit = 10`"
            )
        );
    }
    assert_eq!(
        report(&with_limit("\"10\"")),
        "estate.toml:15: `route \"app-1\".hop_limit` is a string, but must be a whole number \
         | hint: write it as an integer, without quotes: `hop_limit = 10`"
    );
    for (limit, hops) in [("1", 1), ("50", 50)] {
        let estate = parse(&with_limit(limit), Path::new("estate.toml")).unwrap();
        assert_eq!(estate.web.routes[0].hop_limit, hops);
    }
    assert_eq!(
        report(&with_limit("10\nexpect_status = 99")),
        "estate.toml:16: `route \"app-1\".expect_status` must be a whole number from 100 to \
         599, not `99` | hint: write the HTTP status the route must end with, such as \
         `expect_status = 200`"
    );
}

#[test]
fn a_bad_address_is_refused_and_ipv6_takes_brackets() {
    let with_address = |address: &str| {
        WEB.replace(
            "address = \"app-1:3000\"",
            &format!("address = \"{address}\""),
        )
    };
    let fix = "write the `host:port` an upstream (`proxy_pass`) names the service by, such as \
               `address = \"app-1:3000\"`, or `address = \"[::1]:3000\"` for an IPv6 address";
    for (address, why) in [
        ("app-1", "has no `:PORT`"),
        (":3000", "has no host before its `:PORT`"),
        ("app-1:0", "has a port that is not a number from 1 to 65535"),
        (
            "app-1:65536",
            "has a port that is not a number from 1 to 65535",
        ),
        (
            "app-1:http",
            "has a port that is not a number from 1 to 65535",
        ),
        ("::1:3000", "holds an IPv6 address without brackets"),
        ("[::1:3000", "has an IPv6 address with no closing `]`"),
        ("[::1]", "has no `:PORT` after the IPv6 address's `]`"),
        (
            "app 1:3000",
            "has a host that is not a host name or an IP address",
        ),
    ] {
        assert_eq!(
            report(&with_address(address)),
            format!(
                "estate.toml:3: `service \"app-1\".address` is `{address}`, which {why} \
                 | hint: {fix}"
            ),
            "{address}"
        );
    }
    let estate = parse(&with_address("[fe80::1]:443"), Path::new("estate.toml")).unwrap();
    let service = &estate.web.services[0];
    assert_eq!(
        (service.address_host.as_str(), service.port),
        ("fe80::1", 443)
    );
    assert_eq!(
        report(&WEB.replace(
            "service = \"app-1\"\n\n",
            "service = \"app-1\"\nconnect_to = \"127.0.0.1\"\n\n"
        )),
        "estate.toml:15: `route \"app-1\".connect_to` is `127.0.0.1`, which has no `:PORT` \
         | hint: write the `host:port` the probe connects to for every hop (the nginx in front \
         of the route), such as `connect_to = \"127.0.0.1:8080\"`, or leave the key out to \
         resolve each hop's host"
    );
}

#[test]
fn bad_header_text_is_refused() {
    let fix = "write the header's name, a colon, then text its value contains, such as \
               `marker_header = \"X-Service: app-1\"`";
    for (header, why) in [
        ("X-Hadome-Service app-1", "has no `:` after a header name"),
        (": app-1", "has no header name before its `:`"),
        (
            "X-Hadome-Service:",
            "has no text after its `:` to look for in the header's value",
        ),
        (
            "X Service: app-1",
            "has a header name that is not an HTTP token (letters, digits, `-`)",
        ),
    ] {
        assert_eq!(
            report(&WEB.replace("X-Hadome-Service: app-1", header)),
            format!(
                "estate.toml:4: `service \"app-1\".marker_header` is `{header}`, which {why} \
                 | hint: {fix}"
            )
        );
    }
    assert_eq!(
        report(&WEB.replace(
            "service = \"app-1\"\n\n",
            "service = \"app-1\"\nexpect_header = \"X-Up\"\n\n"
        )),
        "estate.toml:15: `route \"app-1\".expect_header` is `X-Up`, which has no `:` after a \
         header name | hint: write the header's name, a colon, then text its value contains, \
         such as `expect_header = \"X-Service: app-1\"`"
    );
}

#[test]
fn empty_argv_is_refused() {
    assert_eq!(
        report(&WEB.replace(
            "[\"systemctl\", \"is-active\", \"--quiet\", \"app-1\"]",
            "[]"
        )),
        "estate.toml:5: `service \"app-1\".running_command` is empty | hint: give the program \
         and its arguments, such as `running_command = [\"systemctl\", \"is-active\", \
         \"--quiet\", \"app-1\"]`, or leave the key out"
    );
    assert_eq!(
        report(&WEB.replace("\"systemctl\", \"is-active\"", "\"\", \"is-active\"")),
        "estate.toml:5: `service \"app-1\".running_command[0]` is empty | hint: name the \
         program to run first, as an absolute path or a name found on hadome's PATH"
    );
    assert_eq!(
        report(&format!("{WEB}test_command = []\n")),
        "estate.toml:18: `nginx \"web\".test_command` is empty | hint: give the program and \
         its arguments, such as `test_command = [\"nginx\", \"-t\"]`, or leave the key out"
    );
    assert_eq!(
        report(&format!("{WEB}reload_command = \"nginx -s reload\"\n")),
        "estate.toml:18: `nginx \"web\".reload_command` is a string, but must be an argv array \
         of strings | hint: write it as an argv array, one string per argument (hadome runs no \
         shell): `reload_command = [\"nginx\", \"-s\", \"reload\"]`"
    );
}

#[test]
fn unknown_keys_and_undeclared_hosts_are_refused() {
    assert_eq!(
        report(&format!("{WEB}dump_comand = [\"nginx\", \"-T\"]\n")),
        "estate.toml:18: unknown key `nginx \"web\".dump_comand` | hint: did you mean \
         `dump_command`?"
    );
    assert_eq!(
        report(&WEB.replace(
            "service = \"app-1\"",
            "service = \"app-1\"\nexpect_stauts = 200"
        )),
        "estate.toml:15: unknown key `route \"app-1\".expect_stauts` | hint: did you mean \
         `expect_status`?"
    );
    // With hosts declared, a service's and an nginx's `host` names one of them.
    let hosts = "[[host]]\nname = \"web-1\"\n\n";
    assert_eq!(
        report(&format!("{hosts}{WEB}host = \"web-2\"\n")),
        "estate.toml:21: `nginx \"web\".host` names `web-2`, which is not a declared host \
         | hint: did you mean `web-1`?"
    );
    assert_eq!(
        report(&format!(
            "{hosts}{}",
            WEB.replace("name = \"console\"", "name = \"console\"\nhost = \"db\"")
        )),
        "estate.toml:12: `service \"console\".host` names `db`, which is not a declared host \
         | hint: name a `[[host]]` (the hosts are `web-1`), or declare `db` with its own \
         `[[host]]`"
    );
    // With none declared, any host name is taken, as an instance's `host` is.
    let estate = parse(
        &format!("{WEB}host = \"web-2.example.org\"\n"),
        Path::new("estate.toml"),
    )
    .unwrap();
    assert_eq!(
        estate.web.nginx[0].host.as_deref(),
        Some("web-2.example.org")
    );
    assert_eq!(
        report(&format!("{WEB}host = \"Web 2\"\n")),
        "estate.toml:18: `nginx \"web\".host` is `Web 2`, which is not a valid host name \
         | hint: name the host it runs on: 1 to 253 characters of a-z, 0-9, `-`, `_` and `.`, \
         starting with a letter or digit"
    );
}

#[test]
fn a_single_table_header_is_refused_with_the_fix() {
    assert_eq!(
        report("[service]\nname = \"a\"\naddress = \"a:1\"\n"),
        "estate.toml:1: `service` is a table, but must be an array of tables | hint: start \
         each service with its own `[[service]]` header (two brackets)"
    );
}
