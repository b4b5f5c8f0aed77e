//! Schemas as one database can hold them, so that the model runner replays and the schema read
//! back from a database it migrated compare equal with `==` (for `diff`, `check` and
//! autogenerate from a live database). Pure: no IO, no knowledge of where the schemas came from.

use std::ops::ControlFlow;

use indexmap::IndexMap;
use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, ObjectNamePart, UnaryOperator, Value,
    visit_expressions_mut,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::{ColumnDefault, ColumnType, EnumType, FkAction, Literal, Schema, Unique, pk_name};
use crate::dialect_kind::Dialect;

/// The name an enum gets on databases where enums live in their column (SQLite, MySQL): the
/// type's own name is not stored there, so both sides of a comparison use the column's place.
pub fn inline_enum_name(table: &str, column: &str) -> String {
    format!("{table}.{column}")
}

/// The prefixes runner gives index names it derives (see `IndexSpec::to_model`). On MySQL a
/// unique index carrying one of them is an index; any other unique index is read back as a
/// unique constraint, because MySQL keeps no difference between the two.
pub const INDEX_PREFIXES: [&str; 2] = ["ix_", "uqix_"];

/// `schema` as `dialect` stores it, for comparisons with `==`. The rules, in order:
///
/// * columns, constraints, indexes, tables and enums are sorted by name ([`Schema::normalized`]);
/// * where enums are not named types (SQLite, MySQL), each enum column uses its own enum named
///   [`inline_enum_name`] and enums no column uses disappear;
/// * types collapse to what the database keeps: on MySQL `timestamptz` is `timestamp`
///   (both are DATETIME); on SQLite an autoincrement key is `integer` (only INTEGER PRIMARY KEY
///   autoincrements there);
/// * primary key names collapse where the database drops them: always `PRIMARY` on MySQL,
///   `pk_<table>` for SQLite keys written inline with AUTOINCREMENT;
/// * foreign key actions that mean "the default" are `None`: `NO ACTION` everywhere, and also
///   `RESTRICT` on MySQL, where InnoDB treats both alike and MariaDB reports an omitted action
///   as `RESTRICT`;
/// * on MySQL a unique index without runner's index prefixes is a unique constraint;
/// * numeric literal defaults of `real`, `double` and `decimal` columns are floats (MySQL
///   shows `0` as `0.00`), and `0`/`1` defaults of boolean columns are booleans;
/// * SQL defaults in the `CURRENT_TIMESTAMP` family are that keyword ([`canonical_sql_default`]);
///   other SQL defaults, check expressions and partial index predicates go through
///   [`normalize_expr`].
pub fn comparable(schema: &Schema, dialect: Dialect) -> Schema {
    let mut out = schema.clone();
    if !dialect.caps().named_enums {
        inline_enums(&mut out);
    }
    for table in out.tables.values_mut() {
        let inline_key =
            dialect == Dialect::Sqlite && table.columns.iter().any(|c| c.autoincrement);
        for column in &mut table.columns {
            if dialect == Dialect::Mysql && column.ty == ColumnType::TimestampTz {
                column.ty = ColumnType::Timestamp;
            }
            if inline_key && column.autoincrement {
                column.ty = ColumnType::Integer;
            }
            column.default = column
                .default
                .take()
                .map(|default| comparable_default(default, &column.ty, dialect));
        }
        if let Some(pk) = &mut table.primary_key {
            if dialect == Dialect::Mysql {
                pk.name = "PRIMARY".into();
            } else if inline_key {
                pk.name = pk_name(&table.name);
            }
        }
        for fk in &mut table.foreign_keys {
            fk.on_delete = fk.on_delete.filter(|a| !is_default_action(*a, dialect));
            fk.on_update = fk.on_update.filter(|a| !is_default_action(*a, dialect));
        }
        for check in &mut table.checks {
            check.expr = normalize_expr(&check.expr, dialect);
        }
        for index in &mut table.indexes {
            index.where_clause = index
                .where_clause
                .as_deref()
                .map(|w| normalize_expr(w, dialect));
        }
        if dialect == Dialect::Mysql {
            let (uniques, indexes) =
                std::mem::take(&mut table.indexes)
                    .into_iter()
                    .partition(|i| {
                        i.unique
                            && i.where_clause.is_none()
                            && !INDEX_PREFIXES.iter().any(|p| i.name.starts_with(p))
                    });
            table.indexes = indexes;
            table
                .uniques
                .extend(uniques.into_iter().map(|i: super::Index| Unique {
                    name: i.name,
                    columns: i.columns,
                }));
        }
    }
    out.normalized()
}

