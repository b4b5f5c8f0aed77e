//! An `execute-many` batch on PostgreSQL or MySQL run as a few statements instead of one per
//! row, where that has the same effect (see `guard/batch.rs` for the shapes): the rows of a
//! one-row INSERT repeated in one VALUES list; an UPDATE by key joined with the batch's values;
//! a DELETE by key with the batch's keys in one `IN` list. An UPDATE's batch is cut wherever a
//! key repeats (so no row is changed twice in one statement) and needs integer keys (so that
//! distinct values are distinct keys to the database). A table with triggers is left to one
//! statement per row: its statement-level triggers would fire once instead of once per row.
//!
//! The statement made of the checked parts goes through the guard again before it is sent.

use std::collections::HashSet;
use std::sync::Arc;

use super::guard::{self, BatchShape, Checked, Grants};
use super::implied::{Change, Implied};
use super::postgres::postgres_form;
use super::sql::SqlError;
use super::statement::{self, Prepared};
use crate::db::Db;
use crate::db::Value;
use crate::db::bound::Params;
use crate::dialect_kind::Dialect;

/// The most rows one statement of a batch carries.
const MAX_ROWS: usize = 1000;
/// The same for MySQL's UPDATE, whose CASE on the key costs each row a look through every
/// other row's key: shorter statements cost less than the round trips they add.
const MAX_MYSQL_UPDATE_ROWS: usize = 100;
/// The most parameters one statement takes (PostgreSQL's and MySQL's protocol limit).
const MAX_PARAMETERS: usize = 65_535;
/// About how long one statement of a batch may grow, kept under the guard's bounds.
const MAX_TEXT: usize = guard::MAX_SQL_BYTES * 3 / 4;
const MAX_TOKENS: usize = guard::MAX_TOKENS * 3 / 4;

/// The rows of `batch` each statement takes, or `None` where the batch cannot be joined.
fn chunks(
    shape: &BatchShape,
    batch: &[Vec<Value>],
    per_row: usize,
    text_per_row: usize,
    max_rows: usize,
) -> Option<Vec<std::ops::Range<usize>>> {
    // A placeholder cast on PostgreSQL is about a dozen tokens.
    let tokens_per_row = 12 * per_row.max(1) + text_per_row / 4;
    let limit = max_rows
        .min(MAX_PARAMETERS / per_row.max(1))
        .min(MAX_TEXT / text_per_row.max(1))
        .min(MAX_TOKENS / tokens_per_row)
        .max(1);
    let mut ranges = Vec::new();
    let mut start = 0;
    match shape {
        BatchShape::Update { key_parameter, .. } => {
            let mut keys = HashSet::new();
            for (at, row) in batch.iter().enumerate() {
                let Some(Value::Integer(key)) = row.get(key_parameter - 1) else {
                    return None;
                };
                if at - start == limit || !keys.insert(*key) {
                    ranges.push(start..at);
                    start = at;
                    keys.clear();
                    keys.insert(*key);
                }
            }
        }
        BatchShape::Insert { .. } | BatchShape::Delete { .. } => {
            while batch.len() - start > limit {
                ranges.push(start..start + limit);
                start += limit;
            }
        }
    }
    ranges.push(start..batch.len());
    Some(ranges)
}

/// A placeholder of the composed statement, cast on PostgreSQL to the type the server infers
/// for the parameter it stands for.
fn cell(dialect: Dialect, number: usize, ty: Option<&str>) -> String {
    match (dialect, ty) {
        (Dialect::Postgres, None | Some("text")) => format!("CAST(${number} AS TEXT)"),
        (Dialect::Postgres, Some(ty)) => format!("CAST(CAST(${number} AS TEXT) AS {ty})"),
        _ => format!("${number}"),
    }
}

/// A PostgreSQL array literal of values as their types' input functions read them (see
/// `statement::postgres_text`); `None` for a missing value is NULL.
fn array_literal<'v>(values: impl Iterator<Item = Option<&'v Value>>) -> Result<String, SqlError> {
    let mut out = String::from("{");
    for (index, value) in values.enumerate() {
        if index > 0 {
            out.push(',');
        }
        match value
            .map(statement::postgres_text_ref)
            .transpose()?
            .flatten()
        {
            None => out.push_str("NULL"),
            Some(text) => {
                out.push('"');
                // Only `"` and `\` are special inside a quoted element.
                let mut rest: &str = &text;
                while let Some(at) = rest.find(['"', '\\']) {
                    out.push_str(&rest[..at]);
                    out.push('\\');
                    out.push_str(&rest[at..=at]);
                    rest = &rest[at + 1..];
                }
                out.push_str(rest);
                out.push('"');
            }
        }
    }
    out.push('}');
    Ok(out)
}

