//! PostgreSQL's side of running a transform's statement: its form for the server (each
//! placeholder cast from text to the type the server infers, learnt once per statement), the
//! server-side bound on a returned row's size, and the confirmation of its plan.

use super::guard::{self, Grants};
use super::sql::SqlError;
use super::statement::{self, PostgresForm, Prepared};
use crate::db::{Db, DbError, Value};
use crate::dialect_kind::Dialect;

/// A PostgreSQL statement's form for the server, learnt on its first run: each placeholder
/// cast from text to the type the server infers for it (`CAST(CAST($1 AS TEXT) AS deal_state)`),
/// so that a value bound as text reaches any column as a literal of it would.
pub async fn postgres_form<'p>(
    db: &mut Db,
    prepared: &'p Prepared,
) -> Result<&'p PostgresForm, SqlError> {
    if let Some(form) = prepared.postgres.get() {
        return Ok(form);
    }
    // PostgreSQL cannot type a parameter the statement does not use: take those as text.
    let mut used = vec![false; prepared.parameters()];
    guard::replace_placeholders(prepared.sql(), Dialect::Postgres, |n| {
        if let Some(slot) = used.get_mut(n - 1) {
            *slot = true;
        }
        String::new()
    })
    .map_err(|denied| SqlError::Denied(denied.0))?;
    let unused: Vec<usize> = (1..=used.len()).filter(|n| !used[n - 1]).collect();
    let described = db
        .postgres_describe(prepared.sql(), prepared.parameters(), &unused)
        .await?;
    let types = described.parameter_types.clone();
    let sql = guard::replace_placeholders(prepared.sql(), Dialect::Postgres, |n| {
        match types.get(n - 1).map(String::as_str) {
            None | Some("text") => format!("CAST(${n} AS TEXT)"),
            Some(ty) => format!("CAST(CAST(${n} AS TEXT) AS {ty})"),
        }
    })
    .map_err(|denied| SqlError::Denied(denied.0))?;
    let rows_sql = row_bound(
        &sql,
        prepared.is_query(),
        !prepared.allowed.writes.is_empty(),
        &described.columns,
        prepared.parameters() + 1,
    );
    Ok(prepared.postgres.get_or_init(|| PostgresForm {
        sql,
        rows_sql,
        columns: described.columns,
        parameter_types: described.parameter_types,
    }))
}

/// What PostgreSQL says of a row the bound refused.
const ROW_TOO_LARGE: &str = "bytes in one row: more than the memory the step has left";

/// A statement that returns rows, made to refuse on the server any row larger than the bytes
/// given as parameter `limit`: PostgreSQL makes values of up to 1 GB (`format`, `replace`,
/// `string_agg` can make one from a small input), and the host would otherwise hold a row
/// whole before it could count it. A row's size is the sum of its values' lengths as text
/// (`octet_length` reads a text's length without decompressing it; `pg_column_size` would
/// count a compressed value small). The error is raised from the row itself (`CAST` of text
/// naming its size), so the planner cannot raise it early by folding a constant. The columns
/// are renamed for the check and named back as the statement names them. A query with a
/// data-modifying CTE cannot be nested (PostgreSQL wants that WITH at the top): it is left as
/// it is, bounded by the host's count alone. The outer SELECT keeps the inner query's order (a
/// plain scan of a subquery).
fn row_bound(
    sql: &str,
    query: bool,
    writes: bool,
    columns: &[String],
    limit: usize,
) -> Option<String> {
    if columns.is_empty() {
        return None;
    }
    let inner: Vec<String> = (1..=columns.len())
        .map(|n| format!("_runner_c{n}"))
        .collect();
    let outer: Vec<String> = columns
        .iter()
        .zip(&inner)
        .map(|(name, column)| format!("{column} AS \"{}\"", name.replace('"', "\"\"")))
        .collect();
    let size: Vec<String> = inner
        .iter()
        .map(|column| format!("coalesce(octet_length(CAST({column} AS TEXT)), 0)"))
        .collect();
    let size = format!("({})", size.join(" + "));
    let check = format!(
        "WHERE CASE WHEN {size} > CAST(${limit} AS int8) \
         THEN CAST({size}::text || ' {ROW_TOO_LARGE}' AS int) = 0 ELSE true END"
    );
    let (outer, inner) = (outer.join(", "), inner.join(", "));
    match (query, writes) {
        (true, false) => Some(format!(
            "SELECT {outer} FROM ({sql}) AS _runner_q ({inner}) {check}"
        )),
        (false, _) => Some(format!(
            "WITH _runner_q ({inner}) AS ({sql}) SELECT {outer} FROM _runner_q {check}"
        )),
        (true, true) => None,
    }
}

/// Makes the server's refusal of a row too large, or SQLite's of a value too large, the
/// sandbox's limit.
pub fn too_large_value(error: DbError) -> SqlError {
    let text = error.to_string();
    if text.contains(ROW_TOO_LARGE) || text.contains("string or blob too big") {
        SqlError::Limit(
            "a value larger than the memory the step has left: read less at a time".into(),
        )
    } else {
        SqlError::Db(error)
    }
}

/// Has PostgreSQL plan the statement the first time it runs, and refuses it if the plan
/// reaches beyond the grants (`plan.rs`).
pub async fn confirm_plan(
    db: &mut Db,
    prepared: &Prepared,
    form: &PostgresForm,
    params: &[Option<String>],
    grants: &Grants,
) -> Result<(), SqlError> {
    if prepared.plan_checked.get().is_some() {
        return Ok(());
    }
    match super::plan::confirm(db, &form.sql, params, grants).await? {
        Ok(()) => {
            let _ = prepared.plan_checked.set(());
            Ok(())
        }
        Err(reason) => Err(SqlError::Denied(reason)),
    }
}

/// The parameters of one run as PostgreSQL takes them: text, by number.
pub fn postgres_params(
    prepared: &Prepared,
    params: &[Value],
) -> Result<Vec<Option<String>>, SqlError> {
    prepared
        .ordered(params)?
        .into_iter()
        .map(|value| statement::postgres_text(value).map_err(SqlError::from))
        .collect()
}
