//! Issue 17, "bad input, every door": the estate file when it is hostile, truncated, oversized
//! or malformed. `docs/bad-input.md` cites each test here by name.

use std::fmt::Write as _;
use std::path::Path;

use super::{report, TWO_INSTANCES};
use crate::{load, parse, ConfigError};

const FIX: &str = "give the data directory's absolute path on the instance's host, such as \
                   `/var/lib/postgresql/15/main`";

fn with_db2_data_dir(data_dir: &str) -> String {
    TWO_INSTANCES.replace("\"/srv/db-2\"", &format!("\"{data_dir}\""))
}

#[test]
fn a_data_dir_naming_the_root_in_any_spelling_is_refused() {
    for root in ["/", "//", "/.", "/./", "///./."] {
        assert_eq!(
            report(&with_db2_data_dir(root)),
            format!(
                "estate.toml:9: `instance \"db-2\".data_dir` is `{root}`, the root itself: a \
                 rebuild would move `/` aside | hint: {FIX}"
            ),
            "{root}"
        );
    }
}

#[test]
fn a_data_dir_naming_a_system_directory_is_refused() {
    for (written, named) in [
        ("/etc", "/etc"),
        ("/usr/", "/usr"),
        ("/var/./lib", "/var/lib"),
        ("/var/lib/postgresql", "/var/lib/postgresql"),
        ("/home", "/home"),
        ("/tmp", "/tmp"),
    ] {
        assert_eq!(
            report(&with_db2_data_dir(written)),
            format!(
                "estate.toml:9: `instance \"db-2\".data_dir` is `{written}`, a directory of the \
                 system itself (`{named}`): a rebuild would move it aside | hint: {FIX}"
            ),
        );
    }
    // A directory of its own below them is what a data directory is.
    for own in [
        "/var/lib/postgresql/15/main",
        "/srv/pg",
        "/tmp/hadome-lab/db-2",
    ] {
        let estate = parse(&with_db2_data_dir(own), Path::new("estate.toml")).unwrap();
        assert_eq!(estate.instance("db-2").unwrap().data_dir, Path::new(own));
    }
}

#[test]
fn a_data_dir_that_climbs_with_dot_dot_is_refused() {
    for climbing in ["/srv/db-2/../../etc", "/srv/..", "/.."] {
        assert_eq!(
            report(&with_db2_data_dir(climbing)),
            format!(
                "estate.toml:9: `instance \"db-2\".data_dir` is `{climbing}`, a path that climbs \
                 with `..`: which directory it names depends on symlinks on the host | hint: {FIX}"
            ),
        );
    }
}

#[test]
fn an_etcd_data_dir_naming_the_root_or_a_system_directory_is_refused() {
    let member = |data_dir: &str| {
        format!(
            "[[etcd]]\nname = \"etcd-1\"\nendpoints = [\"http://127.0.0.1:2379\"]\nhost = \"h1\"\n\
             data_dir = \"{data_dir}\"\n"
        )
    };
    let fix = "give the member's own data directory (etcd's `--data-dir`), such as \
               `/var/lib/etcd/default`: hadome moves it aside when it replaces the member";
    assert_eq!(
        report(&member("/")),
        format!(
            "estate.toml:5: `etcd \"etcd-1\".data_dir` is `/`, the root itself: a rebuild would \
             move `/` aside | hint: {fix}"
        )
    );
    assert_eq!(
        report(&member("/var/lib/etcd")),
        format!(
            "estate.toml:5: `etcd \"etcd-1\".data_dir` is `/var/lib/etcd`, a directory of the \
             system itself (`/var/lib/etcd`): a rebuild would move it aside | hint: {fix}"
        )
    );
    parse(&member("/var/lib/etcd/default"), Path::new("estate.toml")).unwrap();
}

const APART_FIX: &str = "give every instance and etcd member on a host a data directory of its \
                         own, neither inside the other";

