//! The allow-list walk over a parsed statement. Every node kind a transform may use is named
//! here, with the parts of it that are checked; every other kind, and every option of an
//! allowed kind that is not named (hints, locks, `INTO`, `TABLE x`, sampling, pivots, and
//! whatever a parser upgrade adds), is refused. The walk records the tables read, resolves the
//! tables written through their aliases, and finds the placeholders.

use sqlparser::ast::{
    Cte, Distinct, FunctionArg, GroupByExpr, GroupByWithModifier, Join, JoinConstraint,
    JoinOperator, LimitClause, NamedWindowExpr, ObjectName, ObjectNamePart, OrderBy, OrderByExpr,
    OrderByKind, Query, Select, SelectFlavor, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    Statement, TableAlias, TableFactor, TableWithJoins, WildcardAdditionalOptions,
};
use sqlparser::tokenizer::Location;

mod expr;
mod write;

use super::{Actions, Denied, Grants, fold, functions, is_reserved, table_name};
use crate::dialect_kind::Dialect;

/// How deeply expressions and queries may nest. Deeper trees are refused before anything
/// recursive (rendering, comparing) touches them.
pub const MAX_DEPTH: usize = 256;

type Walked = Result<(), Denied>;

fn deny<T>(message: impl Into<String>) -> Result<T, Denied> {
    Err(Denied(message.into()))
}

/// Refuses a clause that the statement holds but transforms may not use.
fn absent<T>(part: &Option<T>, what: &str) -> Walked {
    match part {
        Some(_) => deny(format!("{what} is not allowed in a transform's statement")),
        None => Ok(()),
    }
}

fn empty<T>(part: &[T], what: &str) -> Walked {
    if part.is_empty() {
        Ok(())
    } else {
        deny(format!("{what} is not allowed in a transform's statement"))
    }
}

/// A placeholder as written: positional (`?`) or numbered (`$1`, `?1`), where the text has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub at: (u64, u64),
    /// The 1-based number, or `None` for `?`.
    pub number: Option<usize>,
}

/// The CTE names one query defines, and how many of them are visible where the walk is.
struct Scope {
    names: Vec<String>,
    visible: usize,
}

/// A source of rows a write target can be an alias of.
struct Source {
    /// The alias, or the table's own name where it has none (folded).
    name: String,
    /// The table it names, if it is one (not a CTE, subquery or function).
    table: Option<String>,
}

/// The walk's state and what it found.
pub struct Walk<'a> {
    dialect: Dialect,
    grants: &'a Grants,
    scopes: Vec<Scope>,
    depth: usize,
    /// The tables the statement reads, each once.
    pub reads: Vec<String>,
    /// The tables it changes, each once.
    pub writes: Vec<String>,
    /// How it changes them.
    pub actions: Actions,
    pub placeholders: Vec<Placeholder>,
}

impl<'a> Walk<'a> {
    pub fn new(dialect: Dialect, grants: &'a Grants) -> Self {
        Self {
            dialect,
            grants,
            scopes: Vec::new(),
            depth: 0,
            reads: Vec::new(),
            writes: Vec::new(),
            actions: Actions::default(),
            placeholders: Vec::new(),
        }
    }

    fn nested<T>(
        &mut self,
        walk: impl FnOnce(&mut Self) -> Result<T, Denied>,
    ) -> Result<T, Denied> {
        if self.depth >= MAX_DEPTH {
            return deny(format!(
                "the statement is too deeply nested (more than {MAX_DEPTH} levels); use IN (...) lists or parameters"
            ));
        }
        self.depth += 1;
        let result = walk(self);
        self.depth -= 1;
        result
    }

    /// The statement as a whole: one SELECT, INSERT, UPDATE or DELETE (WITH included).
    pub fn statement(&mut self, statement: &Statement) -> Walked {
        match statement {
            Statement::Query(query) => self.query(query),
            Statement::Insert(insert) => self.insert(insert),
            Statement::Update(update) => self.update(update),
            Statement::Delete(delete) => self.delete(delete),
            other => {
                let keyword: String = other
                    .to_string()
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                deny(format!(
                    "only SELECT, INSERT, UPDATE, DELETE and WITH may run in a transform, not {keyword}"
                ))
            }
        }
    }