/// PostgreSQL's form of a batch: one array parameter per parameter of the statement, the rows
/// unnested from them. The text is the same for any number of rows (one prepared statement,
/// one plan) and travels in a few parameters ([`postgres_arrays`]). `None` where a parameter
/// is itself an array.
fn compose_postgres(
    shape: &BatchShape,
    types: &[String],
    per_row: usize,
) -> Result<Option<String>, SqlError> {
    let ty = |n: usize| types.get(n - 1).map_or("text", String::as_str);
    if (1..=per_row).any(|n| ty(n).ends_with(']')) {
        return Ok(None);
    }
    let column = |n: usize| format!("_runner_batch._runner_p{n}");
    let columns = |text: &str| {
        guard::replace_placeholders(text, Dialect::Postgres, column)
            .map_err(|denied| SqlError::Denied(denied.0))
    };
    let arrays: Vec<String> = (1..=per_row)
        .map(|n| format!("CAST(CAST(${n} AS TEXT) AS {}[])", ty(n)))
        .collect();
    let names: Vec<String> = (1..=per_row).map(|n| format!("_runner_p{n}")).collect();
    let unnest = format!(
        "unnest({}) AS _runner_batch ({})",
        arrays.join(", "),
        names.join(", ")
    );
    let sql = match shape {
        BatchShape::Insert { head, row, .. } => {
            let Some(into) = head.strip_suffix("VALUES ") else {
                return Ok(None);
            };
            let cells = row
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or(row);
            format!("{into}SELECT {} FROM {unnest}", columns(cells)?)
        }
        BatchShape::Update {
            target,
            assignments,
            key,
            key_parameter,
            ..
        } => {
            let mut set = Vec::with_capacity(assignments.len());
            for (assigned, value) in assignments {
                set.push(format!("{assigned} = {}", columns(value)?));
            }
            format!(
                "UPDATE {target} SET {} FROM {unnest} WHERE {key} = {}",
                set.join(", "),
                column(*key_parameter)
            )
        }
        BatchShape::Delete {
            head,
            key_parameter,
            ..
        } => {
            let Some(condition) = head.strip_suffix(" IN ") else {
                return Ok(None);
            };
            let n = *key_parameter;
            format!("{condition} = ANY(CAST(CAST($1 AS TEXT) AS {}[]))", ty(n))
        }
    };
    Ok(Some(sql))
}

/// The parameters of [`compose_postgres`]'s statement for `rows`: one array literal per
/// parameter (a DELETE takes only its keys').
fn postgres_arrays(
    shape: &BatchShape,
    per_row: usize,
    rows: &[Vec<Value>],
) -> Result<Vec<Option<String>>, SqlError> {
    let array = |n: usize| array_literal(rows.iter().map(|row| row.get(n - 1))).map(Some);
    match shape {
        BatchShape::Delete { key_parameter, .. } => Ok(vec![array(*key_parameter)?]),
        _ => (1..=per_row).map(array).collect(),
    }
}

/// The values of `rows` in the order of the placeholders' numbers of [`compose`]'s statement.
fn compose_values<'b>(
    shape: &BatchShape,
    per_row: usize,
    rows: &'b [Vec<Value>],
) -> Vec<&'b Value> {
    match shape {
        BatchShape::Delete { key_parameter, .. } => rows
            .iter()
            .filter_map(|params| params.get(key_parameter - 1))
            .collect(),
        BatchShape::Insert { .. } | BatchShape::Update { .. } => rows
            .iter()
            .flat_map(|params| params.iter().take(per_row))
            .collect(),
    }
}

