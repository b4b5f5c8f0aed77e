//! Writes a statement makes without naming them: a foreign key's `ON DELETE/UPDATE CASCADE`,
//! `SET NULL` or `SET DEFAULT` changes the rows that point at the table written, and a trigger
//! runs statements of its own. A step must declare those tables in `writes` too. They are read
//! from the live catalog, once per table and kind of change in a run. SQLite needs none of
//! this: its authorizer reports a cascade's and a trigger's writes as the statement is
//! prepared (see `authorizer.rs`).
//!
//! What a PostgreSQL trigger function or a MySQL trigger does is read from its body: every
//! table of the schema the body names counts as written (a table it only reads too: the
//! check is on the side of refusing).

use std::collections::{BTreeSet, HashMap};

use sqlparser::tokenizer::{Token, Tokenizer};

use super::guard::{Actions, Allowed, Grants};
use crate::db::{Db, DbError, Value};
use crate::dialect_kind::Dialect;

/// A kind of change to one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    Insert,
    Update,
    Delete,
}

impl Change {
    fn of(actions: Actions) -> Vec<Change> {
        let mut changes = Vec::new();
        if actions.insert {
            changes.push(Change::Insert);
        }
        if actions.update {
            changes.push(Change::Update);
        }
        if actions.delete {
            changes.push(Change::Delete);
        }
        changes
    }

    fn word(self) -> &'static str {
        match self {
            Change::Insert => "INSERT",
            Change::Update => "UPDATE",
            Change::Delete => "DELETE",
        }
    }
}

/// A table a change reaches, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub table: String,
    pub change: Change,
    /// How it is reached, for the message: `the foreign key fk_x of contacts`.
    pub through: String,
}

/// What is known of the catalog in this run.
#[derive(Debug, Default)]
pub struct Implied {
    known: HashMap<(String, Change), Vec<Reached>>,
    /// The tables of the schema (for reading trigger bodies), once asked.
    tables: Option<BTreeSet<String>>,
    /// Whether a table has triggers for a kind of change.
    triggers: HashMap<(String, Change), bool>,
}

impl Implied {
    /// True if `change` of `table` fires a trigger (or, on PostgreSQL, a rewrite rule).
    pub async fn has_triggers(
        &mut self,
        db: &mut Db,
        table: &str,
        change: Change,
    ) -> Result<bool, DbError> {
        let key = (table.to_string(), change);
        if let Some(known) = self.triggers.get(&key) {
            return Ok(*known);
        }
        let mut fires = !trigger_bodies(db, table, change).await?.is_empty();
        if db.dialect() == Dialect::Postgres && !fires {
            let rules = db
                .query(
                    "SELECT count(*) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class \
                     WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace \
                       AND r.rulename <> '_RETURN'",
                    &[Value::Text(table.into())],
                )
                .await?;
            fires = rules.scalar().and_then(Value::as_i64).unwrap_or(1) > 0;
        }
        self.triggers.insert(key, fires);
        Ok(fires)
    }

    /// Refuses a statement whose writes reach, through cascades or triggers, a table the
    /// step does not declare in `writes`. The message names the table to declare.
    pub async fn check(
        &mut self,
        db: &mut Db,
        allowed: &Allowed,
        grants: &Grants,
    ) -> Result<Result<(), String>, DbError> {
        if db.dialect() == Dialect::Sqlite || allowed.writes.is_empty() {
            return Ok(Ok(()));
        }
        let mut pending: Vec<(String, Change)> = Vec::new();
        for table in &allowed.writes {
            for change in Change::of(allowed.actions) {
                pending.push((table.clone(), change));
            }
        }
        let mut seen = BTreeSet::new();
        while let Some((table, change)) = pending.pop() {
            if !seen.insert((table.clone(), change)) {
                continue;
            }
            for reached in self.reached(db, &table, change).await? {
                if !grants.writable(&reached.table) {
                    return Ok(Err(format!(
                        "{} on '{table}' also changes table '{}' (through {}): declare it in this step's `writes`",
                        change.word(),
                        reached.table,
                        reached.through
                    )));
                }
                pending.push((reached.table, reached.change));
            }
        }
        Ok(Ok(()))
    }

    async fn reached(
        &mut self,
        db: &mut Db,
        table: &str,
        change: Change,
    ) -> Result<Vec<Reached>, DbError> {
        let key = (table.to_string(), change);
        if let Some(known) = self.known.get(&key) {
            return Ok(known.clone());
        }
        let mut reached = cascades(db, table, change).await?;
        let bodies = trigger_bodies(db, table, change).await?;
        if !bodies.is_empty() {
            if self.tables.is_none() {
                self.tables = Some(schema_tables(db).await?);
            }
            let tables = self.tables.as_ref().map_or(&BTreeSet::new(), |t| t).clone();
            for (trigger, body) in bodies {
                for named in names_in(&body, db.dialect(), &tables) {
                    if named != table {
                        // A trigger may insert, update or delete: each follows on.
                        for change in [Change::Insert, Change::Update, Change::Delete] {
                            reached.push(Reached {
                                table: named.clone(),
                                change,
                                through: format!("the trigger {trigger} of {table}"),
                            });
                        }
                    }
                }
            }
        }
        self.known.insert(key, reached.clone());
        Ok(reached)
    }
}

