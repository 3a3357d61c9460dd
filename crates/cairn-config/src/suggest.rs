//! "Did you mean": the known name nearest to a misspelt one.

/// The candidate closest to `given` by edit distance (transpositions count once), if it is
/// close enough to be a likely typo: at most 2 edits, or a third of the longer name. Failing
/// that, the one candidate that starts with `given` (an abbreviation such as `repo`).
pub fn nearest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let given_lower = given.to_lowercase();
    let by_distance = candidates
        .iter()
        .copied()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&given_lower, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            let longer = given.chars().count().max(candidate.chars().count());
            *distance <= 2.max(longer / 3)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate);
    by_distance.or_else(|| {
        let mut extending = candidates
            .iter()
            .filter(|c| given.len() >= 3 && c.to_lowercase().starts_with(&given_lower));
        match (extending.next(), extending.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_key_and_strangers_find_none() {
        let keys = ["sources", "exclude", "schedule", "retention", "repository"];
        assert_eq!(nearest("sorces", keys), Some("sources"));
        assert_eq!(nearest("shcedule", keys), Some("schedule"));
        assert_eq!(nearest("Retention", keys), Some("retention"));
        assert_eq!(nearest("repo", keys), Some("repository"));
        assert_eq!(nearest("re", keys), None);
        assert_eq!(nearest("colour", keys), None);
    }
}