    fn query(&mut self, query: &Query) -> Walked {
        let Query {
            with,
            body,
            order_by,
            limit_clause,
            fetch,
            locks,
            for_clause,
            settings,
            format_clause,
            pipe_operators,
        } = query;
        empty(locks, "FOR UPDATE / FOR SHARE (row locks)")?;
        absent(for_clause, "a FOR clause")?;
        absent(settings, "SETTINGS")?;
        absent(format_clause, "FORMAT")?;
        empty(pipe_operators, "a pipe operator")?;
        self.nested(|walk| {
            let mut scope = Scope {
                names: Vec::new(),
                visible: 0,
            };
            let recursive = with.as_ref().is_some_and(|w| w.recursive);
            let ctes: &[Cte] = with.as_ref().map_or(&[], |w| &w.cte_tables);
            for cte in ctes {
                let alias = &cte.alias.name;
                scope.names.push(fold(
                    &alias.value,
                    alias.quote_style.is_some(),
                    walk.dialect,
                ));
            }
            walk.scopes.push(scope);
            let result = (|| {
                for (index, cte) in ctes.iter().enumerate() {
                    absent(&cte.from, "a CTE's FROM")?;
                    walk.table_alias(&cte.alias)?;
                    // Inside the body of CTE number `index`, the CTEs before it are in scope,
                    // and itself under WITH RECURSIVE; without it, PostgreSQL and MySQL read a
                    // table of the same name. SQLite resolves more
                    // (https://sqlite.org/lang_with.html): a name the guard takes for a table
                    // there is checked as one, which is only stricter.
                    if let Some(scope) = walk.scopes.last_mut() {
                        scope.visible = index + usize::from(recursive);
                    }
                    walk.cte_body(&cte.query)?;
                }
                if let Some(scope) = walk.scopes.last_mut() {
                    scope.visible = scope.names.len();
                }
                walk.set_expr(body)?;
                if let Some(order_by) = order_by {
                    walk.order_by(order_by)?;
                }
                if let Some(limit) = limit_clause {
                    match limit {
                        LimitClause::LimitOffset {
                            limit,
                            offset,
                            limit_by,
                        } => {
                            empty(limit_by, "LIMIT BY")?;
                            if let Some(limit) = limit {
                                walk.expr(limit)?;
                            }
                            if let Some(offset) = offset {
                                walk.expr(&offset.value)?;
                            }
                        }
                        LimitClause::OffsetCommaLimit { offset, limit } => {
                            walk.expr(offset)?;
                            walk.expr(limit)?;
                        }
                    }
                }
                if let Some(fetch) = fetch {
                    if fetch.percent {
                        return deny("FETCH ... PERCENT is not allowed in a transform's statement");
                    }
                    if let Some(quantity) = &fetch.quantity {
                        walk.expr(quantity)?;
                    }
                }
                Ok(())
            })();
            walk.scopes.pop();
            result
        })
    }

    /// A CTE's body: a query, or on PostgreSQL a data-modifying statement.
    fn cte_body(&mut self, query: &Query) -> Walked {
        self.query(query)
    }

    fn order_by(&mut self, order_by: &OrderBy) -> Walked {
        absent(&order_by.interpolate, "INTERPOLATE")?;
        match &order_by.kind {
            OrderByKind::Expressions(exprs) => self.order_by_exprs(exprs),
            OrderByKind::All(_) => deny("ORDER BY ALL is not allowed in a transform's statement"),
        }
    }

    fn order_by_exprs(&mut self, exprs: &[OrderByExpr]) -> Walked {
        for item in exprs {
            absent(&item.with_fill, "WITH FILL")?;
            self.expr(&item.expr)?;
        }
        Ok(())
    }

    fn set_expr(&mut self, body: &SetExpr) -> Walked {
        self.nested(|walk| match body {
            SetExpr::Select(select) => walk.select(select),
            SetExpr::Query(query) => walk.query(query),
            SetExpr::SetOperation { left, right, .. } => {
                walk.set_expr(left)?;
                walk.set_expr(right)
            }
            SetExpr::Values(values) => {
                for row in &values.rows {
                    for expr in row.iter() {
                        walk.expr(expr)?;
                    }
                }
                Ok(())
            }
            SetExpr::Insert(statement)
            | SetExpr::Update(statement)
            | SetExpr::Delete(statement)
                if walk.dialect == Dialect::Postgres =>
            {
                walk.statement(statement)
            }
            SetExpr::Table(table) => deny(format!(
                "TABLE {} is not allowed: write SELECT * FROM {0}",
                table.table_name.as_deref().unwrap_or("...")
            )),
            other => {
                let keyword: String = other
                    .to_string()
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                deny(format!(
                    "{keyword} is not allowed inside a transform's statement"
                ))
            }
        })
    }

