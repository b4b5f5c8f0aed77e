//! Expressions, function calls, casts, literals and placeholders: each kind a transform may use
//! named with the parts that are checked; functions by the dialect's allow-list.

use sqlparser::ast::{
    AccessExpr, BinaryOperator, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArguments, Ident, ObjectNamePart, Subscript, Value,
    ValueWithSpan, WindowFrameBound, WindowSpec, WindowType,
};

use super::{Placeholder, Walk, Walked, absent, deny, function_name};
use crate::dialect_kind::Dialect;
use crate::sandbox::guard::{fold, functions};

impl Walk<'_> {
    pub(super) fn window_spec(&mut self, spec: &WindowSpec) -> Walked {
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

    pub(super) fn function(&mut self, function: &Function) -> Walked {
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

    pub(super) fn function_arg(&mut self, arg: &FunctionArg) -> Walked {
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
    pub(super) fn data_type(&mut self, data_type: &DataType) -> Walked {
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

    pub(super) fn value(&mut self, value: &ValueWithSpan) -> Walked {
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

    pub(super) fn placeholder(&mut self, text: &str, at: (u64, u64)) -> Walked {
        let number = if text == "?" && self.dialect != Dialect::Postgres {
            None
        } else if let Some(digits) = text.strip_prefix('$').or_else(|| {
            text.strip_prefix('?')
                .filter(|_| self.dialect != Dialect::Postgres)
        }) {
            match digits.parse::<usize>() {
                Ok(0) => return deny("placeholders count from $1"),
                Ok(n) if n <= crate::sandbox::guard::MAX_PARAMETERS => Some(n),
                Ok(_) => {
                    return deny(format!(
                        "a statement takes at most {} parameters",
                        crate::sandbox::guard::MAX_PARAMETERS
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
    pub(super) fn identifier(&mut self, ident: &Ident) -> Walked {
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

    pub(super) fn exprs<'e>(&mut self, exprs: impl IntoIterator<Item = &'e Expr>) -> Walked {
        for expr in exprs {
            self.expr(expr)?;
        }
        Ok(())
    }

    pub(super) fn expr(&mut self, expr: &Expr) -> Walked {
        self.nested(|walk| walk.expr_inner(expr))
    }

    pub(super) fn expr_inner(&mut self, expr: &Expr) -> Walked {
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
    pub(super) fn binary_chain(&mut self, left: &Expr, right: &Expr) -> Walked {
        self.expr(left)?;
        self.expr(right)
    }
}
