//! Which queries a cursor can read page by page by their key, instead of copying the whole
//! result aside when it opens: one table, no join, subquery, grouping, aggregate or window
//! function, ordered by one column ascending (the cursor checks, against the catalog, that it
//! is the table's primary key). Such a query returns one row per row of the table, in key
//! order, so its next page is the same query with `key > last` added and a LIMIT.
//!
//! The statements for the pages are written here from the checked tree, in the guest's
//! placeholder form, and go through the guard again before they run: the query's own
//! parameters come first, then the last key read, then the page size.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, LimitClause, ObjectName, OrderByKind, OrderBySort,
    Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor,
    Value, visit_expressions,
};

use super::functions;
use crate::dialect_kind::Dialect;

/// The name of the key column a page carries first, which the cursor does not return.
pub const KEY_COLUMN: &str = "_runner_key";

/// A query a cursor can page by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetShape {
    /// The one table it reads, as the guard names it.
    pub table: String,
    /// The column it is ordered by, as written (without a table name).
    pub key: String,
    /// The first page: the key first, then the query's columns; the page size is parameter
    /// `n + 1` (the query takes `n`).
    pub first_page: String,
    /// A later page: the same after the last key read (`n + 1`), the page size `n + 2`.
    pub next_page: String,
    /// Every row after the last key read (`n + 1`), without the key column: what the cursor
    /// copies aside if the transform is about to change rows it has not read yet.
    pub rest: String,
}

/// The placeholder for parameter `n` in the form the checked tree holds.
fn placeholder(dialect: Dialect, n: usize) -> Expr {
    match dialect {
        Dialect::Postgres => Expr::value(Value::Placeholder(format!("${n}"))),
        Dialect::Sqlite => Expr::value(Value::Placeholder(format!("?{n}"))),
        Dialect::Mysql => Expr::Identifier(Ident::new(format!("${n}"))),
    }
}

/// True if the expression holds a subquery or a function that reads across rows.
fn reads_across_rows(expr: &Expr) -> bool {
    visit_expressions(expr, |e| match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        Expr::Function(function)
            if function.over.is_some()
                || function.filter.is_some()
                || !function.within_group.is_empty()
                || function
                    .name
                    .0
                    .last()
                    .and_then(|part| part.as_ident())
                    .is_some_and(|name| {
                        functions::across_rows(&name.value.to_ascii_lowercase())
                    }) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// The column an ORDER BY names: `k` or `t.k`.
fn key_column(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Identifier(ident) => Some(ident),
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => parts.last(),
        _ => None,
    }
}

/// The one SELECT of a plain query, its one table and its ORDER BY key, if the query can be
/// paged by key.
fn plain_select(query: &Query) -> Option<(&Select, &Expr)> {
    let plain = query.with.is_none()
        && query.limit_clause.is_none()
        && query.fetch.is_none()
        && query.locks.is_empty()
        && query.for_clause.is_none();
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let order_by = query.order_by.as_ref()?;
    let OrderByKind::Expressions(exprs) = &order_by.kind else {
        return None;
    };
    let [order] = exprs.as_slice() else {
        return None;
    };
    let ascending = matches!(order.options.sort, None | Some(OrderBySort::Asc))
        && order.options.nulls_first.is_none()
        && order.with_fill.is_none();
    let [from] = select.from.as_slice() else {
        return None;
    };
    let table_only =
        matches!(&from.relation, TableFactor::Table { args: None, .. }) && from.joins.is_empty();
    let no_groups = matches!(&select.group_by, GroupByExpr::Expressions(exprs, modifiers) if exprs.is_empty() && modifiers.is_empty());
    let single_rows = select.distinct.is_none()
        && select.having.is_none()
        && select.named_window.is_empty()
        && select.qualify.is_none()
        && no_groups;
    let items_plain = select.projection.iter().all(|item| match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
            !reads_across_rows(expr)
        }
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => true,
        _ => false,
    });
    let filter_plain = select
        .selection
        .as_ref()
        .is_none_or(|e| !reads_across_rows(e));
    (plain && ascending && table_only && single_rows && items_plain && filter_plain)
        .then_some((select.as_ref(), &order.expr))
}

