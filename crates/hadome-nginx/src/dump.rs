//! The whole configuration as `nginx -T` prints it: each file nginx read, after a
//! `# configuration file PATH:` line, in the order nginx opened them, the main file first.
//!
//! [`read_dump`] parses every file and expands each `include` in place from the dumped files
//! (glob patterns matched as glob(3) does, in sorted order; relative paths from the main file's
//! directory, as nginx's `conf_prefix`), so each directive keeps its own file and line.
//!
//! A line inside a file that itself reads `# configuration file X:` cannot be told from a marker;
//! nginx's dump has the same ambiguity.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::ReadError;
use crate::syntax::{parse_file, Directive, MAX_DEPTH};
use crate::Place;

/// The largest dump hadome reads (64 MiB).
pub const MAX_DUMP_BYTES: usize = 64 * 1024 * 1024;

/// The most directives hadome keeps once includes are expanded (a file included in many places
/// counts each time), so that nested includes cannot multiply without bound.
pub const MAX_DIRECTIVES: usize = 2_000_000;

const MARKER_PREFIX: &str = "# configuration file ";

/// One file of the dump: its path and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpFile {
    /// The path nginx printed.
    pub path: Arc<str>,
    /// The file's text.
    pub text: String,
}

/// Splits `nginx -T` output into its files, in order (the main file first).
pub fn split_dump(dump: &str) -> Result<Vec<DumpFile>, ReadError> {
    if dump.len() > MAX_DUMP_BYTES {
        return Err(ReadError::TooLarge {
            size_bytes: dump.len(),
            limit_bytes: MAX_DUMP_BYTES,
        });
    }
    let mut files: Vec<DumpFile> = Vec::new();
    for line in dump.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(path) = bare
            .strip_prefix(MARKER_PREFIX)
            .and_then(|rest| rest.strip_suffix(':'))
        {
            files.push(DumpFile {
                path: Arc::from(path),
                text: String::new(),
            });
            continue;
        }
        match files.last_mut() {
            Some(file) => file.text.push_str(line),
            None if bare.trim().is_empty() => {}
            None => return Err(ReadError::NotADump),
        }
    }
    if files.is_empty() {
        return Err(ReadError::NotADump);
    }
    Ok(files)
}

/// The configuration nginx loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    /// The main file (the dump's first).
    pub main_file: Arc<str>,
    /// The main file's directives with every `include` expanded in place.
    pub directives: Vec<Directive>,
}

/// Reads the dump: every file parsed, the main file's `include`s expanded.
pub fn read_dump(dump: &str) -> Result<Configuration, ReadError> {
    let files = split_dump(dump)?;
    let mut parsed: BTreeMap<Arc<str>, Vec<Directive>> = BTreeMap::new();
    for file in &files {
        let directives = parse_file(file.path.clone(), &file.text)?;
        parsed.entry(file.path.clone()).or_insert(directives);
    }
    let main = &files[0].path; // split_dump returns at least one file
    let prefix = match main.rfind('/') {
        Some(slash) => main[..=slash].to_string(),
        None => String::new(),
    };
    let expander = Expander {
        files: &parsed,
        prefix,
    };
    let mut count = 0usize;
    let top = parsed.get(main).cloned().unwrap_or_default();
    Ok(Configuration {
        main_file: main.clone(),
        directives: expander.expand(&top, 0, &mut count)?,
    })
}

struct Expander<'a> {
    files: &'a BTreeMap<Arc<str>, Vec<Directive>>,
    prefix: String,
}

impl Expander<'_> {
    /// Expands includes in `directives`; recursion is bounded by [`MAX_DEPTH`] (blocks and
    /// includes together) and the output by [`MAX_DIRECTIVES`].
    fn expand(
        &self,
        directives: &[Directive],
        depth: usize,
        count: &mut usize,
    ) -> Result<Vec<Directive>, ReadError> {
        let mut out = Vec::with_capacity(directives.len());
        for directive in directives {
            if depth > MAX_DEPTH {
                return Err(ReadError::syntax(
                    directive.place.clone(),
                    format!("blocks and includes nest more than {MAX_DEPTH} deep here"),
                    "check for a file that includes itself",
                ));
            }
            // Includes count too, so that files which only include each other cannot multiply.
            *count += 1;
            if *count > MAX_DIRECTIVES {
                return Err(ReadError::syntax(
                    directive.place.clone(),
                    format!("the expanded configuration has more than {MAX_DIRECTIVES} directives"),
                    "check for files included many times over",
                ));
            }
            if directive.name == "include" && directive.block.is_none() {
                let Some(pattern) = directive.arg(0) else {
                    return Err(ReadError::syntax(
                        directive.place.clone(),
                        "`include` has no file",
                        "write `include FILE;`",
                    ));
                };
                for path in self.matches(pattern, &directive.place)? {
                    let included = self.files.get(&path).cloned().unwrap_or_default();
                    out.extend(self.expand(&included, depth + 1, count)?);
                }
                continue;
            }
            let block = match &directive.block {
                Some(children) => Some(self.expand(children, depth + 1, count)?),
                None => None,
            };
            out.push(Directive {
                name: directive.name.clone(),
                args: directive.args.clone(),
                place: directive.place.clone(),
                block,
            });
        }
        Ok(out)
    }

    /// The dumped files an `include` names, in nginx's order.
    fn matches(&self, pattern: &str, place: &Place) -> Result<Vec<Arc<str>>, ReadError> {
        let full = if pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("{}{pattern}", self.prefix)
        };
        if full.contains(['*', '?', '[']) {
            // BTreeMap keys are sorted, as glob(3) sorts its matches.
            return Ok(self
                .files
                .keys()
                .filter(|path| glob_match(full.as_bytes(), path.as_bytes()))
                .cloned()
                .collect());
        }
        match self.files.get_key_value(full.as_str()) {
            Some((path, _)) => Ok(vec![path.clone()]),
            None => Err(ReadError::syntax(
                place.clone(),
                format!("`include {pattern}` names `{full}`, which is not in the dump"),
                "give hadome the whole output of `nginx -T`, which prints every included file",
            )),
        }
    }
}