    fn select(&mut self, select: &Select) -> Walked {
        let Select {
            select_token: _,
            optimizer_hints,
            distinct,
            select_modifiers,
            top,
            top_before_distinct: _,
            projection,
            exclude,
            into,
            from,
            lateral_views,
            prewhere,
            selection,
            connect_by,
            group_by,
            cluster_by,
            distribute_by,
            sort_by,
            having,
            named_window,
            qualify,
            window_before_qualify: _,
            value_table_mode,
            flavor,
        } = select;
        empty(optimizer_hints, "an optimizer hint")?;
        absent(select_modifiers, "a SELECT modifier")?;
        absent(top, "TOP")?;
        absent(exclude, "EXCLUDE")?;
        if into.is_some() {
            return deny("SELECT ... INTO is not allowed: it writes outside the declared tables");
        }
        empty(lateral_views, "LATERAL VIEW")?;
        absent(prewhere, "PREWHERE")?;
        empty(connect_by, "CONNECT BY")?;
        empty(cluster_by, "CLUSTER BY")?;
        empty(distribute_by, "DISTRIBUTE BY")?;
        empty(sort_by, "SORT BY")?;
        absent(qualify, "QUALIFY")?;
        absent(value_table_mode, "SELECT AS VALUE / STRUCT")?;
        if *flavor != SelectFlavor::Standard {
            return deny("FROM-first queries are not allowed in a transform's statement");
        }
        // FROM first: it defines the aliases the rest refers to (nothing to check there) and
        // the tables read.
        for table in from {
            self.table_with_joins(table)?;
        }
        if let Some(Distinct::On(exprs)) = distinct {
            for expr in exprs {
                self.expr(expr)?;
            }
        }
        for item in projection {
            self.select_item(item)?;
        }
        if let Some(selection) = selection {
            self.expr(selection)?;
        }
        match group_by {
            GroupByExpr::Expressions(exprs, modifiers) => {
                for modifier in modifiers {
                    if !matches!(
                        modifier,
                        GroupByWithModifier::Rollup | GroupByWithModifier::Cube
                    ) {
                        return deny(format!(
                            "GROUP BY ... {modifier} is not allowed in a transform's statement"
                        ));
                    }
                }
                for expr in exprs {
                    self.expr(expr)?;
                }
            }
            GroupByExpr::All(_) => {
                return deny("GROUP BY ALL is not allowed in a transform's statement");
            }
        }
        if let Some(having) = having {
            self.expr(having)?;
        }
        for window in named_window {
            match &window.1 {
                NamedWindowExpr::NamedWindow(_) => {}
                NamedWindowExpr::WindowSpec(spec) => self.window_spec(spec)?,
            }
        }
        Ok(())
    }

