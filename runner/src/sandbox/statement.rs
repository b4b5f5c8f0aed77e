//! A transform's statement made ready to run: checked by the guard, its placeholders found
//! (`$1, $2, ...` on every database; `?` too on SQLite and MySQL), and written for the
//! database: SQLite gets numbered placeholders to bind; PostgreSQL and MySQL get the values as
//! SQL literals, so that a text value reaches an enum, UUID or date column as a literal would
//! (PostgreSQL refuses a text-typed parameter there) and a batch of statements travels in one
//! round trip.

use std::fmt::Write as _;

use sqlparser::tokenizer::{Location, Token, Tokenizer};

use super::guard::{self, Allowed, Denied, Grants};
use crate::db::Value;
use crate::dialect::{Dialect, Quoting, push_string_literal};

/// A checked statement with its placeholders located, and what each run of it needs worked
/// out once.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub dialect: Dialect,
    pub allowed: Allowed,
    /// The text around the placeholders: one more segment than placeholders.
    segments: Vec<String>,
    /// The 0-based parameter each placeholder takes.
    slots: Vec<usize>,
    /// How many parameters the statement needs.
    parameters: usize,
    /// The text with SQLite's numbered placeholders (`?1`, `?2`), for binding.
    numbered: String,
}

/// Why a statement cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("{0}")]
    Denied(#[from] Denied),
    #[error("{0}")]
    Invalid(String),
}

/// Turns the tokenizer's 1-based line/column locations (columns count characters) into byte
/// offsets, walking the text once for locations that come in order.
struct Locator<'a> {
    text: &'a str,
    /// The byte offset of `line`/`column`.
    index: usize,
    line: u64,
    column: u64,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            index: 0,
            line: 1,
            column: 1,
        }
    }

    fn offset(&mut self, at: Location) -> usize {
        if (at.line, at.column) < (self.line, self.column) {
            *self = Self::new(self.text);
        }
        for ch in self.text[self.index..].chars() {
            if (self.line, self.column) == (at.line, at.column) {
                return self.index;
            }
            if ch == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
            self.index += ch.len_utf8();
        }
        self.text.len()
    }
}

/// Checks `sql` and locates its placeholders.
pub fn prepare(sql: &str, dialect: Dialect, grants: &Grants) -> Result<Prepared, StatementError> {
    let allowed = guard::check(sql, dialect, grants)?;
    let parser_dialect = dialect.parser();
    let tokens = Tokenizer::new(parser_dialect.as_ref(), sql)
        .tokenize_with_location()
        .map_err(|e| StatementError::Invalid(format!("the statement does not parse: {e}")))?;
    let mut segments = Vec::new();
    let mut slots = Vec::new();
    let mut last = 0usize;
    let mut locator = Locator::new(sql);
    let (mut numbered, mut positional) = (false, 0usize);
    for token in &tokens {
        let text = match &token.token {
            Token::Placeholder(text) => text.as_str(),
            // MySQL has no `$n` placeholders of its own; its tokenizer reads them as words.
            Token::Word(word)
                if dialect == Dialect::Mysql
                    && word.quote_style.is_none()
                    && word.value.len() > 1
                    && word.value.starts_with('$')
                    && word.value[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                word.value.as_str()
            }
            _ => continue,
        };
        let slot = if let Some(number) = text
            .strip_prefix('$')
            .or_else(|| text.strip_prefix('?').filter(|n| !n.is_empty()))
        {
            numbered = true;
            let n: usize = number.parse().map_err(|_| {
                StatementError::Invalid(format!("placeholder '{text}' is not $1, $2, ... or ?"))
            })?;
            if n == 0 {
                return Err(StatementError::Invalid("placeholders count from $1".into()));
            }
            n - 1
        } else if text == "?" && dialect != Dialect::Postgres {
            positional += 1;
            positional - 1
        } else {
            return Err(StatementError::Invalid(format!(
                "placeholder '{text}' is not supported: use $1, $2, ..."
            )));
        };
        if numbered && positional > 0 {
            return Err(StatementError::Invalid(
                "use either $1, $2, ... or ? placeholders in one statement, not both".into(),
            ));
        }
        let start = locator.offset(token.span.start);
        segments.push(sql[last..start].to_string());
        last = start + text.len();
        slots.push(slot);
    }
    segments.push(sql[last..].to_string());
    let mut sqlite = String::with_capacity(sql.len() + 2 * slots.len());
    for (segment, slot) in segments.iter().zip(&slots) {
        let _ = write!(sqlite, "{segment}?{}", slot + 1);
    }
    sqlite.push_str(segments.last().map(String::as_str).unwrap_or_default());
    Ok(Prepared {
        dialect,
        allowed,
        parameters: slots.iter().map(|s| s + 1).max().unwrap_or(0),
        numbered: sqlite,
        segments,
        slots,
    })
}

