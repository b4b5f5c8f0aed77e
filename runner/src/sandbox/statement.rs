//! A transform's statement made ready to run: checked by the guard, which renders the text
//! the database receives from the checked tree, with the database's own placeholders. Values
//! are always bound as parameters; on PostgreSQL they are bound as text and each placeholder is
//! cast to the type the server infers for it, so that a text value reaches an enum, UUID or
//! date column as a literal would (PostgreSQL refuses a text-typed parameter there).

use std::sync::{Arc, Mutex, OnceLock};

use super::guard::{self, Allowed, Checked, Denied, Grants};
use crate::db::Value;
use crate::dialect_kind::Dialect;

/// A checked statement, and what running it needs worked out once.
#[derive(Debug)]
pub struct Prepared {
    pub dialect: Dialect,
    /// The tables it reads and writes.
    pub allowed: Allowed,
    checked: Checked,
    /// PostgreSQL: the text sent, each placeholder cast to its inferred type, and the result's
    /// columns; learnt from the server the first time the statement runs.
    pub(super) postgres: OnceLock<PostgresForm>,
    /// Set once the writes that cascades and triggers imply were found declared.
    pub(super) implied_checked: OnceLock<()>,
    /// Set once PostgreSQL's plan of it was found within the grants.
    pub(super) plan_checked: OnceLock<()>,
    /// The statements batches of it were joined into, by the batch's count of rows, checked
    /// by the guard: a transform's batches are mostly of one or two sizes, so most are
    /// written and checked once.
    batches: Mutex<Vec<(usize, Arc<Checked>)>>,
}

/// How a statement is sent to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresForm {
    pub sql: String,
    /// For a statement that returns rows: the same, each row refused by the server if it is
    /// larger than the bytes given as one more parameter (see `sql::row_bound`).
    pub rows_sql: Option<String>,
    pub columns: Vec<String>,
    /// The type the server infers for each parameter, as `format_type` writes it.
    pub parameter_types: Vec<String>,
}

/// Why a statement cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("{0}")]
    Denied(#[from] Denied),
    #[error("{0}")]
    Invalid(String),
}

/// Checks `sql` with the guard.
pub fn prepare(sql: &str, dialect: Dialect, grants: &Grants) -> Result<Prepared, StatementError> {
    let checked = guard::check(sql, dialect, grants)?;
    Ok(Prepared {
        dialect,
        allowed: checked.allowed.clone(),
        checked,
        postgres: OnceLock::new(),
        implied_checked: OnceLock::new(),
        plan_checked: OnceLock::new(),
        batches: Mutex::new(Vec::new()),
    })
}

impl Prepared {
    /// How many parameters the statement needs.
    pub fn parameters(&self) -> usize {
        self.checked.parameters
    }

    /// The statement as the database receives it (before PostgreSQL's casts).
    pub fn sql(&self) -> &str {
        &self.checked.sql
    }

    /// True for a query, false for INSERT, UPDATE, DELETE.
    pub fn is_query(&self) -> bool {
        self.checked.query
    }

    /// How a batch of it can run as one statement, where it can.
    pub fn batch(&self) -> Option<&guard::BatchShape> {
        self.checked.batch.as_ref()
    }

    /// How a cursor can read it page by page by its key, where it can.
    pub fn keyset(&self) -> Option<&guard::KeysetShape> {
        self.checked.keyset.as_ref()
    }

    /// The statement a batch of `count` rows was joined into before, if it is kept.
    pub(super) fn batch_statement(&self, count: usize) -> Option<Arc<Checked>> {
        let batches = self.batches.lock().ok()?;
        batches
            .iter()
            .find(|(kept, _)| *kept == count)
            .map(|(_, checked)| checked.clone())
    }

    /// Keeps the statement a batch of `count` rows is joined into (the last few counts).
    pub(super) fn keep_batch_statement(&self, count: usize, checked: Arc<Checked>) {
        const KEPT: usize = 4;
        if let Ok(mut batches) = self.batches.lock() {
            if batches.len() == KEPT {
                batches.remove(0);
            }
            batches.push((count, checked));
        }
    }

    /// About how many bytes the host holds for this statement, for the cache's bound.
    pub fn held_bytes(&self) -> usize {
        let postgres = self.postgres.get().map_or(0, |form| {
            form.sql.len() + form.columns.iter().map(String::len).sum::<usize>()
        });
        let batch = self.batches.lock().map_or(0, |batches| {
            batches
                .iter()
                .map(|(_, checked)| checked.sql.len() + 8 * checked.slots.len())
                .sum()
        });
        std::mem::size_of::<Self>()
            + batch
            + self.checked.sql.len()
            + 8 * self.checked.slots.len()
            + postgres
            + self
                .allowed
                .tables
                .iter()
                .chain(&self.allowed.writes)
                .map(String::len)
                .sum::<usize>()
    }

    /// Checks that `params` holds every parameter the statement uses.
    pub fn check_params(&self, params: &[Value]) -> Result<(), StatementError> {
        if params.len() < self.parameters() {
            return Err(StatementError::Invalid(format!(
                "the statement uses {} parameter(s) but {} were given",
                self.parameters(),
                params.len()
            )));
        }
        Ok(())
    }

    /// The parameters in the order the statement's placeholders take them: MySQL's `?` by
    /// position, elsewhere `$n`/`?n` by number.
    pub fn ordered<'p>(&self, params: &'p [Value]) -> Result<Vec<&'p Value>, StatementError> {
        Ok(match self.dialect {
            // In range: check_params saw `parameters` (the largest slot + 1) values.
            Dialect::Mysql => {
                self.check_params(params)?;
                self.checked.slots.iter().map(|s| &params[*s]).collect()
            }
            Dialect::Postgres | Dialect::Sqlite => self.numbered(params)?.iter().collect(),
        })
    }

    /// The values numbered placeholders (`$n`, `?n`: PostgreSQL and SQLite) take, in order,
    /// without collecting them: for a batch, bound row by row.
    pub fn numbered<'p>(&self, params: &'p [Value]) -> Result<&'p [Value], StatementError> {
        self.check_params(params)?;
        Ok(&params[..self.parameters()])
    }
}