    fn select_item(&mut self, item: &SelectItem) -> Walked {
        match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                self.expr(expr)
            }
            SelectItem::Wildcard(options) => Self::plain_wildcard(options),
            SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(_),
                options,
            ) => Self::plain_wildcard(options),
            other => deny(format!(
                "the select item {other} is not allowed in a transform's statement"
            )),
        }
    }

    fn plain_wildcard(options: &WildcardAdditionalOptions) -> Walked {
        let WildcardAdditionalOptions {
            wildcard_token: _,
            opt_ilike,
            opt_exclude,
            opt_except,
            opt_replace,
            opt_rename,
            opt_alias,
        } = options;
        absent(opt_ilike, "* ILIKE")?;
        absent(opt_exclude, "* EXCLUDE")?;
        absent(opt_except, "* EXCEPT")?;
        absent(opt_replace, "* REPLACE")?;
        absent(opt_rename, "* RENAME")?;
        absent(opt_alias, "an alias of *")
    }

    fn table_with_joins(&mut self, table: &TableWithJoins) -> Walked {
        self.table_factor(&table.relation)?;
        for join in &table.joins {
            self.join(join)?;
        }
        Ok(())
    }

    fn join(&mut self, join: &Join) -> Walked {
        if join.global {
            return deny("GLOBAL JOIN is not allowed in a transform's statement");
        }
        self.table_factor(&join.relation)?;
        let constraint = match &join.join_operator {
            JoinOperator::Join(c)
            | JoinOperator::Inner(c)
            | JoinOperator::Left(c)
            | JoinOperator::LeftOuter(c)
            | JoinOperator::Right(c)
            | JoinOperator::RightOuter(c)
            | JoinOperator::FullOuter(c)
            | JoinOperator::CrossJoin(c)
            | JoinOperator::StraightJoin(c) => c,
            other => {
                return deny(format!(
                    "the join {other:?} is not allowed in a transform's statement"
                ));
            }
        };
        match constraint {
            JoinConstraint::On(expr) => self.expr(expr),
            JoinConstraint::Using(_) | JoinConstraint::Natural | JoinConstraint::None => Ok(()),
        }
    }

    fn table_alias(&mut self, alias: &TableAlias) -> Walked {
        absent(&alias.at, "AT in an alias")?;
        for column in &alias.columns {
            if let Some(data_type) = &column.data_type {
                self.data_type(data_type)?;
            }
        }
        Ok(())
    }

    fn table_factor(&mut self, factor: &TableFactor) -> Walked {
        self.nested(|walk| match factor {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_hints,
            } => {
                empty(with_hints, "a table hint")?;
                absent(version, "a table version (time travel)")?;
                empty(partitions, "PARTITION")?;
                absent(json_path, "a JSON path on a table")?;
                absent(sample, "TABLESAMPLE")?;
                empty(index_hints, "an index hint")?;
                if let Some(alias) = alias {
                    walk.table_alias(alias)?;
                }
                match args {
                    Some(args) => {
                        absent(&args.settings, "SETTINGS")?;
                        walk.table_function(name, &args.args)
                    }
                    None if *with_ordinality => deny("WITH ORDINALITY is only for table functions"),
                    None => walk.relation(name),
                }
            }
            TableFactor::Derived {
                lateral: _,
                subquery,
                alias,
                sample,
            } => {
                absent(sample, "TABLESAMPLE")?;
                if let Some(alias) = alias {
                    walk.table_alias(alias)?;
                }
                walk.query(subquery)
            }
            TableFactor::Function {
                lateral: _,
                name,
                args,
                with_ordinality: _,
                alias,
            } => {
                if let Some(alias) = alias {
                    walk.table_alias(alias)?;
                }
                walk.table_function(name, args)
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset,
                with_offset_alias,
                with_ordinality: _,
            } if walk.dialect == Dialect::Postgres => {
                if *with_offset || with_offset_alias.is_some() {
                    return deny(
                        "UNNEST ... WITH OFFSET is not allowed in a transform's statement",
                    );
                }
                if let Some(alias) = alias {
                    walk.table_alias(alias)?;
                }
                for expr in array_exprs {
                    walk.expr(expr)?;
                }
                Ok(())
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if let Some(alias) = alias {
                    walk.table_alias(alias)?;
                }
                walk.table_with_joins(table_with_joins)
            }
            other => {
                let text = other.to_string();
                let kind: String = text.split(['(', ' ']).next().unwrap_or_default().into();
                deny(format!(
                    "{kind} is not allowed as a table source in a transform's statement"
                ))
            }
        })
    }

    fn table_function(&mut self, name: &ObjectName, args: &[FunctionArg]) -> Walked {
        let function = function_name(name, self.dialect)?;
        if is_reserved(&function) {
            return deny(format!(
                "'{function}' is one of runner's own tables, off limits to transforms"
            ));
        }
        if !functions::table_function_allowed(self.dialect, &function) {
            return deny(format!(
                "the table function {function} is not allowed in a transform"
            ));
        }
        for arg in args {
            self.function_arg(arg)?;
        }
        Ok(())
    }

    /// A table the statement reads: a CTE in scope, or a declared table.
    fn relation(&mut self, relation: &ObjectName) -> Walked {
        let name = table_name(relation, self.dialect)?;
        // Before anything is skipped: no CTE name makes runner's tables reachable.
        if is_reserved(&name) {
            return deny(format!(
                "'{name}' is one of runner's own tables, off limits to transforms"
            ));
        }
        if self.is_cte(relation) {
            return Ok(());
        }
        if !self.grants.readable(&name) {
            return deny(format!(
                "table '{name}' is not declared in this step's `reads` or `writes`"
            ));
        }
        if !self.reads.contains(&name) {
            self.reads.push(name);
        }
        Ok(())
    }

    /// True if a one-part name refers to a CTE at this point of the statement.
    fn is_cte(&self, name: &ObjectName) -> bool {
        let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return false;
        };
        let name = fold(&ident.value, ident.quote_style.is_some(), self.dialect);
        self.scopes
            .iter()
            .any(|scope| scope.names[..scope.visible].contains(&name))
    }
}

/// A function's name as the allow-list has it: one part, in lower case (PostgreSQL keeps a
/// quoted name's case, and then it is not a built-in one).
fn function_name(name: &ObjectName, dialect: Dialect) -> Result<String, Denied> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => {
            Ok(fold(&ident.value, ident.quote_style.is_some(), dialect).to_ascii_lowercase())
        }
        _ => deny(format!(
            "the function {name} is not allowed in a transform: call functions by their plain name"
        )),
    }
}

/// The placeholders' numbers in the order of the text: numbered ones as written, positional
/// ones counted from 1 in the order they appear. Mixing both is refused.
pub fn number_placeholders(placeholders: &mut [Placeholder]) -> Result<(), Denied> {
    let numbered = placeholders.iter().any(|p| p.number.is_some());
    let positional = placeholders.iter().any(|p| p.number.is_none());
    if numbered && positional {
        return deny("use either $1, $2, ... or ? placeholders in one statement, not both");
    }
    if positional {
        placeholders.sort_by_key(|p| p.at);
        for (index, placeholder) in placeholders.iter_mut().enumerate() {
            placeholder.number = Some(index + 1);
        }
    }
    Ok(())
}

/// Where a token starts, as the placeholders record it.
pub fn position(location: Location) -> (u64, u64) {
    (location.line, location.column)
}