fn text(row: &[Value], at: usize) -> String {
    row.get(at).and_then(Value::to_text).unwrap_or_default()
}

/// The tables whose rows a change to `table` changes through foreign keys that point at it.
async fn cascades(db: &mut Db, table: &str, change: Change) -> Result<Vec<Reached>, DbError> {
    if change == Change::Insert {
        return Ok(Vec::new());
    }
    let (sql, params) = match db.dialect() {
        Dialect::Postgres => (
            "SELECT child.relname, c.conname, c.confdeltype::text, c.confupdtype::text \
             FROM pg_constraint c \
             JOIN pg_class parent ON parent.oid = c.confrelid \
             JOIN pg_class child ON child.oid = c.conrelid \
             WHERE c.contype = 'f' AND parent.relname = $1 \
               AND parent.relnamespace = current_schema()::regnamespace",
            vec![Value::Text(table.into())],
        ),
        Dialect::Mysql => (
            "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE \
             FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME = ?",
            vec![Value::Text(table.into())],
        ),
        Dialect::Sqlite => return Ok(Vec::new()),
    };
    let rows = db.query(sql, &params).await?;
    let mut reached = Vec::new();
    for row in &rows.rows {
        let rule = match change {
            Change::Delete => text(row, 2),
            _ => text(row, 3),
        };
        // PostgreSQL's codes and MySQL's words: cascade, set null, set default.
        let follows = match rule.as_str() {
            "c" | "CASCADE" => Some(change),
            "n" | "d" | "SET NULL" | "SET DEFAULT" => Some(Change::Update),
            _ => None,
        };
        if let Some(follows) = follows {
            reached.push(Reached {
                table: text(row, 0),
                change: follows,
                through: format!("the foreign key {} of {}", text(row, 1), text(row, 0)),
            });
        }
    }
    Ok(reached)
}

/// The name and body of each trigger that fires on `change` of `table`.
async fn trigger_bodies(
    db: &mut Db,
    table: &str,
    change: Change,
) -> Result<Vec<(String, String)>, DbError> {
    let rows = match db.dialect() {
        Dialect::Postgres => {
            // tgtype bits: 4 INSERT, 8 DELETE, 16 UPDATE
            // (https://github.com/postgres/postgres/blob/master/src/include/catalog/pg_trigger.h).
            let bit = match change {
                Change::Insert => 4,
                Change::Delete => 8,
                Change::Update => 16,
            };
            db.query(
                "SELECT t.tgname::text, p.prosrc FROM pg_trigger t \
                 JOIN pg_class c ON c.oid = t.tgrelid \
                 JOIN pg_proc p ON p.oid = t.tgfoid \
                 WHERE NOT t.tgisinternal AND c.relname = $1 \
                   AND c.relnamespace = current_schema()::regnamespace \
                   AND (t.tgtype::int & $2) <> 0",
                &[Value::Text(table.into()), Value::Integer(bit)],
            )
            .await?
        }
        Dialect::Mysql => {
            db.query(
                "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS \
                 WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? \
                   AND EVENT_MANIPULATION = ?",
                &[Value::Text(table.into()), Value::Text(change.word().into())],
            )
            .await?
        }
        Dialect::Sqlite => return Ok(Vec::new()),
    };
    Ok(rows
        .rows
        .iter()
        .map(|row| (text(row, 0), text(row, 1)))
        .collect())
}

/// The tables of the schema runner migrates.
async fn schema_tables(db: &mut Db) -> Result<BTreeSet<String>, DbError> {
    let sql = match db.dialect() {
        Dialect::Postgres => {
            "SELECT relname::text FROM pg_class \
             WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'f')"
        }
        Dialect::Mysql => {
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        }
        Dialect::Sqlite => return Ok(BTreeSet::new()),
    };
    let rows = db.query(sql, &[]).await?;
    Ok(rows.rows.iter().map(|row| text(row, 0)).collect())
}

/// The tables of `tables` that a trigger's body names (as words, quoted or not; unquoted
/// ones folded as the database folds them).
fn names_in(body: &str, dialect: Dialect, tables: &BTreeSet<String>) -> BTreeSet<String> {
    let parser = dialect.parser();
    let mut named = BTreeSet::new();
    let Ok(tokens) = Tokenizer::new(parser.as_ref(), body).tokenize() else {
        // A body the tokenizer cannot read: every table counts as named.
        return tables.clone();
    };
    for token in tokens {
        let Token::Word(word) = &token else {
            continue;
        };
        let value = match (dialect, word.quote_style) {
            (Dialect::Postgres, None) => word.value.to_ascii_lowercase(),
            _ => word.value.clone(),
        };
        if tables.contains(&value) {
            named.insert(value);
        }
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_body_names_the_tables_it_touches() {
        let tables: BTreeSet<String> = ["deals", "audit", "Notes"].map(String::from).into();
        let body = "BEGIN INSERT INTO Audit (note) VALUES (NEW.title); \
                    UPDATE \"Notes\" SET n = 1; RETURN NEW; END";
        let named = names_in(body, Dialect::Postgres, &tables);
        assert_eq!(named, ["Notes", "audit"].map(String::from).into());
        let named = names_in(
            "INSERT INTO audit SET note = NEW.title",
            Dialect::Mysql,
            &tables,
        );
        assert_eq!(named, ["audit"].map(String::from).into());
    }
}