/// Replaces named enums by one enum per column that uses it.
fn inline_enums(schema: &mut Schema) {
    let mut enums = IndexMap::new();
    for table in schema.tables.values_mut() {
        for column in &mut table.columns {
            let Some(name) = column.ty.enum_name() else {
                continue;
            };
            let Some(values) = schema.enums.get(name).map(|e| e.values.clone()) else {
                continue;
            };
            let inline = inline_enum_name(&table.name, &column.name);
            enums.insert(
                inline.clone(),
                EnumType {
                    name: inline.clone(),
                    values,
                },
            );
            column.ty = ColumnType::Enum(inline);
        }
    }
    schema.enums = enums;
}

/// A schema read from a database, made into one revisions can write: MySQL's primary keys,
/// all named `PRIMARY` there, get runner's `pk_<table>`, and each column's enum on databases
/// that keep enums in their columns (SQLite, MySQL), named [`inline_enum_name`] there, gets a
/// name a revision can use: the one `hint` (the project's `schema.yaml`) gives
/// that column when it has the same values, else `<table>_<column>`. Columns whose values are
/// the same under the same name share one enum. Schemas with named enums pass unchanged.
pub fn revision_ready(schema: &Schema, hint: Option<&Schema>) -> Schema {
    let mut out = schema.clone();
    for table in out.tables.values_mut() {
        if let Some(pk) = &mut table.primary_key
            && pk.name == "PRIMARY"
        {
            pk.name = pk_name(&table.name);
        }
    }
    let mut enums: IndexMap<String, EnumType> = IndexMap::new();
    for table in out.tables.values_mut() {
        for column in &mut table.columns {
            let Some(inline) = column.ty.enum_name() else {
                continue;
            };
            if inline != inline_enum_name(&table.name, &column.name) {
                continue;
            }
            let Some(values) = schema.enums.get(inline).map(|e| e.values.clone()) else {
                continue;
            };
            let hinted = hint
                .and_then(|h| h.tables.get(&table.name))
                .and_then(|t| t.columns.iter().find(|c| c.name == column.name))
                .and_then(|c| c.ty.enum_name())
                .filter(|name| {
                    hint.and_then(|h| h.enums.get(*name)).map(|e| &e.values) == Some(&values)
                })
                .map(str::to_string);
            let fallback = format!("{}_{}", table.name, column.name);
            let name = match hinted {
                Some(name) if enums.get(&name).is_none_or(|e| e.values == values) => name,
                _ => fallback,
            };
            enums.insert(
                name.clone(),
                EnumType {
                    name: name.clone(),
                    values,
                },
            );
            column.ty = ColumnType::Enum(name);
        }
    }
    for (name, enum_type) in &schema.enums {
        if !name.contains('.') {
            enums
                .entry(name.clone())
                .or_insert_with(|| enum_type.clone());
        }
    }
    out.enums = enums;
    out
}

fn is_default_action(action: FkAction, dialect: Dialect) -> bool {
    action == FkAction::NoAction || (dialect == Dialect::Mysql && action == FkAction::Restrict)
}

