//! The allow-list walk over a parsed statement. Every node kind a transform may use is named
//! here, with the parts of it that are checked; every other kind, and every option of an
//! allowed kind that is not named (hints, locks, `INTO`, `TABLE x`, sampling, pivots, and
//! whatever a parser upgrade adds), is refused. The walk records the tables read, resolves the
//! tables written through their aliases, and finds the placeholders.

use sqlparser::ast::{
    AccessExpr, Assignment, AssignmentTarget, BinaryOperator, Cte, DataType, Delete, Distinct,
    Expr, FromTable, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, GroupByExpr, GroupByWithModifier, Ident, Insert, Join, JoinConstraint,
    JoinOperator, LimitClause, NamedWindowExpr, ObjectName, ObjectNamePart, OnConflictAction,
    OnInsert, OrderBy, OrderByExpr, OrderByKind, Query, Select, SelectFlavor, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, Subscript, TableAlias, TableFactor,
    TableObject, TableWithJoins, Update, UpdateTableFromKind, Value, ValueWithSpan,
    WildcardAdditionalOptions, WindowFrameBound, WindowSpec, WindowType,
};
use sqlparser::tokenizer::Location;

use super::{Actions, Denied, Grants, fold, functions, is_reserved, table_name};
use crate::dialect::Dialect;

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

    /// Records a table the statement writes; it must be declared in `writes`.
    fn write(&mut self, name: String) -> Walked {
        if is_reserved(&name) {
            return deny(format!(
                "'{name}' is one of runner's own tables, off limits to transforms"
            ));
        }
        if !self.grants.writes.contains(&name) {
            return deny(format!(
                "table '{name}' is read-only for this step: declare it in `writes` to change it"
            ));
        }
        if !self.writes.contains(&name) {
            self.writes.push(name);
        }
        Ok(())
    }

    /// The sources of rows a statement names in FROM, USING and joins, with their aliases.
    fn sources(&self, tables: &[TableWithJoins]) -> Result<Vec<Source>, Denied> {
        let mut sources = Vec::new();
        let mut add = |factor: &TableFactor| -> Walked {
            match factor {
                TableFactor::Table {
                    name, alias, args, ..
                } => {
                    let table = table_name(name, self.dialect)?;
                    let is_table = args.is_none() && !self.is_cte(name);
                    let alias_name = match alias {
                        Some(alias) => fold(
                            &alias.name.value,
                            alias.name.quote_style.is_some(),
                            self.dialect,
                        ),
                        None => table.clone(),
                    };
                    sources.push(Source {
                        name: alias_name,
                        table: is_table.then_some(table),
                    });
                }
                TableFactor::Derived { alias, .. }
                | TableFactor::Function { alias, .. }
                | TableFactor::NestedJoin { alias, .. }
                | TableFactor::UNNEST { alias, .. } => {
                    if let Some(alias) = alias {
                        sources.push(Source {
                            name: fold(
                                &alias.name.value,
                                alias.name.quote_style.is_some(),
                                self.dialect,
                            ),
                            table: None,
                        });
                    }
                }
                _ => {}
            }
            Ok(())
        };
        for table in tables {
            add(&table.relation)?;
            for join in &table.joins {
                add(&join.relation)?;
            }
        }
        Ok(sources)
    }

    /// The table a write target names: the table behind an alias of the statement's sources
    /// (MySQL's `DELETE a FROM t AS a`), else the table of that name. A target that is an
    /// alias of a subquery or CTE is refused.
    fn resolve_target(&self, target: &ObjectName, sources: &[Source]) -> Result<String, Denied> {
        if let [ObjectNamePart::Identifier(ident)] = target.0.as_slice() {
            let name = fold(&ident.value, ident.quote_style.is_some(), self.dialect);
            if let Some(source) = sources.iter().find(|s| s.name == name) {
                return match &source.table {
                    Some(table) => Ok(table.clone()),
                    None => deny(format!(
                        "'{name}' is not a table: a transform writes only declared tables"
                    )),
                };
            }
        }
        table_name(target, self.dialect)
    }

    fn insert(&mut self, insert: &Insert) -> Walked {
        let Insert {
            insert_token: _,
            optimizer_hints,
            or,
            ignore: _,
            into: _,
            table,
            table_alias: _,
            columns: _,
            overwrite,
            source,
            assignments,
            partitioned,
            after_columns,
            has_table_keyword,
            on,
            returning,
            output,
            replace_into,
            priority: _,
            insert_alias: _,
            settings,
            format_clause,
            multi_table_insert_type,
            multi_table_into_clauses,
            multi_table_when_clauses,
            multi_table_else_clause,
        } = insert;
        empty(optimizer_hints, "an optimizer hint")?;
        if *overwrite || *has_table_keyword {
            return deny(
                "INSERT OVERWRITE / INSERT TABLE is not allowed in a transform's statement",
            );
        }
        absent(partitioned, "PARTITION")?;
        empty(after_columns, "columns after PARTITION")?;
        absent(output, "OUTPUT")?;
        absent(settings, "SETTINGS")?;
        absent(format_clause, "FORMAT")?;
        absent(multi_table_insert_type, "a multi-table INSERT")?;
        empty(multi_table_into_clauses, "a multi-table INSERT")?;
        empty(multi_table_when_clauses, "a multi-table INSERT")?;
        absent(multi_table_else_clause, "a multi-table INSERT")?;
        let TableObject::TableName(name) = table else {
            return deny(format!("INSERT into {table} is not allowed"));
        };
        self.actions.insert = true;
        // REPLACE and INSERT OR REPLACE delete the rows they replace.
        self.actions.delete |= *replace_into || or.is_some();
        self.actions.update |= on.is_some();
        let target = table_name(name, self.dialect)?;
        self.write(target.clone())?;
        // The target is read too where the statement refers to its rows (ON CONFLICT,
        // RETURNING, ON DUPLICATE KEY UPDATE): writable tables are readable.
        if !self.reads.contains(&target) {
            self.reads.push(target);
        }
        if let Some(source) = source {
            self.query(source)?;
        }
        self.assignments(assignments)?;
        match on {
            None => {}
            Some(OnInsert::DuplicateKeyUpdate(assignments)) => self.assignments(assignments)?,
            Some(OnInsert::OnConflict(conflict)) => match &conflict.action {
                OnConflictAction::DoNothing => {}
                OnConflictAction::DoUpdate(update) => {
                    self.assignments(&update.assignments)?;
                    if let Some(selection) = &update.selection {
                        self.expr(selection)?;
                    }
                }
            },
            Some(other) => {
                return deny(format!("{other} is not allowed in a transform's statement"));
            }
        }
        self.returning(returning)
    }

    fn returning(&mut self, returning: &Option<Vec<SelectItem>>) -> Walked {
        for item in returning.iter().flatten() {
            self.select_item(item)?;
        }
        Ok(())
    }

    fn assignments(&mut self, assignments: &[Assignment]) -> Walked {
        for assignment in assignments {
            self.expr(&assignment.value)?;
        }
        Ok(())
    }

    fn update(&mut self, update: &Update) -> Walked {
        let Update {
            update_token: _,
            optimizer_hints,
            table,
            assignments,
            from,
            selection,
            returning,
            output,
            or: _,
            order_by,
            limit,
        } = update;
        empty(optimizer_hints, "an optimizer hint")?;
        absent(output, "OUTPUT")?;
        self.actions.update = true;
        let from: &[TableWithJoins] = match from {
            None => &[],
            Some(UpdateTableFromKind::AfterSet(from)) => from,
            Some(UpdateTableFromKind::BeforeSet(_)) => {
                return deny("UPDATE FROM ... SET is not allowed in a transform's statement");
            }
        };
        self.table_with_joins(table)?;
        for source in from {
            self.table_with_joins(source)?;
        }
        let sources = self.sources(std::slice::from_ref(table))?;
        if table.joins.is_empty() {
            // One target (PostgreSQL and SQLite always; MySQL without joins).
            let TableFactor::Table {
                name, args: None, ..
            } = &table.relation
            else {
                return deny("UPDATE must name a declared table");
            };
            let target = table_name(name, self.dialect)?;
            self.write(target)?;
        } else {
            // MySQL's multi-table UPDATE writes the tables whose columns it assigns: each
            // assigned column must name its table (or alias) unless every table is writable.
            for assignment in assignments {
                let columns: Vec<&ObjectName> = match &assignment.target {
                    AssignmentTarget::ColumnName(name) => vec![name],
                    AssignmentTarget::Tuple(names) => names.iter().collect(),
                };
                for column in columns {
                    match column.0.as_slice() {
                        [qualifier @ .., _] if !qualifier.is_empty() => {
                            let qualifier = ObjectName(qualifier.to_vec());
                            let target = self.resolve_target(&qualifier, &sources)?;
                            self.write(target)?;
                        }
                        _ => {
                            for source in &sources {
                                match &source.table {
                                    Some(table) => self.write(table.clone())?,
                                    None => {
                                        return deny(format!(
                                            "qualify the column {column} with its table: this UPDATE joins several"
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        self.assignments(assignments)?;
        if let Some(selection) = selection {
            self.expr(selection)?;
        }
        self.order_by_exprs(order_by)?;
        if let Some(limit) = limit {
            self.expr(limit)?;
        }
        self.returning(returning)
    }

    fn delete(&mut self, delete: &Delete) -> Walked {
        let Delete {
            delete_token: _,
            optimizer_hints,
            tables,
            from,
            using,
            selection,
            returning,
            output,
            order_by,
            limit,
        } = delete;
        empty(optimizer_hints, "an optimizer hint")?;
        absent(output, "OUTPUT")?;
        self.actions.delete = true;
        let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = from;
        let using: &[TableWithJoins] = using.as_deref().unwrap_or_default();
        for source in from.iter().chain(using) {
            self.table_with_joins(source)?;
        }
        if tables.is_empty() && using.is_empty() {
            // `DELETE FROM t`: the one table of FROM.
            match from.as_slice() {
                [
                    TableWithJoins {
                        relation:
                            TableFactor::Table {
                                name, args: None, ..
                            },
                        joins,
                    },
                ] if joins.is_empty() => {
                    let target = table_name(name, self.dialect)?;
                    self.write(target)?;
                }
                _ => return deny("DELETE must name one declared table"),
            }
        } else {
            // MySQL's multi-table forms, and PostgreSQL's `DELETE FROM t USING ...`: the
            // targets are resolved through the aliases of the sources they delete from.
            let (targets, sources): (Vec<ObjectName>, Vec<Source>) = if tables.is_empty() {
                let targets = from
                    .iter()
                    .map(|t| match &t.relation {
                        TableFactor::Table {
                            name, args: None, ..
                        } if t.joins.is_empty() => Ok(name.clone()),
                        _ => deny("DELETE must name declared tables"),
                    })
                    .collect::<Result<_, _>>()?;
                let sources = if self.dialect == Dialect::Mysql {
                    self.sources(using)?
                } else {
                    Vec::new()
                };
                (targets, sources)
            } else {
                (tables.clone(), self.sources(from)?)
            };
            for target in &targets {
                let table = self.resolve_target(target, &sources)?;
                self.write(table)?;
            }
        }
        if let Some(selection) = selection {
            self.expr(selection)?;
        }
        self.order_by_exprs(order_by)?;
        if let Some(limit) = limit {
            self.expr(limit)?;
        }
        self.returning(returning)
    }

    fn window_spec(&mut self, spec: &WindowSpec) -> Walked {
        for expr in &spec.partition_by {
            self.expr(expr)?;
        }
        self.order_by_exprs(&spec.order_by)?;
        if let Some(frame) = &spec.window_frame {
            for bound in std::iter::once(&frame.start_bound).chain(&frame.end_bound) {
                if let WindowFrameBound::Preceding(Some(expr))
                | WindowFrameBound::Following(Some(expr)) = bound
                {
                    self.expr(expr)?;
                }
            }
        }
        Ok(())
    }

    fn function(&mut self, function: &Function) -> Walked {
        let Function {
            name,
            uses_odbc_syntax,
            parameters,
            args,
            within_group,
            filter,
            null_treatment: _,
            over,
        } = function;
        if *uses_odbc_syntax {
            return deny("ODBC function syntax is not allowed in a transform's statement");
        }
        let called = function_name(name, self.dialect)?;
        if !functions::allowed(self.dialect, &called) {
            return deny(format!(
                "the function {called} is not allowed in a transform (see docs/transforms.md for the functions a statement may call)"
            ));
        }
        if !matches!(parameters, FunctionArguments::None) {
            return deny("function parameters are not allowed in a transform's statement");
        }
        match args {
            FunctionArguments::None => {}
            FunctionArguments::Subquery(query) if called == "array" => self.query(query)?,
            FunctionArguments::Subquery(_) => {
                return deny(format!(
                    "{called}(SELECT ...) is not allowed in a transform"
                ));
            }
            FunctionArguments::List(list) => {
                for arg in &list.args {
                    self.function_arg(arg)?;
                }
                for clause in &list.clauses {
                    match clause {
                        FunctionArgumentClause::IgnoreOrRespectNulls(_)
                        | FunctionArgumentClause::Separator(_) => {}
                        FunctionArgumentClause::OrderBy(exprs) => self.order_by_exprs(exprs)?,
                        FunctionArgumentClause::Limit(expr) => self.expr(expr)?,
                        other => {
                            return deny(format!(
                                "{other} is not allowed in a transform's function call"
                            ));
                        }
                    }
                }
            }
        }
        self.order_by_exprs(within_group)?;
        if let Some(filter) = filter {
            self.expr(filter)?;
        }
        match over {
            None | Some(WindowType::NamedWindow(_)) => Ok(()),
            Some(WindowType::WindowSpec(spec)) => self.window_spec(spec),
        }
    }

    fn function_arg(&mut self, arg: &FunctionArg) -> Walked {
        let arg = match arg {
            FunctionArg::Unnamed(arg) | FunctionArg::Named { arg, .. } => arg,
            FunctionArg::ExprNamed { .. } => {
                return deny("expression-named arguments are not allowed in a transform");
            }
        };
        match arg {
            FunctionArgExpr::Expr(expr) => self.expr(expr),
            FunctionArgExpr::QualifiedWildcard(_) | FunctionArgExpr::Wildcard => Ok(()),
            FunctionArgExpr::WildcardWithOptions(options) => Self::plain_wildcard(options),
        }
    }

    /// A type a value is cast to: the portable ones, PostgreSQL's arrays of them, and named
    /// types of the default schema (enums); never PostgreSQL's `reg*` catalog lookups.
    fn data_type(&mut self, data_type: &DataType) -> Walked {
        use DataType as T;
        match data_type {
            T::Character(_)
            | T::Char(_)
            | T::CharacterVarying(_)
            | T::CharVarying(_)
            | T::Varchar(_)
            | T::Nvarchar(_)
            | T::Text
            | T::TinyText
            | T::MediumText
            | T::LongText
            | T::Uuid
            | T::Binary(_)
            | T::Varbinary(_)
            | T::Blob(_)
            | T::Bytea
            | T::Numeric(_)
            | T::Decimal(_)
            | T::Dec(_)
            | T::Float(_)
            | T::TinyInt(_)
            | T::SmallInt(_)
            | T::MediumInt(_)
            | T::Int(_)
            | T::Integer(_)
            | T::BigInt(_)
            | T::Int2(_)
            | T::Int4(_)
            | T::Int8(_)
            | T::Signed
            | T::SignedInteger
            | T::Unsigned
            | T::UnsignedInteger
            | T::Float4
            | T::Float8
            | T::Real
            | T::Double(_)
            | T::DoublePrecision
            | T::Bool
            | T::Boolean
            | T::Date
            | T::Time(..)
            | T::Datetime(_)
            | T::Timestamp(..)
            | T::Interval { .. }
            | T::JSON
            | T::JSONB
            | T::TsVector
            | T::TsQuery => Ok(()),
            T::Array(element) => {
                use sqlparser::ast::ArrayElemTypeDef as E;
                match element {
                    E::SquareBracket(inner, _) if self.dialect == Dialect::Postgres => {
                        self.data_type(inner)
                    }
                    _ => deny(format!(
                        "the type {data_type} is not allowed in a transform"
                    )),
                }
            }
            T::Custom(name, modifiers) => {
                let type_name = match name.0.as_slice() {
                    [ObjectNamePart::Identifier(ident)] => {
                        fold(&ident.value, ident.quote_style.is_some(), self.dialect)
                    }
                    _ => {
                        return deny(format!(
                            "the type {name} is not allowed in a transform: name types of the default schema"
                        ));
                    }
                };
                if !modifiers.is_empty()
                    || type_name.starts_with("reg")
                    || type_name.starts_with("pg_")
                {
                    return deny(format!(
                        "the type {data_type} is not allowed in a transform"
                    ));
                }
                Ok(())
            }
            other => deny(format!("the type {other} is not allowed in a transform")),
        }
    }

    fn value(&mut self, value: &ValueWithSpan) -> Walked {
        let at = (value.span.start.line, value.span.start.column);
        match &value.value {
            Value::Number(..) | Value::Boolean(_) | Value::Null | Value::HexStringLiteral(_) => {
                Ok(())
            }
            Value::SingleQuotedString(text)
            | Value::DoubleQuotedString(text)
            | Value::NationalStringLiteral(text) => {
                // runner's MySQL sessions read backslashes as escapes, and the text sent is
                // rendered with quotes doubled only: keep what both read alike.
                if self.dialect == Dialect::Mysql && text.contains('\\') {
                    return deny(
                        "a string literal with a backslash: pass the value as a parameter ($1)",
                    );
                }
                Ok(())
            }
            Value::EscapedStringLiteral(_) | Value::UnicodeStringLiteral(_)
                if self.dialect == Dialect::Postgres =>
            {
                Ok(())
            }
            Value::Placeholder(text) => self.placeholder(text, at),
            other => deny(format!(
                "the literal {other} is not allowed in a transform's statement"
            )),
        }
    }

    fn placeholder(&mut self, text: &str, at: (u64, u64)) -> Walked {
        let number = if text == "?" && self.dialect != Dialect::Postgres {
            None
        } else if let Some(digits) = text.strip_prefix('$').or_else(|| {
            text.strip_prefix('?')
                .filter(|_| self.dialect != Dialect::Postgres)
        }) {
            match digits.parse::<usize>() {
                Ok(0) => return deny("placeholders count from $1"),
                Ok(n) if n <= super::MAX_PARAMETERS => Some(n),
                Ok(_) => {
                    return deny(format!(
                        "a statement takes at most {} parameters",
                        super::MAX_PARAMETERS
                    ));
                }
                Err(_) => {
                    return deny(format!(
                        "placeholder '{text}' is not supported: use $1, $2, ..."
                    ));
                }
            }
        } else {
            return deny(format!(
                "placeholder '{text}' is not supported: use $1, $2, ..."
            ));
        };
        self.placeholders.push(Placeholder { at, number });
        Ok(())
    }

    /// A column reference, or on MySQL a `$n` placeholder (its tokenizer reads those as words).
    fn identifier(&mut self, ident: &Ident) -> Walked {
        if ident.quote_style.is_none() {
            if self.dialect == Dialect::Mysql
                && ident.value.len() > 1
                && ident.value.starts_with('$')
                && ident.value[1..].bytes().all(|b| b.is_ascii_digit())
            {
                let at = (ident.span.start.line, ident.span.start.column);
                return self.placeholder(&ident.value, at);
            }
            if ident.value.starts_with('@') {
                return deny(format!(
                    "variables ({}) are not allowed in a transform's statement",
                    ident.value
                ));
            }
        }
        Ok(())
    }

    fn exprs<'e>(&mut self, exprs: impl IntoIterator<Item = &'e Expr>) -> Walked {
        for expr in exprs {
            self.expr(expr)?;
        }
        Ok(())
    }

    fn expr(&mut self, expr: &Expr) -> Walked {
        self.nested(|walk| walk.expr_inner(expr))
    }

    fn expr_inner(&mut self, expr: &Expr) -> Walked {
        match expr {
            Expr::Identifier(ident) => self.identifier(ident),
            Expr::CompoundIdentifier(idents) => {
                for ident in idents {
                    if ident.quote_style.is_none() && ident.value.starts_with('@') {
                        return self.identifier(ident);
                    }
                }
                Ok(())
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.expr(root)?;
                for access in access_chain {
                    match access {
                        AccessExpr::Dot(expr) => self.expr(expr)?,
                        AccessExpr::Subscript(Subscript::Index { index }) => self.expr(index)?,
                        AccessExpr::Subscript(Subscript::Slice {
                            lower_bound,
                            upper_bound,
                            stride,
                        }) => {
                            self.exprs(lower_bound.iter().chain(upper_bound).chain(stride))?;
                        }
                    }
                }
                Ok(())
            }
            Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e)
            | Expr::Nested(e) => self.expr(e),
            Expr::IsJson { expr, .. } | Expr::IsNormalized { expr, .. } => self.expr(expr),
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                self.expr(a)?;
                self.expr(b)
            }
            Expr::InList { expr, list, .. } => {
                self.expr(expr)?;
                self.exprs(list)
            }
            Expr::InSubquery { expr, subquery, .. } => {
                self.expr(expr)?;
                self.query(subquery)
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr)?;
                self.expr(low)?;
                self.expr(high)
            }
            Expr::BinaryOp { left, op, right } => {
                if matches!(
                    op,
                    BinaryOperator::Custom(_)
                        | BinaryOperator::PGCustomBinaryOperator(_)
                        | BinaryOperator::Assignment
                ) {
                    return deny(format!(
                        "the operator {op} is not allowed in a transform's statement"
                    ));
                }
                self.binary_chain(left, right)
            }
            Expr::Like {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                expr,
                pattern,
                escape_char,
                ..
            }
            | Expr::SimilarTo {
                expr,
                pattern,
                escape_char,
                ..
            } => {
                self.expr(expr)?;
                self.expr(pattern)?;
                self.exprs(escape_char.as_deref())
            }
            Expr::RLike { expr, pattern, .. } => {
                self.expr(expr)?;
                self.expr(pattern)
            }
            Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. } => {
                self.expr(left)?;
                self.expr(right)
            }
            Expr::UnaryOp { expr, .. } => self.expr(expr),
            Expr::Convert {
                is_try,
                expr,
                data_type,
                charset: _,
                target_before_value: _,
                styles,
            } => {
                if *is_try {
                    return deny("TRY_CONVERT is not allowed in a transform's statement");
                }
                if let Some(data_type) = data_type {
                    self.data_type(data_type)?;
                }
                self.expr(expr)?;
                self.exprs(styles)
            }
            Expr::Cast {
                kind: _,
                expr,
                data_type,
                format,
            } => {
                absent(format, "CAST ... FORMAT")?;
                self.data_type(data_type)?;
                self.expr(expr)
            }
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                self.expr(timestamp)?;
                self.expr(time_zone)
            }
            Expr::Extract { expr, .. }
            | Expr::Ceil { expr, .. }
            | Expr::Floor { expr, .. }
            | Expr::Collate { expr, .. } => self.expr(expr),
            Expr::Position { expr, r#in } => {
                self.expr(expr)?;
                self.expr(r#in)
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                self.expr(expr)?;
                self.exprs(
                    substring_from
                        .as_deref()
                        .into_iter()
                        .chain(substring_for.as_deref()),
                )
            }
            Expr::Trim {
                expr,
                trim_what,
                trim_characters,
                ..
            } => {
                self.expr(expr)?;
                self.exprs(trim_what.as_deref())?;
                self.exprs(trim_characters.iter().flatten())
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                self.expr(expr)?;
                self.expr(overlay_what)?;
                self.expr(overlay_from)?;
                self.exprs(overlay_for.as_deref())
            }
            Expr::Value(value) => self.value(value),
            Expr::Prefixed { value, .. } if self.dialect == Dialect::Mysql => self.expr(value),
            Expr::TypedString(typed) => {
                self.data_type(&typed.data_type)?;
                if typed.uses_odbc_syntax {
                    return deny("ODBC literals are not allowed in a transform's statement");
                }
                self.value(&typed.value)
            }
            Expr::Function(function) => self.function(function),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                self.exprs(operand.as_deref())?;
                for when in conditions {
                    self.expr(&when.condition)?;
                    self.expr(&when.result)?;
                }
                self.exprs(else_result.as_deref())
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.query(subquery),
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                self.exprs(sets.iter().flatten())
            }
            Expr::Tuple(exprs) => self.exprs(exprs),
            Expr::Array(array) => self.exprs(&array.elem),
            Expr::Interval(interval) => self.expr(&interval.value),
            Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => Ok(()),
            other => {
                let text = other.to_string();
                let shown: String = text.chars().take(60).collect();
                deny(format!(
                    "the expression {shown} is not allowed in a transform's statement"
                ))
            }
        }
    }

    /// Both sides of a binary operator. A long chain (`a + b + c + ...`) nests to the left
    /// one level per operator, and counts toward the depth like any nesting.
    fn binary_chain(&mut self, left: &Expr, right: &Expr) -> Walked {
        self.expr(left)?;
        self.expr(right)
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
