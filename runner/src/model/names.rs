//! The names of schema objects: which names are allowed, and the names runner gives
//! constraints, indexes and its temporary objects when a revision gives none.

use sha2::{Digest, Sha256};

use super::{MAX_IDENTIFIER_LEN, SchemaError};
use crate::vocab::{TEMPORARY_PREFIX, is_runner_table};

/// Checks a table, column, index, constraint or enum name: non-empty, at most 63 bytes, and
/// free of the quote characters the dialects use.
pub fn validate_identifier(name: &str) -> Result<(), SchemaError> {
    if name.is_empty() {
        return Err(SchemaError::Invalid("a name must not be empty".into()));
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        return Err(SchemaError::Invalid(format!(
            "the name '{name}' is longer than {MAX_IDENTIFIER_LEN} bytes, which PostgreSQL would cut"
        )));
    }
    if name
        .chars()
        .any(|c| matches!(c, '"' | '`' | '[' | ']' | '\0') || c.is_control())
    {
        return Err(SchemaError::Invalid(format!(
            "the name '{name}' contains a quote, bracket or control character"
        )));
    }
    if name.trim() != name {
        return Err(SchemaError::Invalid(format!(
            "the name '{name}' starts or ends with white space"
        )));
    }
    if is_runner_table(name) {
        return Err(SchemaError::Invalid(format!(
            "the name '{name}' is reserved for runner's own tables"
        )));
    }
    Ok(())
}

/// A constraint or index name derived from its table and columns (`ix_contacts_email`), as
/// Alembic's naming conventions do; cut to 63 bytes with a hash suffix when too long, so that
/// two long names never collide after PostgreSQL truncates them.
pub fn derived_name(prefix: &str, table: &str, columns: &[String]) -> String {
    if columns.is_empty() {
        fit_identifier(format!("{prefix}_{table}"))
    } else {
        fit_identifier(format!("{prefix}_{table}_{}", columns.join("_")))
    }
}

/// The primary key's name when none is given: `pk_<table>`.
pub fn pk_name(table: &str) -> String {
    derived_name("pk", table, &[])
}

/// A unique constraint's name when none is given: `uq_<table>_<columns>`.
pub fn unique_name(table: &str, columns: &[String]) -> String {
    derived_name("uq", table, columns)
}

/// A foreign key's name when none is given: `fk_<table>_<columns>_<target table>`.
pub fn fk_name(table: &str, columns: &[String], ref_table: &str) -> String {
    let mut parts = columns.to_vec();
    parts.push(ref_table.to_string());
    derived_name("fk", table, &parts)
}

/// An index's name when none is given: `ix_<table>_<columns>`, or `uqix_...` for a unique
/// index (see [`super::compare::INDEX_PREFIXES`]).
pub fn index_name(table: &str, columns: &[String], unique: bool) -> String {
    derived_name(if unique { "uqix" } else { "ix" }, table, columns)
}

/// The name of something runner creates for a moment during an operation (`_runner_new_<x>`):
/// reserved for runner by [`validate_identifier`], and cut like [`derived_name`] so that it
/// fits every database (MySQL refuses names over 64 bytes; PostgreSQL cuts them at 63).
pub fn temp_name(purpose: &str, name: &str) -> String {
    fit_identifier(format!("{TEMPORARY_PREFIX}{purpose}_{name}"))
}

/// `full` if it fits in [`MAX_IDENTIFIER_LEN`] bytes, else its start with a hash of the whole.
fn fit_identifier(full: String) -> String {
    if full.len() <= MAX_IDENTIFIER_LEN {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let suffix = hex::encode(&digest[..4]);
    let mut cut = MAX_IDENTIFIER_LEN - suffix.len() - 1;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{suffix}", &full[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_cut_to_63_bytes_without_colliding() {
        assert_eq!(
            derived_name("ix", "contacts", &["email".into()]),
            "ix_contacts_email"
        );
        let long_a = derived_name("ix", &"t".repeat(40), &["a".repeat(30)]);
        let long_b = derived_name("ix", &"t".repeat(40), &["a".repeat(31)]);
        assert_eq!(long_a.len(), MAX_IDENTIFIER_LEN);
        assert_ne!(long_a, long_b);
        assert_eq!(pk_name("contacts"), "pk_contacts");
        assert_eq!(
            fk_name("deals", &["contact_id".into()], "contacts"),
            "fk_deals_contact_id_contacts"
        );
        assert_eq!(index_name("t", &["a".into()], true), "uqix_t_a");
        assert_eq!(unique_name("t", &["a".into(), "b".into()]), "uq_t_a_b");
    }

    #[test]
    fn temporary_names_are_reserved_and_cut_to_63_bytes() {
        assert_eq!(temp_name("new", "amount"), "_runner_new_amount");
        let long = temp_name("new", &"a".repeat(60));
        assert_eq!(long.len(), MAX_IDENTIFIER_LEN);
        assert!(long.starts_with("_runner_new_aaa"), "{long}");
        assert_ne!(long, temp_name("new", &"a".repeat(61)));
        assert!(validate_identifier(&long).is_err());
    }

    #[test]
    fn identifiers_reject_quotes_reserved_prefix_and_overlong_names() {
        assert!(validate_identifier("contacts").is_ok());
        for bad in [
            "",
            "a\"b",
            "a`b",
            "runner_version",
            "_runner_new_t",
            &"x".repeat(64),
            " padded",
        ] {
            assert!(validate_identifier(bad).is_err(), "{bad:?} accepted");
        }
    }
}
