//! Column references inside SQL snippets the model keeps as text (check constraints, partial
//! index predicates, `using` expressions), so that renaming or dropping a column can follow them.
//! Works on tokens rather than a parse tree: it keeps the user's formatting and copes with
//! dialect-specific syntax the parser would reject.

use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

fn tokens(expr: &str) -> Option<Vec<Token>> {
    Tokenizer::new(&GenericDialect {}, expr).tokenize().ok()
}

fn is_column_word(token: &Token, column: &str) -> bool {
    match token {
        Token::Word(word) => match word.quote_style {
            None => word.value.eq_ignore_ascii_case(column),
            Some(_) => word.value == column,
        },
        _ => false,
    }
}

/// Index of the next token that is not white space.
fn next_significant(tokens: &[Token], from: usize) -> Option<&Token> {
    tokens[from..]
        .iter()
        .find(|t| !matches!(t, Token::Whitespace(_)))
}

/// True if `expr` refers to `column` (as a bare or qualified name, not a function name).
/// Falls back to a whole-word text search when the snippet cannot be tokenized.
pub fn mentions_column(expr: &str, column: &str) -> bool {
    let Some(tokens) = tokens(expr) else {
        return expr
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|word| word.eq_ignore_ascii_case(column));
    };
    tokens.iter().enumerate().any(|(i, token)| {
        is_column_word(token, column)
            && !matches!(next_significant(&tokens, i + 1), Some(Token::LParen))
    })
}

/// `expr` with every reference to column `from` renamed to `to`, formatting kept.
pub fn rename_column(expr: &str, from: &str, to: &str) -> String {
    let Some(tokens) = tokens(expr) else {
        return expr.to_string();
    };
    let mut out = String::with_capacity(expr.len());
    for (i, token) in tokens.iter().enumerate() {
        let is_call = matches!(next_significant(&tokens, i + 1), Some(Token::LParen));
        match token {
            Token::Word(word) if is_column_word(token, from) && !is_call => {
                let mut renamed = word.clone();
                renamed.value = to.to_string();
                out.push_str(&Token::Word(renamed).to_string());
            }
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_columns_but_not_functions_or_strings() {
        assert!(mentions_column("amount > 0", "amount"));
        assert!(mentions_column("\"amount\" > 0", "amount"));
        assert!(mentions_column("deals.amount > 0", "amount"));
        assert!(!mentions_column("lower(email) = 'amount'", "amount"));
        assert!(!mentions_column("amount_cents > 0", "amount"));
        assert!(!mentions_column("count(*) > 0", "count"));
    }

    #[test]
    fn renames_references_and_keeps_the_rest() {
        assert_eq!(
            rename_column("amount > 0 AND amount < 10", "amount", "total"),
            "total > 0 AND total < 10"
        );
        assert_eq!(
            rename_column("\"amount\" <> 'amount'", "amount", "total"),
            "\"total\" <> 'amount'"
        );
        assert_eq!(
            rename_column("amount(1) + amount", "amount", "total"),
            "amount(1) + total"
        );
    }
}