/// A value as the text PostgreSQL's input function for its column's type reads: what a
/// literal of the value would say, bound as a text parameter. `None` for NULL.
pub fn postgres_text(value: &Value) -> Result<Option<String>, StatementError> {
    Ok(postgres_text_ref(value)?.map(std::borrow::Cow::into_owned))
}

/// [`postgres_text`], borrowed where the value already is that text.
pub fn postgres_text_ref(
    value: &Value,
) -> Result<Option<std::borrow::Cow<'_, str>>, StatementError> {
    use std::borrow::Cow;
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Boolean(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Value::Integer(i) => Cow::Owned(i.to_string()),
        Value::Real(x) if x.is_nan() => Cow::Borrowed("NaN"),
        Value::Real(x) if x.is_infinite() => {
            Cow::Borrowed(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        // Exponent form with the shortest digits that read back as the same double.
        Value::Real(x) => Cow::Owned(format!("{x:e}")),
        Value::Decimal(original) => {
            let text = original.trim();
            if !is_decimal(text) {
                return Err(StatementError::Invalid(format!(
                    "'{original}' is not a decimal number"
                )));
            }
            Cow::Borrowed(text)
        }
        Value::Blob(bytes) => Cow::Owned(format!("\\x{}", hex::encode(bytes))),
        Value::Text(text)
        | Value::Date(text)
        | Value::Time(text)
        | Value::Timestamp(text)
        | Value::Json(text)
        | Value::Uuid(text) => {
            if text.contains('\0') {
                return Err(StatementError::Invalid(
                    "PostgreSQL text cannot hold a NUL character; use a blob".into(),
                ));
            }
            Cow::Borrowed(text.as_str())
        }
    }))
}

fn is_decimal(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let digits = mantissa.replacen('.', "", 1);
    let mantissa_ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && mantissa.matches('.').count() <= 1;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants::new(&[], &["t".into()])
    }

    #[test]
    fn parameters_are_numbered_for_each_database() {
        let p = prepare(
            "UPDATE t SET a = $2, b = '$1 stays' WHERE id = $1",
            Dialect::Postgres,
            &grants(),
        )
        .unwrap();
        assert_eq!(p.parameters(), 2);
        assert_eq!(p.sql(), "UPDATE t SET a = $2, b = '$1 stays' WHERE id = $1");
        let p = prepare(
            "UPDATE t SET a = $2 WHERE id = $1",
            Dialect::Sqlite,
            &grants(),
        )
        .unwrap();
        assert_eq!(p.sql(), "UPDATE t SET a = ?2 WHERE id = ?1");
        let p = prepare(
            "UPDATE t SET a = ? WHERE id = ?",
            Dialect::Sqlite,
            &grants(),
        )
        .unwrap();
        assert_eq!(p.sql(), "UPDATE t SET a = ?1 WHERE id = ?2");
        let p = prepare(
            "UPDATE t SET a = $2 WHERE id = $1 OR id = $2",
            Dialect::Mysql,
            &grants(),
        )
        .unwrap();
        assert_eq!(p.sql(), "UPDATE t SET a = ? WHERE id = ? OR id = ?");
        let params = [Value::Integer(7), Value::Text("x".into())];
        assert_eq!(
            p.ordered(&params).unwrap(),
            [&params[1], &params[0], &params[1]]
        );
        let err = prepare(
            "UPDATE t SET a = $1 WHERE id = ?",
            Dialect::Mysql,
            &grants(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("either $1"), "{err}");
        let err = p.ordered(&[Value::Null]).unwrap_err();
        assert!(
            err.to_string()
                .contains("uses 2 parameter(s) but 1 were given"),
            "{err}"
        );
    }

    #[test]
    fn comments_and_the_guests_text_never_reach_the_database() {
        let p = prepare(
            "UPDATE t SET a = $1, -- not this\n b = 'é ✓ -- $9' /* nor this */ WHERE id IN ($3, $2)",
            Dialect::Postgres,
            &grants(),
        )
        .unwrap();
        assert_eq!(p.parameters(), 3);
        assert_eq!(
            p.sql(),
            "UPDATE t SET a = $1, b = 'é ✓ -- $9' WHERE id IN ($3, $2)"
        );
    }

    #[test]
    fn postgres_parameters_are_sent_as_the_text_of_a_literal() {
        let text = |v: Value| postgres_text(&v).unwrap();
        assert_eq!(text(Value::Null), None);
        assert_eq!(text(Value::Boolean(true)).as_deref(), Some("true"));
        assert_eq!(text(Value::Integer(-3)).as_deref(), Some("-3"));
        assert_eq!(text(Value::Real(0.1)).as_deref(), Some("1e-1"));
        assert_eq!(
            text(Value::Real(f64::NEG_INFINITY)).as_deref(),
            Some("-Infinity")
        );
        assert_eq!(text(Value::Blob(vec![0, 255])).as_deref(), Some("\\x00ff"));
        assert_eq!(
            text(Value::Decimal(" 12.50 ".into())).as_deref(),
            Some("12.50")
        );
        assert!(postgres_text(&Value::Decimal("1; DROP TABLE t".into())).is_err());
        assert!(postgres_text(&Value::Text("a\0b".into())).is_err());
    }
}