/// glob(3) matching of one path: `*` and `?` do not cross `/`, `[…]` classes with ranges and
/// `!`/`^` negation. Iterative, with one backtrack point per `*`.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' if text[t] != b'/' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pattern, p, text[t]) {
                        if matched && text[t] != b'/' {
                            p = next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                literal if literal == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((star_p, star_t)) if text[star_t] != b'/' => {
                star = Some((star_p, star_t + 1));
                p = star_p + 1;
                t = star_t + 1;
            }
            _ => return false,
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

/// Whether `byte` is in the class opening at `pattern[open]`, and where the class ends; `None`
/// when the `[` opens no class (no closing `]`).
fn class_match(pattern: &[u8], open: usize, byte: u8) -> Option<(bool, usize)> {
    let mut i = open + 1;
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let current = *pattern.get(i)?;
        if current == b']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&end| end != b']') {
            let end = pattern[i + 2];
            if current <= byte && byte <= end {
                matched = true;
            }
            i += 3;
        } else {
            if current == byte {
                matched = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_glob3() {
        let cases: [(&str, &str, bool); 9] = [
            ("/a/*.conf", "/a/x.conf", true),
            ("/a/*.conf", "/a/b/x.conf", false),
            ("/a/*", "/a/x.conf", true),
            ("/a/?.conf", "/a/x.conf", true),
            ("/a/[a-c].conf", "/a/b.conf", true),
            ("/a/[!a-c].conf", "/a/b.conf", false),
            ("/a/*/*.conf", "/a/b/x.conf", true),
            ("/a/x.conf", "/a/x.conf", true),
            ("/a/*.conf", "/a/x.conf.bak", false),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(
                glob_match(pattern.as_bytes(), path.as_bytes()),
                expected,
                "{pattern} {path}"
            );
        }
    }

    #[test]
    fn includes_expand_in_place_keeping_their_files() {
        let dump = "# configuration file /etc/n/nginx.conf:\nhttp {\n  include conf.d/*.conf;\n  include /etc/n/b.conf;\n}\n\n\
                    # configuration file /etc/n/conf.d/z.conf:\nserver { listen 2; }\n\n\
                    # configuration file /etc/n/conf.d/a.conf:\nserver { listen 1; }\n\n\
                    # configuration file /etc/n/b.conf:\n\nmap $a $b { }\n\n";
        let top = read_dump(dump)
            .map(|configuration| configuration.directives)
            .unwrap_or_default();
        let http = &top[0];
        let names: Vec<String> = http
            .children()
            .iter()
            .map(|directive| format!("{}@{}", directive.display(), directive.place))
            .collect();
        assert_eq!(
            names,
            [
                "server@/etc/n/conf.d/a.conf:1",
                "server@/etc/n/conf.d/z.conf:1",
                "map $a $b@/etc/n/b.conf:2"
            ]
        );
    }

    #[test]
    fn a_missing_include_and_a_self_include_are_refused_with_their_place() {
        let missing = "# configuration file /n.conf:\nhttp {\n include nope.conf;\n}\n";
        match read_dump(missing) {
            Err(ReadError::Syntax { place, message, .. }) => {
                assert_eq!(place.to_string(), "/n.conf:2");
                assert!(message.contains("not in the dump"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let looped = "# configuration file /n.conf:\ninclude /n.conf;\n";
        match read_dump(looped) {
            Err(ReadError::Syntax { message, .. }) => assert!(message.contains("nest more than")),
            other => panic!("{other:?}"),
        }
        assert_eq!(read_dump("events {}\n"), Err(ReadError::NotADump));
    }
}
