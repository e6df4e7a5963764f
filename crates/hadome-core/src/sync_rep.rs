//! What a primary waits for before it acknowledges a commit, from its `synchronous_standby_names`
//! and `synchronous_commit` as read.
//!
//! This is what proves a failover lossless (`promote-eligibility`, `docs/daemon.md`): with
//! `synchronous_commit` at `on`, `remote_write` or `remote_apply` and a non-empty
//! `synchronous_standby_names`, every commit the primary acknowledged reached at least one of the
//! standbys that setting names (PostgreSQL requires at least one), whichever form it takes
//! (`FIRST n (…)`, `ANY n (…)`, `n (…)` or a bare list). So a standby at or past every named
//! standby holds all of them. The settings are read, not the `sync_state` column of
//! `pg_stat_replication`: a named standby that is only `potential` now may be `sync` by the time
//! the primary fails.
//!
//! Not seen from here: a transaction that sets `synchronous_commit` to `local` or `off` for
//! itself is acknowledged without any standby (the lab's own set-up does this once, before its
//! synchronous standby exists).

use crate::fact::SyncSettings;

/// What a primary waits for before it acknowledges a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitWait {
    /// At least one of these standbys (`application_name`s, matched without regard to case as
    /// PostgreSQL does) holds every acknowledged commit; `*` names any standby.
    Standbys(Vec<String>),
    /// It acknowledges commits without waiting for any standby: why.
    Nobody(String),
    /// What it waits for is not known: why.
    Unknown(String),
}

impl CommitWait {
    /// The standbys it waits for (empty unless [`CommitWait::Standbys`]).
    pub fn standbys(&self) -> &[String] {
        match self {
            CommitWait::Standbys(names) => names,
            CommitWait::Nobody(_) | CommitWait::Unknown(_) => &[],
        }
    }

    /// Adds standbys the primary listed as `sync` or `quorum` in `pg_stat_replication`: they are
    /// named by the setting already, unless it changed since it was read.
    pub fn with_listed(mut self, listed: &[String]) -> CommitWait {
        if let CommitWait::Standbys(names) = &mut self {
            for name in listed {
                if !names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
                    names.push(name.clone());
                }
            }
        }
        self
    }
}