fn comparable_default(default: ColumnDefault, ty: &ColumnType, dialect: Dialect) -> ColumnDefault {
    match default {
        ColumnDefault::Sql(sql) => {
            let canonical = canonical_sql_default(&sql);
            if ["CURRENT_TIMESTAMP", "CURRENT_TIME", "CURRENT_DATE"].contains(&canonical.as_str()) {
                ColumnDefault::Sql(canonical)
            } else {
                ColumnDefault::Sql(normalize_expr(&sql, dialect))
            }
        }
        ColumnDefault::Literal(Literal::Int(i))
            if matches!(
                ty,
                ColumnType::Real | ColumnType::Double | ColumnType::Decimal { .. }
            ) =>
        {
            ColumnDefault::Literal(Literal::Float(i as f64))
        }
        ColumnDefault::Literal(Literal::Int(i @ (0 | 1))) if *ty == ColumnType::Boolean => {
            ColumnDefault::Literal(Literal::Bool(i == 1))
        }
        other => other,
    }
}

/// A SQL default with the spellings of the current date and time that databases show
/// (`now()`, `current_timestamp(6)`, `curtime(6)`, `curdate()`) turned into the standard keywords
/// `CURRENT_TIMESTAMP`, `CURRENT_TIME` and `CURRENT_DATE`; anything else trimmed.
pub fn canonical_sql_default(sql: &str) -> String {
    let compact: String = sql
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let compact = compact.trim_start_matches('(').trim_end_matches(')');
    // `name`, `name()` or `name(digits)`.
    let call = |name: &str| {
        compact.strip_prefix(name).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix('(')
                    .is_some_and(|args| args.chars().all(|c| c.is_ascii_digit()))
        })
    };
    if call("current_timestamp") || call("now") {
        "CURRENT_TIMESTAMP".into()
    } else if call("current_time") || call("curtime") {
        "CURRENT_TIME".into()
    } else if call("current_date") || call("curdate") {
        "CURRENT_DATE".into()
    } else {
        sql.trim().to_string()
    }
}