/// The keyset shape of a checked query (its placeholders in their final form) that reads
/// `table` alone and takes `parameters` parameters.
pub fn shape(
    statement: &Statement,
    table: &str,
    dialect: Dialect,
    parameters: usize,
) -> Option<KeysetShape> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let (_, order) = plain_select(query)?;
    let key = key_column(order)?;
    let after = |query: &mut Query, n: usize| {
        if let SetExpr::Select(select) = query.body.as_mut() {
            let bound = Expr::BinaryOp {
                left: Box::new(order.clone()),
                op: BinaryOperator::Gt,
                right: Box::new(placeholder(dialect, n)),
            };
            select.selection = Some(match select.selection.take() {
                Some(filter) => Expr::BinaryOp {
                    left: Box::new(Expr::Nested(Box::new(filter))),
                    op: BinaryOperator::And,
                    right: Box::new(bound),
                },
                None => bound,
            });
        }
    };
    let quote = if dialect == Dialect::Mysql { '`' } else { '"' };
    let page = |query: &mut Query, n: usize| {
        if let SetExpr::Select(select) = query.body.as_mut() {
            // MySQL takes a bare `*` only first in the list: name the table it stands for.
            let table = match select.from.first().map(|from| &from.relation) {
                Some(TableFactor::Table { name, alias, .. }) => match alias {
                    Some(alias) => ObjectName::from(vec![alias.name.clone()]),
                    None => name.clone(),
                },
                _ => return,
            };
            for item in &mut select.projection {
                if let SelectItem::Wildcard(options) = item {
                    *item = SelectItem::QualifiedWildcard(
                        SelectItemQualifiedWildcardKind::ObjectName(table.clone()),
                        options.clone(),
                    );
                }
            }
            select.projection.insert(
                0,
                SelectItem::ExprWithAlias {
                    expr: order.clone(),
                    alias: Ident::with_quote(quote, KEY_COLUMN),
                },
            );
        }
        query.limit_clause = Some(LimitClause::LimitOffset {
            limit: Some(placeholder(dialect, n)),
            offset: None,
            limit_by: Vec::new(),
        });
    };
    let mut first = query.as_ref().clone();
    page(&mut first, parameters + 1);
    let mut next = query.as_ref().clone();
    after(&mut next, parameters + 1);
    page(&mut next, parameters + 2);
    let mut rest = query.as_ref().clone();
    after(&mut rest, parameters + 1);
    Some(KeysetShape {
        table: table.to_string(),
        key: key.value.clone(),
        first_page: first.to_string(),
        next_page: next.to_string(),
        rest: rest.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Grants, check};
    use super::*;

    fn shape_of(sql: &str, dialect: Dialect) -> Option<KeysetShape> {
        check(sql, dialect, &Grants::new(&["t".into(), "u".into()], &[]))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .keyset
    }

    #[test]
    fn a_plain_query_over_one_table_in_key_order_pages_by_its_key() {
        let shape = shape_of(
            "SELECT id, lower(name) AS name FROM t WHERE name IS NOT NULL AND n > $1 ORDER BY id",
            Dialect::Postgres,
        )
        .expect("a keyset shape");
        assert_eq!(shape.table, "t");
        assert_eq!(shape.key, "id");
        assert_eq!(
            shape.first_page,
            r#"SELECT id AS "_runner_key", id, lower(name) AS name FROM t WHERE name IS NOT NULL AND n > $1 ORDER BY id LIMIT $2"#
        );
        assert_eq!(
            shape.next_page,
            r#"SELECT id AS "_runner_key", id, lower(name) AS name FROM t WHERE (name IS NOT NULL AND n > $1) AND id > $2 ORDER BY id LIMIT $3"#
        );
        assert_eq!(
            shape.rest,
            "SELECT id, lower(name) AS name FROM t WHERE (name IS NOT NULL AND n > $1) AND id > $2 ORDER BY id"
        );
        let mysql = shape_of("SELECT * FROM t ORDER BY t.id ASC", Dialect::Mysql).expect("shape");
        assert_eq!(
            mysql.next_page,
            "SELECT t.id AS `_runner_key`, t.* FROM t WHERE t.id > $1 ORDER BY t.id ASC LIMIT $2"
        );
        let sqlite = shape_of("SELECT a FROM t ORDER BY id", Dialect::Sqlite).expect("shape");
        assert_eq!(
            sqlite.next_page,
            r#"SELECT id AS "_runner_key", a FROM t WHERE id > ?1 ORDER BY id LIMIT ?2"#
        );
        // What is written passes the guard again.
        for text in [&shape.first_page, &shape.next_page, &shape.rest] {
            check(text, Dialect::Postgres, &Grants::new(&["t".into()], &[]))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        for text in [&mysql.first_page, &mysql.next_page, &mysql.rest] {
            check(text, Dialect::Mysql, &Grants::new(&["t".into()], &[]))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn queries_that_are_not_one_row_per_row_in_key_order_are_copied_aside() {
        for sql in [
            "SELECT id FROM t",
            "SELECT id FROM t ORDER BY id DESC",
            "SELECT id FROM t ORDER BY id NULLS FIRST",
            "SELECT id FROM t ORDER BY id, name",
            "SELECT id FROM t ORDER BY lower(name)",
            "SELECT id FROM t ORDER BY id LIMIT 10",
            "SELECT DISTINCT id FROM t ORDER BY id",
            "SELECT id, count(*) FROM t GROUP BY id ORDER BY id",
            "SELECT id, sum(n) OVER () FROM t ORDER BY id",
            "SELECT max(id) AS id FROM t ORDER BY id",
            "SELECT t.id FROM t JOIN u ON u.id = t.id ORDER BY t.id",
            "SELECT id FROM t WHERE id IN (SELECT id FROM u) ORDER BY id",
            "SELECT id, (SELECT count(*) FROM u) FROM t ORDER BY id",
            "WITH x AS (SELECT id FROM t) SELECT id FROM x ORDER BY id",
            "SELECT id FROM t UNION SELECT id FROM u ORDER BY id",
        ] {
            assert_eq!(shape_of(sql, Dialect::Postgres), None, "{sql}");
        }
    }
}
