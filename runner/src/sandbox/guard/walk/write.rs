//! The writes of a statement: INSERT, UPDATE and DELETE, each written table resolved through
//! the aliases of the statement's sources to the table it names, and checked against `writes`.

use sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, FromTable, Insert, ObjectName, ObjectNamePart,
    OnConflictAction, OnInsert, SelectItem, TableFactor, TableObject, TableWithJoins, Update,
    UpdateTableFromKind,
};

use super::{Source, Walk, Walked, absent, deny, empty};
use crate::dialect_kind::Dialect;
use crate::sandbox::guard::{Denied, fold, is_reserved, table_name};

impl Walk<'_> {
    /// Records a table the statement writes; it must be declared in `writes`.
    pub(super) fn write(&mut self, name: String) -> Walked {
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
    pub(super) fn sources(&self, tables: &[TableWithJoins]) -> Result<Vec<Source>, Denied> {
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
    pub(super) fn resolve_target(
        &self,
        target: &ObjectName,
        sources: &[Source],
    ) -> Result<String, Denied> {
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

    pub(super) fn insert(&mut self, insert: &Insert) -> Walked {
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

    pub(super) fn returning(&mut self, returning: &Option<Vec<SelectItem>>) -> Walked {
        for item in returning.iter().flatten() {
            self.select_item(item)?;
        }
        Ok(())
    }

    pub(super) fn assignments(&mut self, assignments: &[Assignment]) -> Walked {
        for assignment in assignments {
            self.expr(&assignment.value)?;
        }
        Ok(())
    }

    pub(super) fn update(&mut self, update: &Update) -> Walked {
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

    pub(super) fn delete(&mut self, delete: &Delete) -> Walked {
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
}