/// A SQL expression (check, partial index predicate, SQL default) re-printed in one canonical
/// form: parsed with the parser of the database that evaluates it (so MySQL's backtick quoting
/// and PostgreSQL's casts are read as those databases read them), then printed by sqlparser
/// with every redundant parenthesis removed and every compound operand parenthesised, so that
/// `a > 0 AND b < 5` and PostgreSQL's `((a > 0) AND (b < 5))` print the same. Identifier quotes
/// are dropped and function names lowercased, as the databases show them differently.
///
/// PostgreSQL rewrites what it stores: it adds `::type` casts to literals and columns and turns
/// `x IN (...)` into `x = ANY (ARRAY[...])`. Those casts are removed (a comparison cannot tell
/// a cast the user wrote from one PostgreSQL added) and `= ANY (ARRAY[...])` is read back as
/// `IN`. Text that does not parse is compared with its white space collapsed.
pub fn normalize_expr(text: &str, dialect: Dialect) -> String {
    match parse_expr(text, dialect) {
        Some(mut expr) => {
            let _ = visit_expressions_mut(&mut expr, |e| {
                simplify(e);
                ControlFlow::<()>::Continue(())
            });
            let _ = visit_expressions_mut(&mut expr, |e| {
                parenthesize(e);
                ControlFlow::<()>::Continue(())
            });
            expr.to_string()
        }
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn parse_expr(text: &str, dialect: Dialect) -> Option<Expr> {
    let parser_dialect = dialect.parser();
    let mut parser = Parser::new(parser_dialect.as_ref())
        .try_with_sql(text)
        .ok()?;
    let expr = parser.parse_expr().ok()?;
    (parser.peek_token().token == Token::EOF).then_some(expr)
}

/// Moves the expression out of a box, leaving a NULL behind.
fn take(expr: &mut Expr) -> Expr {
    std::mem::replace(expr, Expr::value(Value::Null))
}

fn is_numeric_type(data_type: &DataType) -> bool {
    let name = data_type.to_string().to_ascii_lowercase();
    ["int", "numeric", "decimal", "real", "double", "float"]
        .iter()
        .any(|n| name.contains(n))
}

fn number(text: &str) -> Option<Expr> {
    let looks_numeric = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    if !looks_numeric || text.parse::<f64>().is_err() {
        return None;
    }
    Some(Expr::value(Value::Number(text.parse().ok()?, false)))
}

/// Removes what carries no meaning for a comparison (run children first).
fn simplify(expr: &mut Expr) {
    match expr {
        Expr::Nested(inner) => *expr = take(inner),
        Expr::Cast {
            kind: CastKind::DoubleColon,
            expr: inner,
            data_type,
            ..
        } => {
            // PostgreSQL shows `-3` as `'-3'::integer`: a numeric cast of a number is a number.
            let numeric = match &**inner {
                Expr::Value(v) if is_numeric_type(data_type) => match &v.value {
                    Value::SingleQuotedString(s) => number(s),
                    _ => None,
                },
                _ => None,
            };
            *expr = numeric.unwrap_or_else(|| take(inner));
        }
        // MySQL's charset introducers (`_utf8mb4'a'`).
        Expr::Prefixed { prefix, value } if prefix.value.starts_with('_') => *expr = take(value),
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } if matches!(**right, Expr::Array(_)) => {
            if let Expr::Array(array) = take(right) {
                *expr = Expr::InList {
                    expr: Box::new(take(left)),
                    list: array.elem,
                    negated: false,
                };
            }
        }
        Expr::AllOp {
            left,
            compare_op: BinaryOperator::NotEq,
            right,
        } if matches!(**right, Expr::Array(_)) => {
            if let Expr::Array(array) = take(right) {
                *expr = Expr::InList {
                    expr: Box::new(take(left)),
                    list: array.elem,
                    negated: true,
                };
            }
        }
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } => {
            if let Expr::Value(v) = &**inner
                && let Value::Number(n, _) = &v.value
                && let Some(negative) = number(&format!("-{n}"))
            {
                *expr = negative;
            }
        }
        // PostgreSQL stores `x BETWEEN a AND b` as `x >= a AND x <= b`.
        Expr::Between {
            expr: inner,
            negated,
            low,
            high,
        } => {
            let (lower, upper, join) = if *negated {
                (BinaryOperator::Lt, BinaryOperator::Gt, BinaryOperator::Or)
            } else {
                (
                    BinaryOperator::GtEq,
                    BinaryOperator::LtEq,
                    BinaryOperator::And,
                )
            };
            let subject = take(inner);
            *expr = Expr::BinaryOp {
                left: Box::new(Expr::BinaryOp {
                    left: Box::new(subject.clone()),
                    op: lower,
                    right: Box::new(take(low)),
                }),
                op: join,
                right: Box::new(Expr::BinaryOp {
                    left: Box::new(subject),
                    op: upper,
                    right: Box::new(take(high)),
                }),
            };
        }
        Expr::Identifier(ident) => ident.quote_style = None,
        Expr::CompoundIdentifier(idents) => {
            for ident in idents {
                ident.quote_style = None;
            }
        }
        Expr::Function(function) => {
            for part in &mut function.name.0 {
                if let ObjectNamePart::Identifier(ident) = part {
                    if ident.quote_style.is_none() {
                        ident.value = ident.value.to_lowercase();
                    }
                    ident.quote_style = None;
                }
            }
        }
        _ => {}
    }
}

/// True for expressions that print as one unit, needing no parentheses as an operand.
fn is_atomic(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Value(_)
            | Expr::Function(_)
            | Expr::Nested(_)
            | Expr::Cast { .. }
            | Expr::TypedString(_)
            | Expr::Array(_)
            | Expr::Tuple(_)
            | Expr::Case { .. }
    )
}

fn wrap(operand: &mut Expr) {
    if !is_atomic(operand) {
        let inner = take(operand);
        *operand = Expr::Nested(Box::new(inner));
    }
}

