//! `sql`: raw SQL for what the operations do not cover, optionally per dialect, with an
//! optional `down`. The schema model cannot see what it does.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Irreversible, Operation, RenderCx, Reversal, Step};
use crate::dialect::{Action, RenderError};
use crate::dialect_kind::Dialect;
use crate::model::{Schema, SchemaError};

/// Runs raw SQL.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSql {
    pub up: SqlText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<SqlText>,
}

/// SQL for every database, or per database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SqlText {
    All(String),
    PerDialect(PerDialect),
}

/// SQL per database; a database left out has no SQL for this step.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PerDialect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mysql: Option<String>,
}

impl SqlText {
    /// The SQL for `dialect`, if this text has some.
    pub fn for_dialect(&self, dialect: Dialect) -> Option<&str> {
        match self {
            Self::All(sql) => Some(sql),
            Self::PerDialect(per) => match dialect {
                Dialect::Sqlite => per.sqlite.as_deref(),
                Dialect::Postgres => per.postgres.as_deref(),
                Dialect::Mysql => per.mysql.as_deref(),
            },
        }
    }
}

impl<'de> Deserialize<'de> for SqlText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SqlTextVisitor;
        impl<'de> Visitor<'de> for SqlTextVisitor {
            type Value = SqlText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("SQL text, or a mapping of sqlite/postgres/mysql to SQL text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SqlText, E> {
                Ok(SqlText::All(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SqlText, A::Error> {
                PerDialect::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SqlText::PerDialect)
            }
        }
        deserializer.deserialize_any(SqlTextVisitor)
    }
}

impl Operation for RawSql {
    fn apply(&self, _schema: &mut Schema) -> Result<(), SchemaError> {
        Ok(())
    }

    fn reverse(&self, _before: &Schema) -> Result<Reversal, Irreversible> {
        match &self.down {
            Some(down) => Ok(Reversal::steps(vec![Step::Sql(RawSql {
                up: down.clone(),
                down: Some(self.up.clone()),
            })])),
            None => Err(Irreversible(
                "this `sql` step has no `down`; give it one or write the revision's `downgrade` steps"
                    .into(),
            )),
        }
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Vec<Action>, RenderError> {
        let dialect = cx.dialect.dialect();
        let sql = self.up.for_dialect(dialect).ok_or_else(|| {
            RenderError::unsupported(
                "this `sql` step",
                dialect,
                &format!("add a `{dialect}` entry to its `up` (an empty one runs nothing)"),
            )
        })?;
        let sql = sql.trim().trim_end_matches(';').trim();
        Ok(if sql.is_empty() {
            Vec::new()
        } else {
            vec![Action::Sql(sql.to_string())]
        })
    }

    fn describe(&self) -> String {
        "sql".into()
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::super::testing::{crm, golden, step};
    use super::*;

    #[test]
    fn runs_shared_or_per_dialect_sql_and_reverses_with_down() {
        let before = crm();
        let shared = step(
            "sql: {up: \"UPDATE contacts SET score = 1;\", down: \"UPDATE contacts SET score = 0\"}",
        );
        expect![[r#"
            -- sqlite
            UPDATE contacts SET score = 1;
            -- postgres
            UPDATE contacts SET score = 1;
            -- mysql
            UPDATE contacts SET score = 1;
        "#]]
        .assert_eq(&golden(&before, &shared));
        let reversal = shared.operation().reverse(&before).unwrap();
        let Step::Sql(down) = &reversal.steps[0] else {
            panic!()
        };
        assert_eq!(
            down.up,
            SqlText::All("UPDATE contacts SET score = 0".into())
        );

        let per = step("sql: {up: {sqlite: \"SELECT 1\", postgres: \"\"}}");
        expect![[r#"
            -- sqlite
            SELECT 1;
            -- postgres
            -- mysql
            error: this `sql` step is not supported on mysql; add a `mysql` entry to its `up` (an empty one runs nothing)
        "#]]
        .assert_eq(&golden(&before, &per));
        let err = per.operation().reverse(&before).unwrap_err().to_string();
        assert!(err.contains("has no `down`"), "{err}");
    }

    #[test]
    fn rejects_unknown_dialect_keys() {
        let err = serde_saphyr::from_str::<RawSql>("up: {pg: x}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `pg`"), "{err}");
    }
}