#[test]
fn two_instances_on_one_host_with_one_data_dir_are_refused() {
    // The second spelled differently: a trailing `/` and a `.` name the same directory.
    assert_eq!(
        report(&with_db2_data_dir("/srv/./db-1/")),
        format!(
            "estate.toml:9: `instance \"db-2\".data_dir` is `/srv/db-1`, the same directory as \
             `instance \"db-1\".data_dir` (`/srv/db-1`, line 4) on host `localhost`: moving one \
             aside would move the other's data too | hint: {APART_FIX}"
        )
    );
}

#[test]
fn a_data_dir_inside_another_instances_is_refused_either_way_round() {
    assert_eq!(
        report(&with_db2_data_dir("/srv/db-1/pg_wal")),
        format!(
            "estate.toml:9: `instance \"db-2\".data_dir` is `/srv/db-1/pg_wal`, inside \
             `instance \"db-1\".data_dir` (`/srv/db-1`, line 4) on host `localhost`: moving one \
             aside would move the other's data too | hint: {APART_FIX}"
        )
    );
    let parent_second = TWO_INSTANCES
        .replace("\"/srv/db-1\"", "\"/srv/pg/db-1\"")
        .replace("\"/srv/db-2\"", "\"/srv/pg\"");
    assert_eq!(
        report(&parent_second),
        format!(
            "estate.toml:9: `instance \"db-2\".data_dir` is `/srv/pg`, the parent of \
             `instance \"db-1\".data_dir` (`/srv/pg/db-1`, line 4) on host `localhost`: moving \
             one aside would move the other's data too | hint: {APART_FIX}"
        )
    );
}

#[test]
fn an_etcd_member_inside_an_instances_data_dir_on_its_host_is_refused() {
    let source = format!(
        "{TWO_INSTANCES}host = \"h1\"\n\n[[etcd]]\nname = \"etcd-1\"\n\
         endpoints = [\"http://127.0.0.1:2379\"]\nhost = \"h1\"\ndata_dir = \"/srv/db-2/etcd\"\n"
    );
    assert_eq!(
        report(&source),
        format!(
            "estate.toml:16: `etcd \"etcd-1\".data_dir` is `/srv/db-2/etcd`, inside \
             `instance \"db-2\".data_dir` (`/srv/db-2`, line 9) on host `h1`: moving one aside \
             would move the other's data too | hint: {APART_FIX}"
        )
    );
}

#[test]
fn one_data_dir_path_on_two_hosts_is_two_directories() {
    let source = TWO_INSTANCES
        .replace("\"/srv/db-2\"", "\"/srv/db-1\"")
        .replace(
            "data_dir = \"/srv/db-1\"\n\n",
            "data_dir = \"/srv/db-1\"\nhost = \"pg-a\"\n\n",
        );
    let estate = parse(&source, Path::new("estate.toml")).unwrap();
    assert_eq!(
        estate.instance("db-1").unwrap().data_dir,
        estate.instance("db-2").unwrap().data_dir
    );
}

/// Names reach argv commands through `{target}`, `{source}` and `{host}`: a name that could be
/// read as an option, or that holds a space, a `;`, a newline or a NUL, is refused at load.
#[test]
fn names_that_could_be_read_as_options_or_split_are_refused() {
    for name in [
        "-rf",
        "--help",
        "db 1",
        "db-1;reboot",
        "db-1\\nreboot",
        "db\\u0000",
        "$(reboot)",
        "DB-1",
    ] {
        let source = TWO_INSTANCES.replace("name = \"db-2\"", &format!("name = \"{name}\""));
        let shown = report(&source);
        assert!(
            shown.starts_with("estate.toml:7: `instance[1].name` is `")
                && shown.contains(
                    "which is not a valid instance name | hint: use 1 to 63 \
                                   characters of a-z, 0-9, `-` and `_`, starting with a letter or \
                                   digit"
                ),
            "{name}: {shown}"
        );
    }
}