/// Parenthesises every compound operand, so that the tree prints unambiguously.
fn parenthesize(expr: &mut Expr) {
    match expr {
        Expr::BinaryOp { left, right, .. } => {
            wrap(left);
            wrap(right);
        }
        Expr::UnaryOp { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotFalse(expr)
        | Expr::InList { expr, .. } => wrap(expr),
        Expr::Between {
            expr, low, high, ..
        } => {
            wrap(expr);
            wrap(low);
            wrap(high);
        }
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            wrap(expr);
            wrap(pattern);
        }
        Expr::AnyOp { left, .. } | Expr::AllOp { left, .. } => wrap(left),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Check, Column, ForeignKey, Index, PrimaryKey, Table};

    fn column(name: &str, ty: ColumnType) -> Column {
        Column {
            name: name.into(),
            ty,
            nullable: true,
            default: None,
            autoincrement: false,
        }
    }

    #[test]
    fn expressions_print_alike_whatever_the_database_added() {
        let pg = |t| normalize_expr(t, Dialect::Postgres);
        assert_eq!(pg("score >= 0"), pg("(score >= 0)"));
        assert_eq!(
            pg("a > 0 AND b < 5"),
            pg("((a > 0) AND (b < (5)::double precision))")
        );
        assert_eq!(pg("title <> ''"), pg("((title)::text <> ''::text)"));
        assert_eq!(pg("n > -3"), pg("(n > '-3'::integer)"));
        assert_eq!(pg("LENGTH(name) > 0"), pg("(length((name)::text) > 0)"));
        assert_eq!(
            pg("state IN ('a', 'b')"),
            pg(
                "((state)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[]))"
            )
        );
        assert_eq!(pg("\"score\" >= 0"), "score >= 0");
        let my = |t| normalize_expr(t, Dialect::Mysql);
        assert_eq!(
            my("i >= 0 AND small < 100"),
            my("`i` >= 0 and `small` < 100")
        );
        assert_eq!(
            my("title in ('a','b')"),
            my("(`title` in (_utf8mb4'a',_utf8mb4'b'))")
        );
    }

    #[test]
    fn parentheses_that_change_meaning_are_kept() {
        let pg = |t| normalize_expr(t, Dialect::Postgres);
        assert_ne!(pg("(a + b) * c"), pg("a + b * c"));
        assert_eq!(pg("(a + b) * c"), "(a + b) * c");
        assert_eq!(pg("a + b * c"), "a + (b * c)");
    }

    #[test]
    fn unparsable_text_is_compared_with_collapsed_white_space() {
        assert_eq!(normalize_expr("a  >>>\n b", Dialect::Sqlite), "a >>> b");
    }

    #[test]
    fn current_time_spellings_become_the_standard_keywords() {
        for text in [
            "CURRENT_TIMESTAMP",
            "now()",
            "current_timestamp(6)",
            "(CURRENT_TIMESTAMP())",
        ] {
            assert_eq!(canonical_sql_default(text), "CURRENT_TIMESTAMP", "{text}");
        }
        assert_eq!(canonical_sql_default("curtime(6)"), "CURRENT_TIME");
        assert_eq!(canonical_sql_default("curdate()"), "CURRENT_DATE");
        assert_eq!(canonical_sql_default(" lower('X') "), "lower('X')");
        assert_eq!(canonical_sql_default("nowhere()"), "nowhere()");
    }

    fn sample() -> Schema {
        let mut schema = Schema::default();
        for name in ["state", "unused"] {
            schema.enums.insert(
                name.into(),
                EnumType {
                    name: name.into(),
                    values: vec!["a".into(), "b".into()],
                },
            );
        }
        let mut t = Table::new("t");
        t.columns = vec![
            Column {
                autoincrement: true,
                nullable: false,
                ..column("id", ColumnType::BigInt)
            },
            column("s", ColumnType::Enum("state".into())),
            Column {
                default: Some(ColumnDefault::Sql("now()".into())),
                ..column("at", ColumnType::TimestampTz)
            },
            Column {
                default: Some(ColumnDefault::Literal(Literal::Int(0))),
                ..column(
                    "d",
                    ColumnType::Decimal {
                        precision: 5,
                        scale: 2,
                    },
                )
            },
            Column {
                default: Some(ColumnDefault::Literal(Literal::Int(1))),
                ..column("f", ColumnType::Boolean)
            },
        ];
        t.primary_key = Some(PrimaryKey {
            name: "t_pkey".into(),
            columns: vec!["id".into()],
        });
        t.foreign_keys.push(ForeignKey {
            name: "fk".into(),
            columns: vec!["id".into()],
            ref_table: "t".into(),
            ref_columns: vec!["id".into()],
            on_delete: Some(FkAction::Restrict),
            on_update: Some(FkAction::NoAction),
        });
        t.checks.push(Check {
            name: "ck".into(),
            expr: "(id > 0)".into(),
        });
        t.indexes.push(Index {
            name: "t_s_key".into(),
            columns: vec!["s".into()],
            unique: true,
            where_clause: None,
        });
        t.indexes.push(Index {
            name: "uqix_t_at".into(),
            columns: vec!["at".into()],
            unique: true,
            where_clause: None,
        });
        schema.tables.insert("t".into(), t);
        schema
    }

    #[test]
    fn mysql_collapses_keys_types_actions_and_inline_enums() {
        let out = comparable(&sample(), Dialect::Mysql);
        let t = &out.tables["t"];
        assert_eq!(out.enums.keys().collect::<Vec<_>>(), ["t.s"]);
        assert_eq!(t.column("s").unwrap().ty, ColumnType::Enum("t.s".into()));
        assert_eq!(t.column("at").unwrap().ty, ColumnType::Timestamp);
        assert_eq!(
            t.column("at").unwrap().default,
            Some(ColumnDefault::Sql("CURRENT_TIMESTAMP".into()))
        );
        assert_eq!(
            t.column("d").unwrap().default,
            Some(ColumnDefault::Literal(Literal::Float(0.0)))
        );
        assert_eq!(
            t.column("f").unwrap().default,
            Some(ColumnDefault::Literal(Literal::Bool(true)))
        );
        assert_eq!(t.primary_key.as_ref().unwrap().name, "PRIMARY");
        assert_eq!(
            (t.foreign_keys[0].on_delete, t.foreign_keys[0].on_update),
            (None, None)
        );
        assert_eq!(t.checks[0].expr, "id > 0");
        assert_eq!(t.uniques.len(), 1);
        assert_eq!(t.uniques[0].name, "t_s_key");
        assert_eq!(t.indexes.len(), 1);
        assert_eq!(t.indexes[0].name, "uqix_t_at");
    }

    #[test]
    fn sqlite_names_inline_keys_and_postgres_keeps_what_it_stores() {
        let out = comparable(&sample(), Dialect::Sqlite);
        let t = &out.tables["t"];
        assert_eq!(t.column("id").unwrap().ty, ColumnType::Integer);
        assert_eq!(t.column("at").unwrap().ty, ColumnType::TimestampTz);
        assert_eq!(t.primary_key.as_ref().unwrap().name, "pk_t");
        assert_eq!(t.foreign_keys[0].on_delete, Some(FkAction::Restrict));
        assert_eq!(t.indexes.len(), 2);

        let out = comparable(&sample(), Dialect::Postgres);
        let t = &out.tables["t"];
        assert_eq!(out.enums.keys().collect::<Vec<_>>(), ["state", "unused"]);
        assert_eq!(t.column("id").unwrap().ty, ColumnType::BigInt);
        assert_eq!(t.primary_key.as_ref().unwrap().name, "t_pkey");
        assert_eq!(t.foreign_keys[0].on_update, None);
        // Idempotent, so an already comparable schema stays as it is.
        assert_eq!(comparable(&out, Dialect::Postgres), out);
        let mysql = comparable(&sample(), Dialect::Mysql);
        assert_eq!(comparable(&mysql, Dialect::Mysql), mysql);
    }
}