/// What `settings` make a primary wait for.
pub fn commit_wait(settings: &SyncSettings) -> CommitWait {
    let (Some(names), Some(commit)) = (&settings.standby_names, &settings.commit) else {
        return CommitWait::Unknown(
            "its synchronous_standby_names and synchronous_commit were not read".to_owned(),
        );
    };
    match commit.to_ascii_lowercase().as_str() {
        "on" | "remote_write" | "remote_apply" | "true" | "yes" | "1" => {}
        "local" | "off" | "false" | "no" | "0" => {
            return CommitWait::Nobody(format!("synchronous_commit = {commit}"));
        }
        _ => {
            return CommitWait::Unknown(format!(
                "synchronous_commit = {commit:?} is not a value hadome knows"
            ))
        }
    }
    if names.trim().is_empty() {
        return CommitWait::Nobody("synchronous_standby_names is empty".to_owned());
    }
    match standby_names(names) {
        Ok(list) => CommitWait::Standbys(list),
        Err(why) => CommitWait::Unknown(format!(
            "synchronous_standby_names = {names:?} could not be read: {why}"
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word, a number or `*`.
    Word(String),
    /// A double-quoted name (`""` inside is one `"`).
    Quoted(String),
    Open,
    Close,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&next) = chars.peek() {
        match next {
            ' ' | '\t' | '\n' | '\r' | '\x0c' => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                tokens.push(match next {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '*' => {
                chars.next();
                tokens.push(Token::Word("*".to_owned()));
            }
            '"' => {
                chars.next();
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            name.push('"');
                        }
                        Some('"') => break,
                        Some(c) => name.push(c),
                        None => return Err("a quoted name is not closed".to_owned()),
                    }
                }
                tokens.push(Token::Quoted(name));
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii() => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii() {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(format!("{other:?} is not part of its syntax")),
        }
    }
    Ok(tokens)
}

/// The standby names `synchronous_standby_names` lists, in any of its forms.
fn standby_names(text: &str) -> Result<Vec<String>, String> {
    let tokens = tokens(text)?;
    let number = |token: Option<&Token>| match token {
        Some(Token::Word(word)) if word.bytes().all(|b| b.is_ascii_digit()) => {
            Some(word.parse::<u64>().unwrap_or(u64::MAX))
        }
        _ => None,
    };
    // `ANY n (`, `FIRST n (` or `n (`: where the list starts, and the number.
    let method = matches!(tokens.first(), Some(Token::Word(word))
        if word.eq_ignore_ascii_case("any") || word.eq_ignore_ascii_case("first"));
    let (start, count) = if method {
        match (number(tokens.get(1)), tokens.get(2)) {
            (Some(count), Some(Token::Open)) => (3, Some(count)),
            _ => (0, None),
        }
    } else {
        match (number(tokens.first()), tokens.get(1)) {
            (Some(count), Some(Token::Open)) => (2, Some(count)),
            _ => (0, None),
        }
    };
    let end = if count.is_some() {
        if tokens.last() != Some(&Token::Close) {
            return Err("a list opened with `(` is not closed".to_owned());
        }
        tokens.len() - 1
    } else {
        tokens.len()
    };
    if count == Some(0) {
        return Err("it waits for 0 standbys".to_owned());
    }
    let mut names = Vec::new();
    let mut expect_name = true;
    for token in &tokens[start..end] {
        match (expect_name, token) {
            (true, Token::Word(name) | Token::Quoted(name)) => {
                names.push(name.clone());
                expect_name = false;
            }
            (false, Token::Comma) => expect_name = true,
            (_, other) => return Err(format!("{other:?} is out of place")),
        }
    }
    if expect_name {
        return Err("it ends where a standby name is expected".to_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(names: &str, commit: &str) -> CommitWait {
        commit_wait(&SyncSettings {
            standby_names: Some(names.to_owned()),
            commit: Some(commit.to_owned()),
        })
    }

    fn standbys(list: &[&str]) -> CommitWait {
        CommitWait::Standbys(list.iter().map(|name| (*name).to_owned()).collect())
    }

    #[test]
    fn every_form_postgresql_accepts_names_its_standbys() {
        assert_eq!(wait("\"db-2\"", "on"), standbys(&["db-2"]));
        assert_eq!(wait("db2, db3", "remote_apply"), standbys(&["db2", "db3"]));
        assert_eq!(
            wait("FIRST 1 (\"db-2\", \"db-3\")", "remote_write"),
            standbys(&["db-2", "db-3"])
        );
        assert_eq!(
            wait("any 2(a,\"b \"\"c\"\"\",  d )", "on"),
            standbys(&["a", "b \"c\"", "d"])
        );
        assert_eq!(wait("2 (x, y)", "on"), standbys(&["x", "y"]));
        assert_eq!(wait("*", "on"), standbys(&["*"]));
        assert_eq!(wait("ANY 1 (*)", "on"), standbys(&["*"]));
        // A standby may be called `first` or by a number.
        assert_eq!(wait("first, 1", "on"), standbys(&["first", "1"]));
    }

    #[test]
    fn an_empty_list_or_a_local_commit_waits_for_nobody() {
        assert!(matches!(wait("", "on"), CommitWait::Nobody(why) if why.contains("empty")));
        assert!(matches!(wait("  ", "on"), CommitWait::Nobody(_)));
        for level in ["local", "off", "OFF", "false"] {
            assert!(
                matches!(wait("\"db-2\"", level), CommitWait::Nobody(ref why) if why.contains(level)),
                "{level}"
            );
        }
    }

    #[test]
    fn what_cannot_be_read_is_unknown_never_a_guess() {
        for names in [
            "FIRST 1 (a, b",
            "(a)",
            "a,",
            ",a",
            "a b",
            "ANY 0 (a)",
            "\"open",
            "a;b",
            "ANY 1 (a) b",
        ] {
            assert!(
                matches!(wait(names, "on"), CommitWait::Unknown(ref why) if why.contains("could not be read")),
                "{names}: {:?}",
                wait(names, "on")
            );
        }
        assert!(matches!(wait("a", "sometimes"), CommitWait::Unknown(_)));
        assert!(matches!(
            commit_wait(&SyncSettings::default()),
            CommitWait::Unknown(why) if why.contains("not read")
        ));
    }

    #[test]
    fn standbys_listed_as_synchronous_are_added_once() {
        let listed = vec!["DB-2".to_owned(), "db-4".to_owned()];
        assert_eq!(
            standbys(&["db-2", "db-3"]).with_listed(&listed),
            standbys(&["db-2", "db-3", "db-4"])
        );
        let nobody = CommitWait::Nobody("x".to_owned());
        assert_eq!(nobody.clone().with_listed(&listed), nobody);
    }
}
