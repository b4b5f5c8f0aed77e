//! Where things are in input files, and errors that point there (`file:line:col` with the
//! line underneath and a caret), the way compilers report them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in an input file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceLoc {
    pub path: Arc<PathBuf>,
    pub line: u64,
    pub column: u64,
}

impl SourceLoc {
    /// A position in `path`.
    pub fn new(path: &Arc<PathBuf>, line: u64, column: u64) -> Self {
        Self {
            path: Arc::clone(path),
            line,
            column,
        }
    }

    /// The start of a file, for problems with the file as a whole.
    pub fn file(path: &Arc<PathBuf>) -> Self {
        Self::new(path, 1, 1)
    }
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// A problem at a place in an input file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SourceError {
    pub loc: SourceLoc,
    pub message: String,
    /// The offending line with a caret under the column, when the text is at hand.
    pub snippet: Option<String>,
}

impl SourceError {
    /// An error at `loc`, with a snippet cut from `source` (the file's text).
    pub fn at(loc: SourceLoc, message: impl Into<String>, source: Option<&str>) -> Self {
        let snippet = source.and_then(|text| snippet(text, loc.line, loc.column));
        Self {
            loc,
            message: message.into(),
            snippet,
        }
    }

    /// An error about a file as a whole.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Self {
            loc: SourceLoc::file(&Arc::new(path.to_path_buf())),
            message: message.into(),
            snippet: None,
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc, self.message)?;
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

/// The line `line` of `text` with a caret under `column`, and the line before for context.
pub fn snippet(text: &str, line: u64, column: u64) -> Option<String> {
    let index = usize::try_from(line).ok()?.checked_sub(1)?;
    let lines: Vec<&str> = text.lines().collect();
    let target = lines.get(index)?;
    let width = line.to_string().len();
    let mut out = format!("{:width$} |\n", "");
    if index > 0 {
        out.push_str(&format!("{:>width$} | {}\n", line - 1, lines[index - 1]));
    }
    out.push_str(&format!("{line:>width$} | {target}\n"));
    let pad: String = target
        .chars()
        .take(usize::try_from(column.saturating_sub(1)).unwrap_or(0))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    out.push_str(&format!("{:width$} | {pad}^", ""));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_the_column_under_the_line() {
        let text = "revision: a\nparents: []\nupgrade:\n  - nope: {}\n";
        let path = Arc::new(PathBuf::from("versions/a_x.yaml"));
        let err = SourceError::at(SourceLoc::new(&path, 4, 5), "unknown operation", Some(text));
        assert_eq!(
            err.to_string(),
            "versions/a_x.yaml:4:5: unknown operation\n  |\n3 | upgrade:\n4 |   - nope: {}\n  |     ^"
        );
    }
}