impl Prepared {
    /// How many parameters the statement needs.
    pub fn parameters(&self) -> usize {
        self.parameters
    }

    /// Checks that `params` holds every parameter the statement uses.
    pub fn check_params(&self, params: &[Value]) -> Result<(), StatementError> {
        if params.len() < self.parameters {
            return Err(StatementError::Invalid(format!(
                "the statement uses {} parameter(s) but {} were given",
                self.parameters,
                params.len()
            )));
        }
        Ok(())
    }

    /// The text with SQLite's numbered placeholders (`?1`, `?2`), for binding.
    pub fn numbered(&self) -> &str {
        &self.numbered
    }

    /// The text with each parameter written as a literal of the database.
    pub fn with_literals(
        &self,
        params: &[Value],
        quoting: Quoting,
    ) -> Result<String, StatementError> {
        let mut out = String::new();
        self.write_literals(&mut out, params, quoting)?;
        Ok(out)
    }

    /// Appends the text with each parameter written as a literal of the database to `out`
    /// (a batch script grows in one buffer). On error `out` may hold part of the statement.
    pub fn write_literals(
        &self,
        out: &mut String,
        params: &[Value],
        quoting: Quoting,
    ) -> Result<(), StatementError> {
        self.check_params(params)?;
        out.reserve(self.numbered.len() + 16 * self.slots.len());
        for (segment, slot) in self.segments.iter().zip(&self.slots) {
            out.push_str(segment);
            // In range: check_params saw `parameters` (the largest slot + 1) values.
            write_literal(out, &params[*slot], self.dialect, quoting)?;
        }
        out.push_str(self.segments.last().map(String::as_str).unwrap_or_default());
        Ok(())
    }
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

/// Appends a string literal of the database. PostgreSQL runs with
/// `standard_conforming_strings` on, where only the quote is special; MySQL also treats
/// backslash as an escape unless `NO_BACKSLASH_ESCAPES` is set.
fn write_quoted(
    out: &mut String,
    text: &str,
    dialect: Dialect,
    quoting: Quoting,
) -> Result<(), StatementError> {
    if text.contains('\0') && dialect == Dialect::Postgres {
        return Err(StatementError::Invalid(
            "PostgreSQL text cannot hold a NUL character; use a blob".into(),
        ));
    }
    push_string_literal(out, dialect, text, quoting);
    Ok(())
}

/// A value as a SQL literal of the database.
pub fn literal(
    value: &Value,
    dialect: Dialect,
    quoting: Quoting,
) -> Result<String, StatementError> {
    let mut out = String::new();
    write_literal(&mut out, value, dialect, quoting)?;
    Ok(out)
}

/// Appends a value as a SQL literal of the database.
fn write_literal(
    out: &mut String,
    value: &Value,
    dialect: Dialect,
    quoting: Quoting,
) -> Result<(), StatementError> {
    // Writing to a String cannot fail: the `write!` results below are always Ok.
    match value {
        Value::Null => out.push_str("NULL"),
        Value::Boolean(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        // Negative numbers go in parentheses: `x -$1` must not become the comment `x --1`.
        Value::Integer(i) if *i < 0 => {
            let _ = write!(out, "({i})");
        }
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        // Exponent form, with the shortest digits that read back as the same double. SQLite and
        // MySQL read it as a double (MySQL would read a long plain number as DECIMAL and clamp
        // it); PostgreSQL reads it as an exact `numeric`, which a float8 or real column
        // converts to the same double or float, and a numeric column keeps every digit of.
        Value::Real(x) if x.is_finite() => {
            if x.is_sign_negative() {
                let _ = write!(out, "({x:e})");
            } else {
                let _ = write!(out, "{x:e}");
            }
        }
        Value::Real(x) => match dialect {
            Dialect::Postgres => {
                let text = if x.is_nan() {
                    "NaN"
                } else if *x > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                };
                let _ = write!(out, "'{text}'::float8");
            }
            _ => {
                return Err(StatementError::Invalid(format!(
                    "{dialect} cannot store the number {x}"
                )));
            }
        },
        Value::Decimal(original) => {
            let text = original.trim();
            if !is_decimal(text) {
                return Err(StatementError::Invalid(format!(
                    "'{original}' is not a decimal number"
                )));
            }
            if text.starts_with('-') {
                let _ = write!(out, "({text})");
            } else {
                out.push_str(text);
            }
        }
        Value::Blob(bytes) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.reserve(2 * bytes.len() + 12);
            out.push_str(match dialect {
                Dialect::Postgres => "'\\x",
                Dialect::Mysql | Dialect::Sqlite => "X'",
            });
            for byte in bytes {
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            out.push_str(match dialect {
                Dialect::Postgres => "'::bytea",
                Dialect::Mysql | Dialect::Sqlite => "'",
            });
        }
        Value::Timestamp(text) if dialect == Dialect::Mysql => {
            // MySQL's DATETIME has no offset: a zoned time is stored as UTC.
            let text = match chrono::DateTime::parse_from_rfc3339(text.trim()) {
                Ok(zoned) => zoned
                    .with_timezone(&chrono::Utc)
                    .format("%Y-%m-%d %H:%M:%S%.f")
                    .to_string(),
                Err(_) => text.replacen('T', " ", 1),
            };
            write_quoted(out, &text, dialect, quoting)?;
        }
        Value::Text(text)
        | Value::Date(text)
        | Value::Time(text)
        | Value::Timestamp(text)
        | Value::Json(text)
        | Value::Uuid(text) => write_quoted(out, text, dialect, quoting)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants::new(&[], &["t".into()])
    }

    #[test]
    fn finds_placeholders_outside_strings_and_renumbers_them() {
        let p = prepare(
            "UPDATE t SET a = $2, b = '$1 stays' WHERE id = $1",
            Dialect::Postgres,
            &grants(),
        )
        .unwrap();
        assert_eq!(p.parameters(), 2);
        let sql = p
            .with_literals(
                &[Value::Integer(7), Value::Text("it's".into())],
                Quoting::default(),
            )
            .unwrap();
        assert_eq!(sql, "UPDATE t SET a = 'it''s', b = '$1 stays' WHERE id = 7");
        let p = prepare(
            "UPDATE t SET a = $2 WHERE id = $1",
            Dialect::Sqlite,
            &grants(),
        )
        .unwrap();
        assert_eq!(p.numbered(), "UPDATE t SET a = ?2 WHERE id = ?1");
        let p = prepare("UPDATE t SET a = ? WHERE id = ?", Dialect::Mysql, &grants()).unwrap();
        assert_eq!(
            p.with_literals(
                &[Value::Text("a\\b".into()), Value::Integer(1)],
                Quoting {
                    mysql_backslash_escapes: true
                }
            )
            .unwrap(),
            "UPDATE t SET a = 'a\\\\b' WHERE id = 1"
        );
        let p = prepare(
            "UPDATE t SET a = $1 WHERE id = $2",
            Dialect::Mysql,
            &grants(),
        )
        .unwrap();
        assert_eq!(p.parameters(), 2);
        let err = prepare(
            "UPDATE t SET a = $1 WHERE id = ?",
            Dialect::Mysql,
            &grants(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("either $1"), "{err}");
        let err = p
            .with_literals(&[Value::Null], Quoting::default())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("uses 2 parameter(s) but 1 were given"),
            "{err}"
        );
    }

    #[test]
    fn placeholders_are_found_across_lines_and_wide_characters() {
        let sql = "UPDATE t SET a = $1,\n  b = 'é ✓ 😀 $9', -- $8\n  c = $2\nWHERE id IN ($3, $1)";
        let p = prepare(sql, Dialect::Postgres, &grants()).unwrap();
        assert_eq!(p.parameters(), 3);
        let params = [
            Value::Integer(1),
            Value::Text("x".into()),
            Value::Integer(-3),
        ];
        assert_eq!(
            p.with_literals(&params, Quoting::default()).unwrap(),
            "UPDATE t SET a = 1,\n  b = 'é ✓ 😀 $9', -- $8\n  c = 'x'\nWHERE id IN ((-3), 1)"
        );
        let p = prepare(sql, Dialect::Sqlite, &grants()).unwrap();
        assert_eq!(
            p.numbered(),
            "UPDATE t SET a = ?1,\n  b = 'é ✓ 😀 $9', -- $8\n  c = ?2\nWHERE id IN (?3, ?1)"
        );
        // A multi-row VALUES with thousands of placeholders, located in one pass.
        let rows: Vec<String> = (0..2000)
            .map(|n| format!("(${}, ${})", 2 * n + 1, 2 * n + 2))
            .collect();
        let sql = format!("INSERT INTO t (a, b) VALUES\n{}", rows.join(",\n"));
        let p = prepare(&sql, Dialect::Postgres, &grants()).unwrap();
        assert_eq!(p.parameters(), 4000);
        let params: Vec<Value> = (0..4000).map(Value::Integer).collect();
        let text = p.with_literals(&params, Quoting::default()).unwrap();
        assert!(text.ends_with("(3996, 3997),\n(3998, 3999)"), "{text}");
        let mut script = String::from("-- earlier;\n");
        p.write_literals(&mut script, &params, Quoting::default())
            .unwrap();
        assert_eq!(script, format!("-- earlier;\n{text}"));
    }

    #[test]
    fn literals_cannot_break_out_of_their_quotes() {
        let hostile = "'); DROP TABLE t; --";
        for dialect in Dialect::ALL {
            for quoting in [
                Quoting {
                    mysql_backslash_escapes: true,
                },
                Quoting {
                    mysql_backslash_escapes: false,
                },
            ] {
                let text = literal(&Value::Text(hostile.into()), dialect, quoting).unwrap();
                assert_eq!(text, "'''); DROP TABLE t; --'");
                let backslash = literal(
                    &Value::Text("\\'; DROP TABLE t; --".into()),
                    dialect,
                    quoting,
                )
                .unwrap();
                // Every quote inside is doubled, so the literal ends only at its last character.
                let inner = &backslash[1..backslash.len() - 1];
                assert!(
                    !inner.replace("''", "").contains('\''),
                    "{dialect}: {backslash}"
                );
            }
        }
        assert!(
            literal(
                &Value::Decimal("1; DROP TABLE t".into()),
                Dialect::Postgres,
                Quoting::default()
            )
            .is_err()
        );
        assert_eq!(
            literal(
                &Value::Decimal("-12.50".into()),
                Dialect::Postgres,
                Quoting::default()
            )
            .unwrap(),
            "(-12.50)"
        );
        assert_eq!(
            literal(&Value::Real(-0.5), Dialect::Mysql, Quoting::default()).unwrap(),
            "(-5e-1)"
        );
        assert_eq!(
            literal(
                &Value::Blob(vec![0, 255]),
                Dialect::Postgres,
                Quoting::default()
            )
            .unwrap(),
            "'\\x00ff'::bytea"
        );
        assert_eq!(
            literal(
                &Value::Timestamp("2026-01-01T10:00:00+02:00".into()),
                Dialect::Mysql,
                Quoting::default()
            )
            .unwrap(),
            "'2026-01-01 08:00:00'"
        );
        assert!(
            literal(
                &Value::Text("a\0b".into()),
                Dialect::Postgres,
                Quoting::default()
            )
            .is_err()
        );
    }
}