#[test]
fn a_file_cut_mid_table_is_a_syntax_error_at_its_line() {
    // Cut inside the second instance's conninfo string: an unterminated string.
    let cut = &TWO_INSTANCES[..TWO_INSTANCES.find("host=10.0.0.2").unwrap() + 6];
    let error = parse(cut, Path::new("estate.toml")).unwrap_err();
    assert!(
        matches!(&error, ConfigError::Syntax { at, .. } if at.line == 8),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("estate.toml:8: not valid TOML: "),
        "{error}"
    );
    // Cut after a header: the instance has no keys, and the first one missing is named.
    let cut = &TWO_INSTANCES[..TWO_INSTANCES.rfind("name = ").unwrap()];
    assert_eq!(
        report(cut),
        "estate.toml:6: `instance[1].name` is missing | hint: add `name = \"db-1\"` to this \
         `[[instance]]`"
    );
}

#[test]
fn a_nul_byte_or_a_control_character_in_the_file_is_a_syntax_error() {
    let with_nul = TWO_INSTANCES.replace("name = \"db-2\"", "name = \"db\u{0}2\"");
    let error = parse(&with_nul, Path::new("estate.toml")).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("estate.toml:7: not valid TOML: "),
        "{error}"
    );
}

#[test]
fn a_file_that_is_not_utf8_is_a_read_error_that_says_so() {
    // No temporary-directory crate here: a file named after this process, removed at the end.
    let path =
        std::env::temp_dir().join(format!("hadome-config-latin1-{}.toml", std::process::id()));
    let mut bytes = TWO_INSTANCES.as_bytes().to_vec();
    bytes.extend(b"# caf\xe9 in Latin-1\n");
    std::fs::write(&path, bytes).unwrap();
    let error = load(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(
        matches!(&error, ConfigError::Read { source, .. }
            if source.kind() == std::io::ErrorKind::InvalidData),
        "{error:?}"
    );
    assert_eq!(error.hint().as_deref(), Some("save the file as UTF-8 text"));
}

#[test]
fn a_directory_or_the_root_given_as_the_estate_file_is_a_read_error() {
    for path in ["/", "/etc"] {
        let error = load(Path::new(path)).unwrap_err();
        assert!(
            matches!(&error, ConfigError::Read { path: named, .. } if named == Path::new(path)),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("could not read the estate file `{path}`")
        );
    }
}

/// A multi-MiB estate (5,000 instances, 2 MiB of comments) loads, and the data-directory checks
/// compare neighbours only, not every pair; the same file with one clash names it.
#[test]
fn a_multi_mebibyte_estate_loads_and_its_clash_is_still_found() {
    let mut source = String::new();
    for index in 0..5_000 {
        writeln!(
            source,
            "# {}\n[[instance]]\nname = \"db-{index}\"\nconninfo = \"port=5432\"\n\
             data_dir = \"/srv/pg/db-{index}\"\n",
            "x".repeat(400)
        )
        .unwrap();
    }
    assert!(source.len() > 2 * 1024 * 1024, "{}", source.len());
    let estate = parse(&source, Path::new("estate.toml")).unwrap();
    assert_eq!(estate.instances.len(), 5_000);

    source.push_str(
        "[[instance]]\nname = \"late\"\nconninfo = \"port=5432\"\ndata_dir = \"/srv/pg/db-4321/base\"\n",
    );
    let shown = report(&source);
    assert!(
        shown.contains(
            "`instance \"late\".data_dir` is `/srv/pg/db-4321/base`, inside \
             `instance \"db-4321\".data_dir` (`/srv/pg/db-4321`, line "
        ),
        "{shown}"
    );
}

#[test]
fn a_deeply_nested_value_is_an_error_not_a_crash() {
    // 10,000 nested arrays: the TOML parser's recursion is bounded, so this is a syntax error
    // or an unknown key, never a stack overflow.
    let source = format!(
        "{TWO_INSTANCES}start_command = {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let error = parse(&source, Path::new("estate.toml")).unwrap_err();
    assert!(error.to_string().starts_with("estate.toml:10: "), "{error}");
}