/// The statement for a batch of `count` rows: its text depends only on the count, so it is
/// written (and checked) once per count (see `Prepared::batch_statement`).
fn compose(
    shape: &BatchShape,
    dialect: Dialect,
    types: &[String],
    per_row: usize,
    count: usize,
) -> Result<String, SqlError> {
    let ty = |n: usize| types.get(n - 1).map(String::as_str);
    let renumber = |text: &str, offset: usize| {
        guard::replace_placeholders(text, dialect, |n| cell(dialect, offset + n, ty(n)))
            .map_err(|denied| SqlError::Denied(denied.0))
    };
    let sql = match shape {
        BatchShape::Insert { head, row, .. } => {
            let mut tuples = Vec::with_capacity(count);
            for index in 0..count {
                tuples.push(renumber(row, index * per_row)?);
            }
            format!("{head}{}", tuples.join(", "))
        }
        BatchShape::Delete {
            head,
            key_parameter,
            ..
        } => {
            let keys: Vec<String> = (0..count)
                .map(|index| cell(dialect, index + 1, ty(*key_parameter)))
                .collect();
            format!("{head}({})", keys.join(", "))
        }
        BatchShape::Update {
            target,
            assignments,
            key,
            key_parameter,
            ..
        } => {
            match dialect {
                // MySQL types a derived table's columns from its first row (a longer value
                // in a later row would be cut): each column gets a CASE on the key instead.
                Dialect::Mysql => {
                    let key_cell =
                        |index: usize| cell(dialect, index * per_row + key_parameter, None);
                    let mut set = Vec::with_capacity(assignments.len());
                    for (assigned, value) in assignments {
                        let mut whens = Vec::with_capacity(count);
                        for index in 0..count {
                            whens.push(format!(
                                "WHEN {} THEN {}",
                                key_cell(index),
                                renumber(value, index * per_row)?
                            ));
                        }
                        set.push(format!("{assigned} = CASE {key} {} END", whens.join(" ")));
                    }
                    let keys: Vec<String> = (0..count).map(key_cell).collect();
                    format!(
                        "UPDATE {target} SET {} WHERE {key} IN ({})",
                        set.join(", "),
                        keys.join(", ")
                    )
                }
                _ => {
                    let column = |n: usize| format!("_runner_batch._runner_p{n}");
                    let mut set = Vec::with_capacity(assignments.len());
                    for (assigned, value) in assignments {
                        let value = guard::replace_placeholders(value, dialect, column)
                            .map_err(|denied| SqlError::Denied(denied.0))?;
                        set.push(format!("{assigned} = {value}"));
                    }
                    let tuples: Vec<String> = (0..count)
                        .map(|index| {
                            let cells: Vec<String> = (1..=per_row)
                                .map(|n| cell(dialect, index * per_row + n, ty(n)))
                                .collect();
                            cells.join(", ")
                        })
                        .collect();
                    let names: Vec<String> =
                        (1..=per_row).map(|n| format!("_runner_p{n}")).collect();
                    format!(
                        "UPDATE {target} SET {} FROM (VALUES ({})) AS _runner_batch ({}) WHERE {key} = {}",
                        set.join(", "),
                        tuples.join("), ("),
                        names.join(", "),
                        column(*key_parameter)
                    )
                }
            }
        }
    };
    Ok(sql)
}

/// The guard's check of the statement a batch of `count` rows is joined into, written by
/// `write` the first time and kept with the statement for the next batch of that count (a
/// transform's batches are mostly of one or two sizes); `None` if the guard refused it (not
/// expected: its parts were checked).
fn checked_once(
    prepared: &Prepared,
    count: usize,
    dialect: Dialect,
    grants: &Grants,
    write: impl FnOnce() -> Result<Option<String>, SqlError>,
) -> Result<Option<Arc<Checked>>, SqlError> {
    if let Some(checked) = prepared.batch_statement(count) {
        return Ok(Some(checked));
    }
    let Some(sql) = write()? else {
        return Ok(None);
    };
    match guard::check(&sql, dialect, grants) {
        Ok(checked) => {
            let checked = Arc::new(checked);
            prepared.keep_batch_statement(count, checked.clone());
            Ok(Some(checked))
        }
        Err(denied) => {
            tracing::debug!("a batch statement was refused, running row by row: {denied}");
            Ok(None)
        }
    }
}

