//! PostgreSQL's own confirmation of what a transform's statement touches: the first time a
//! statement runs, its plan (`EXPLAIN (FORMAT JSON)`, which plans without running) is read for
//! every relation it scans or changes and every function it scans, and each must be within the
//! step's grants. Views are planned as the tables beneath them, so a view over an undeclared
//! table is refused too. (Not `VERBOSE`, which would name each relation's schema: its output
//! lists every expression, constants the planner folded included, and a folded constant can be
//! as large as the transform makes it.)
//!
//! The plan is made with the first run's values: a condition those values make false can take
//! a relation out of the plan, so this confirms the guard rather than replacing it. (MySQL's
//! plans name tables by their aliases, so there the guard alone decides.)

use serde_json::Value as Json;

use super::guard::Grants;
use crate::db::bound::Params;
use crate::db::{Db, DbError, Value};

/// What a plan scans and changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Relations, with their schema where the plan names it (`VERBOSE` plans only).
    pub relations: Vec<(String, String)>,
    /// Relations a node changes (INSERT, UPDATE, DELETE).
    pub changed: Vec<String>,
    /// Functions scanned as tables.
    pub functions: Vec<String>,
}

fn walk(node: &Json, touched: &mut Touched) {
    match node {
        Json::Object(fields) => {
            if let Some(Json::String(relation)) = fields.get("Relation Name") {
                let schema = match fields.get("Schema") {
                    Some(Json::String(schema)) => schema.clone(),
                    _ => String::new(),
                };
                touched.relations.push((schema, relation.clone()));
                if matches!(fields.get("Node Type"), Some(Json::String(t)) if t == "ModifyTable") {
                    touched.changed.push(relation.clone());
                }
            }
            if let Some(Json::String(function)) = fields.get("Function Name") {
                touched.functions.push(function.clone());
            }
            for value in fields.values() {
                walk(value, touched);
            }
        }
        Json::Array(items) => items.iter().for_each(|item| walk(item, touched)),
        _ => {}
    }
}

/// The relations and table functions of a plan in `EXPLAIN (FORMAT JSON)` form.
pub fn touched(plan: &str) -> Result<Touched, String> {
    let plan: Json = serde_json::from_str(plan).map_err(|e| format!("unreadable plan: {e}"))?;
    let mut touched = Touched::default();
    walk(&plan, &mut touched);
    Ok(touched)
}

/// Plans `sql` with `params` and checks what the plan touches; `Ok(Err(reason))` if it
/// reaches beyond the grants. Asked inside a savepoint, so that a statement the server
/// refuses to plan leaves the transaction as it was (its error comes back when it runs).
pub async fn confirm(
    db: &mut Db,
    sql: &str,
    params: &[Option<String>],
    grants: &Grants,
) -> Result<Result<(), String>, DbError> {
    db.execute_simple("SAVEPOINT _runner_plan").await?;
    let explained = db
        .query_bound(
            &format!("EXPLAIN (FORMAT JSON) {sql}"),
            Params::PostgresText(params),
            crate::db::bound::Bounds {
                rows: 10,
                bytes: 16 << 20,
            },
        )
        .await;
    let plan = match explained {
        Ok(crate::db::bound::Bounded::Rows(rows)) => {
            db.execute_simple("RELEASE SAVEPOINT _runner_plan").await?;
            rows.rows
                .first()
                .and_then(|row| row.first())
                .and_then(Value::to_text)
                .unwrap_or_default()
        }
        _ => {
            db.execute_simple("ROLLBACK TO SAVEPOINT _runner_plan")
                .await?;
            return Ok(Ok(()));
        }
    };
    let touched = match touched(&plan) {
        Ok(touched) => touched,
        Err(reason) => return Ok(Err(reason)),
    };
    for (_, relation) in &touched.relations {
        if !grants.readable(relation) {
            return Ok(Err(format!(
                "PostgreSQL's plan reads table '{relation}' (through a view, perhaps), which is not declared in this step's `reads` or `writes`"
            )));
        }
    }
    for relation in &touched.changed {
        if !grants.writable(relation) {
            return Ok(Err(format!(
                "PostgreSQL's plan changes table '{relation}': declare it in this step's `writes`"
            )));
        }
    }
    for function in &touched.functions {
        let name = function.rsplit('.').next().unwrap_or(function);
        if !Grants::function_allowed(crate::dialect_kind::Dialect::Postgres, name) {
            return Ok(Err(format!(
                "PostgreSQL's plan scans the function {function}, which transforms may not call"
            )));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plans_relations_and_functions_are_found_at_every_depth() {
        let plan = r#"[{"Plan": {"Node Type": "ModifyTable", "Relation Name": "deals", "Schema": "public",
            "Plans": [{"Node Type": "Hash Join", "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "contacts", "Schema": "public"},
                {"Node Type": "Function Scan", "Function Name": "generate_series", "Schema": "pg_catalog"}]}]}}]"#;
        let touched = touched(plan).unwrap();
        assert_eq!(
            touched.relations,
            [
                ("public".to_string(), "deals".to_string()),
                ("public".to_string(), "contacts".to_string())
            ]
        );
        assert_eq!(touched.changed, ["deals"]);
        assert_eq!(touched.functions, ["generate_series"]);
    }
}
