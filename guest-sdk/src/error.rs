//! The one error type of transforms, so that `?` works on every call.

use std::fmt;

use crate::bindings::runner::transform::db::DbError;

/// What went wrong in a transform. Its text is what runner shows when the revision fails.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The database refused a statement.
    Sql(String),
    /// The sandbox refused a statement before it reached the database.
    Denied(String),
    /// A sandbox limit was reached.
    Limit(String),
    /// A column was read as a type it does not hold, or does not exist.
    Column { column: String, problem: String },
    /// Anything else, from [`Error::msg`] or [`bail!`](crate::bail).
    Message(String),
}

/// `Result` with the SDK's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::Message(message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sql(m) => write!(f, "the database refused a statement: {m}"),
            Error::Denied(m) => write!(f, "the sandbox refused a statement: {m}"),
            Error::Limit(m) => write!(f, "a sandbox limit was reached: {m}"),
            Error::Column { column, problem } => write!(f, "column '{column}': {problem}"),
            Error::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<DbError> for Error {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Sql(m) => Error::Sql(m),
            DbError::Denied(m) => Error::Denied(m),
            DbError::Limit(m) => Error::Limit(m),
        }
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Message(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Message(message.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Message(error.to_string())
    }
}

impl From<std::fmt::Error> for Error {
    fn from(error: std::fmt::Error) -> Self {
        Error::Message(error.to_string())
    }
}
