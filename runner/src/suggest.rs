//! "Did you mean": the closest of the names a typo could have meant, for messages about a
//! name that is not there (a table, a column, a module, an operation).

/// The candidate closest to `typed`, if one is close enough to be a typo of it: a
/// Jaro-Winkler similarity of 0.8 or more (clap's own threshold for its suggestions), or the
/// same name in another case.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|candidate| *candidate != typed)
        .map(|candidate| {
            let score = if candidate.eq_ignore_ascii_case(typed) {
                1.0
            } else {
                strsim::jaro_winkler(typed, candidate)
            };
            (score, candidate)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// `; did you mean 'x'?` when a candidate is close to `typed`, else nothing: the tail of a
/// "no such name" message.
pub fn did_you_mean<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(typed, candidates)
        .map(|name| format!("; did you mean '{name}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_a_stranger_finds_nothing() {
        let names = ["contacts", "orders", "order_items"];
        assert_eq!(closest("contcts", names), Some("contacts"));
        assert_eq!(closest("Orders", names), Some("orders"));
        assert_eq!(closest("order_item", names), Some("order_items"));
        assert_eq!(closest("invoices", names), None);
        assert_eq!(did_you_mean("contacs", names), "; did you mean 'contacts'?");
        assert_eq!(did_you_mean("zzz", names), "");
    }
}
