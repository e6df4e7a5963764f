//! "did you mean `x`?": the closest known name to a mistyped one.
//!
//! The estate file's keys and names (`hadome-config`), the lab's topologies and nodes
//! (`hadome-lab`) and `hadome ack`'s targets all suggest a name the same way, so a typo is
//! caught, and a stranger is not, alike everywhere. It lives in the core, which needs nothing but
//! std, so each of them can depend on it.

/// The closest of `candidates` to `given`, when it is close enough to be a likely typo: at most
/// two edits, or a third of the candidate's length, and fewer edits than `given` has characters
/// (else every short candidate would be "close" to a short stranger). On a tie, the first.
pub fn closest<'a, S: AsRef<str>>(given: &str, candidates: &'a [S]) -> Option<&'a str> {
    let given_length = given.chars().count();
    candidates
        .iter()
        .map(AsRef::as_ref)
        .map(|candidate| (edit_distance(given, candidate), candidate))
        .filter(|(distance, candidate)| {
            *distance < given_length && *distance <= 2.max(candidate.len() / 3)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The Levenshtein distance between `a` and `b`, in characters: the fewest insertions, deletions
/// and substitutions that turn one into the other.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b_chars.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b_chars.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b_chars.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_a_typo_and_ignores_strangers() {
        let known = ["db-1", "db-2", "db-10"];
        assert_eq!(closest("db1", &known), Some("db-1"));
        assert_eq!(closest("primary", &known), None);
        assert_eq!(closest("b", &["a"]), None);
        let owned = vec!["db-1".to_owned(), "db-2".to_owned(), "misskey".to_owned()];
        assert_eq!(closest("db-l", &owned), Some("db-1"));
        assert_eq!(closest("miskey", &owned), Some("misskey"));
        assert_eq!(closest("postgres", &owned), None);
    }

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("straße", "strasse"), 2);
    }
}