/// Runs the batch as few statements, or says it cannot (`None`): then it runs one statement
/// per row as before.
pub async fn execute(
    db: &mut Db,
    prepared: &Prepared,
    batch: &[Vec<Value>],
    grants: &Grants,
    implied: &mut Implied,
) -> Result<Option<u64>, SqlError> {
    let dialect = db.dialect();
    let Some(shape) = prepared.batch() else {
        return Ok(None);
    };
    if dialect == Dialect::Sqlite || batch.len() < 2 {
        return Ok(None);
    }
    let change = match shape {
        BatchShape::Insert { .. } => Change::Insert,
        BatchShape::Update { .. } => Change::Update,
        BatchShape::Delete { .. } => Change::Delete,
    };
    if implied.has_triggers(db, shape.table(), change).await? {
        return Ok(None);
    }
    for params in batch {
        prepared.check_params(params)?;
    }
    let per_row = prepared.parameters();
    let types = match dialect {
        Dialect::Postgres => {
            let form = postgres_form(db, prepared).await?;
            let first = super::postgres::postgres_params(prepared, &batch[0])?;
            super::postgres::confirm_plan(db, prepared, form, &first, grants).await?;
            form.parameter_types.clone()
        }
        _ => Vec::new(),
    };
    let text_per_row = 40 * per_row.max(1)
        + match shape {
            BatchShape::Insert { row, .. } => row.len(),
            BatchShape::Update { assignments, .. } => assignments
                .iter()
                .map(|(_, value)| value.len() + 40)
                .sum::<usize>(),
            BatchShape::Delete { .. } => 16,
        };
    let max_rows = match (dialect, shape) {
        (Dialect::Mysql, BatchShape::Update { .. }) => MAX_MYSQL_UPDATE_ROWS,
        _ => MAX_ROWS,
    };
    // PostgreSQL's form unnests arrays: its text and its parameters are the same for any
    // number of rows, so only the row bound cuts the batch.
    let unnests = dialect == Dialect::Postgres && !types.iter().any(|ty| ty.ends_with(']'));
    let (per_row_cut, text_per_row) = if unnests {
        (1, 1)
    } else {
        (per_row, text_per_row)
    };
    let Some(ranges) = chunks(shape, batch, per_row_cut, text_per_row, max_rows) else {
        return Ok(None);
    };
    let mut changed = 0u64;
    // The unnest form's text is the same for every count: kept under one key.
    const ANY_COUNT: usize = usize::MAX;
    for range in ranges {
        let rows = &batch[range];
        if unnests {
            let checked = checked_once(prepared, ANY_COUNT, dialect, grants, || {
                compose_postgres(shape, &types, per_row)
            })?;
            match checked {
                Some(checked) => {
                    let params = postgres_arrays(shape, per_row, rows)?;
                    changed += db
                        .execute_bound(&checked.sql, Params::PostgresText(&params))
                        .await?;
                    continue;
                }
                None if changed == 0 => return Ok(None),
                None => {
                    return Err(SqlError::Invalid(
                        "the batch could not be finished as one statement".into(),
                    ));
                }
            }
        }
        let checked = checked_once(prepared, rows.len(), dialect, grants, || {
            compose(shape, dialect, &types, per_row, rows.len()).map(Some)
        })?;
        let checked = match checked {
            Some(checked) => checked,
            // Not expected (the parts were checked): the batch runs row by row instead.
            None if changed == 0 => return Ok(None),
            None => {
                return Err(SqlError::Invalid(
                    "the batch could not be finished as one statement".into(),
                ));
            }
        };
        let values = compose_values(shape, per_row, rows);
        changed += match dialect {
            Dialect::Postgres => {
                let texts: Vec<Option<String>> = values
                    .iter()
                    .map(|value| statement::postgres_text(value).map_err(SqlError::from))
                    .collect::<Result<_, _>>()?;
                db.execute_bound(&checked.sql, Params::PostgresText(&texts))
                    .await?
            }
            _ => {
                let ordered: Vec<&Value> = checked.slots.iter().map(|slot| values[*slot]).collect();
                db.execute_bound(&checked.sql, Params::Mysql(&ordered))
                    .await?
            }
        };
    }
    Ok(Some(changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> BatchShape {
        BatchShape::Update {
            table: "t".into(),
            target: "t".into(),
            assignments: vec![("a".into(), "$1".into())],
            key: "id".into(),
            key_parameter: 2,
        }
    }

    fn rows(keys: &[i64]) -> Vec<Vec<Value>> {
        keys.iter()
            .map(|k| vec![Value::Integer(0), Value::Integer(*k)])
            .collect()
    }

    #[test]
    fn an_update_batch_is_cut_where_a_key_repeats() {
        let batch = rows(&[1, 2, 3, 2, 4, 4]);
        assert_eq!(
            chunks(&update(), &batch, 2, 80, MAX_ROWS),
            Some(vec![0..3, 3..5, 5..6])
        );
        let mut text = batch.clone();
        text[0][1] = Value::Text("1".into());
        assert_eq!(chunks(&update(), &text, 2, 80, MAX_ROWS), None);
        let many = rows(&(0..2500).collect::<Vec<_>>());
        assert_eq!(
            chunks(&update(), &many, 1, 8, MAX_ROWS),
            Some(vec![0..1000, 1000..2000, 2000..2500])
        );
    }

    #[test]
    fn the_composed_statements_carry_every_row() {
        let batch = rows(&[7, 8]);
        let types = vec!["integer".to_string(), "bigint".to_string()];
        let sql = compose(&update(), Dialect::Postgres, &types, 2, batch.len()).unwrap();
        let values = compose_values(&update(), 2, &batch);
        assert_eq!(
            sql,
            "UPDATE t SET a = _runner_batch._runner_p1 FROM (VALUES (CAST(CAST($1 AS TEXT) AS integer), CAST(CAST($2 AS TEXT) AS bigint)), (CAST(CAST($3 AS TEXT) AS integer), CAST(CAST($4 AS TEXT) AS bigint))) AS _runner_batch (_runner_p1, _runner_p2) WHERE id = _runner_batch._runner_p2"
        );
        assert_eq!(values.len(), 4);
        let sql = compose(&update(), Dialect::Mysql, &[], 2, batch.len()).unwrap();
        assert_eq!(
            sql,
            "UPDATE t SET a = CASE id WHEN $2 THEN $1 WHEN $4 THEN $3 END WHERE id IN ($2, $4)"
        );
        let insert = BatchShape::Insert {
            table: "t".into(),
            head: "INSERT INTO t (a, b) VALUES ".into(),
            row: "($2, lower($1))".into(),
        };
        let sql = compose(&insert, Dialect::Mysql, &[], 2, batch.len()).unwrap();
        let values = compose_values(&insert, 2, &batch);
        assert_eq!(
            sql,
            "INSERT INTO t (a, b) VALUES ($2, lower($1)), ($4, lower($3))"
        );
        assert_eq!(
            values,
            [&batch[0][0], &batch[0][1], &batch[1][0], &batch[1][1]]
        );
        let delete = BatchShape::Delete {
            table: "t".into(),
            head: "DELETE FROM t WHERE id IN ".into(),
            key: "id".into(),
            key_parameter: 2,
        };
        let sql = compose(&delete, Dialect::Postgres, &types, 2, batch.len()).unwrap();
        let values = compose_values(&delete, 2, &batch);
        assert_eq!(
            sql,
            "DELETE FROM t WHERE id IN (CAST(CAST($1 AS TEXT) AS bigint), CAST(CAST($2 AS TEXT) AS bigint))"
        );
        assert_eq!(values, [&batch[0][1], &batch[1][1]]);
    }

    #[test]
    fn postgres_takes_a_batch_as_one_array_per_parameter() {
        let values = [
            Value::Text("a\"b\\c".into()),
            Value::Null,
            Value::Text(String::new()),
            Value::Integer(-4),
        ];
        assert_eq!(
            array_literal(values.iter().map(Some).chain([None])).unwrap(),
            "{\"a\\\"b\\\\c\",NULL,\"\",\"-4\",NULL}"
        );
        let batch = rows(&[7, 8]);
        let types = vec!["integer".to_string(), "bigint".to_string()];
        let sql = compose_postgres(&update(), &types, 2).unwrap().unwrap();
        let params = postgres_arrays(&update(), 2, &batch).unwrap();
        assert_eq!(
            sql,
            "UPDATE t SET a = _runner_batch._runner_p1 FROM unnest(CAST(CAST($1 AS TEXT) AS integer[]), CAST(CAST($2 AS TEXT) AS bigint[])) AS _runner_batch (_runner_p1, _runner_p2) WHERE id = _runner_batch._runner_p2"
        );
        assert_eq!(
            params,
            [
                Some("{\"0\",\"0\"}".to_string()),
                Some("{\"7\",\"8\"}".to_string())
            ]
        );
        let arrays = vec!["integer[]".to_string(), "bigint".to_string()];
        assert!(compose_postgres(&update(), &arrays, 2).unwrap().is_none());
    }
}
