//! `runner.toml`, `DATABASE_URL` and command-line flags merged into one validated [`Config`].
//! Flags win over the environment, which wins over the file. Paths in the file are taken
//! relative to the file's folder, so a project works from any working directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::db::DatabaseUrl;
use crate::db::url::UrlError;
use crate::revision::{SourceError, SourceLoc};
use crate::units::{parse_duration, parse_size};

/// The default config file name.
pub const CONFIG_FILE: &str = "runner.toml";

/// Limits given to every transform step unless the step sets its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    pub timeout: Duration,
    pub memory_bytes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5 * 60),
            memory_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Everything a command needs to know about the project.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    pub database_url: Option<DatabaseUrl>,
    /// The migrations folder (`versions/`, `transforms/`, `transforms.lock` inside).
    pub migrations_dir: PathBuf,
    /// The desired schema, for autogenerate and `check`.
    pub schema_file: PathBuf,
    /// The cargo workspace of transform crates (default `<migrations>/transforms`).
    pub transforms_dir: PathBuf,
    /// The fixtures folder `loaddata` and `dumpdata` use when given none (default `data`).
    pub fixtures_dir: PathBuf,
    pub sandbox: SandboxLimits,
    /// How long a statement waits for a table lock before it gives up and is tried again
    /// (`ddl_lock_timeout`, default 10 s; `--ddl-lock-timeout` wins).
    pub ddl_lock_timeout: Duration,
}

/// The default of [`Config::ddl_lock_timeout`].
pub const DEFAULT_DDL_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the command line says, before the file and environment are consulted.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config`; when given, the file must exist.
    pub config: Option<PathBuf>,
    /// `--database-url`, or `DATABASE_URL`.
    pub database_url: Option<String>,
    /// `--dir`: the migrations folder.
    pub dir: Option<PathBuf>,
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Parse(#[from] SourceError),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(
        "no database URL: pass --database-url, set DATABASE_URL, or set database_url in runner.toml"
    )]
    NoDatabaseUrl,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database_url: Option<String>,
    migrations: Option<PathBuf>,
    schema: Option<PathBuf>,
    transforms: Option<PathBuf>,
    fixtures: Option<PathBuf>,
    ddl_lock_timeout: Option<Spanned<String>>,
    sandbox: Option<RawSandbox>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    timeout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
}

impl Config {
    /// Reads the config file (if any) and merges the overrides into it.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let path = overrides
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(CONFIG_FILE));
        let (raw, file, text) = match std::fs::read_to_string(&path) {
            Ok(text) => (parse_toml(&path, &text)?, Some(path.clone()), text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && overrides.config.is_none() => {
                (RawConfig::default(), None, String::new())
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let base = file
            .as_ref()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let in_file = |relative: Option<PathBuf>, default: &str| {
            base.join(relative.unwrap_or_else(|| PathBuf::from(default)))
        };
        let database_url = match (&overrides.database_url, &raw.database_url) {
            (Some(url), _) => Some(url.parse::<DatabaseUrl>()?),
            (None, Some(url)) => Some(url.parse::<DatabaseUrl>()?.relative_to(&base)),
            (None, None) => None,
        };
        let mut sandbox = SandboxLimits::default();
        if let Some(raw_sandbox) = raw.sandbox {
            let bad = |value: &Spanned<String>, message: String| {
                value_error(file.as_deref(), &text, value, message)
            };
            if let Some(timeout) = raw_sandbox.timeout {
                sandbox.timeout =
                    parse_duration(timeout.get_ref()).map_err(|e| bad(&timeout, e))?;
            }
            if let Some(memory) = raw_sandbox.memory {
                sandbox.memory_bytes = parse_size(memory.get_ref()).map_err(|e| bad(&memory, e))?;
            }
        }
        let ddl_lock_timeout = match &raw.ddl_lock_timeout {
            Some(value) => parse_duration(value.get_ref())
                .map_err(|e| value_error(file.as_deref(), &text, value, e))?,
            None => DEFAULT_DDL_LOCK_TIMEOUT,
        };
        let migrations_dir = overrides
            .dir
            .clone()
            .unwrap_or_else(|| in_file(raw.migrations, "migrations"));
        Ok(Config {
            transforms_dir: match raw.transforms {
                Some(dir) => base.join(dir),
                None => migrations_dir.join("transforms"),
            },
            migrations_dir,
            schema_file: in_file(raw.schema, "schema.yaml"),
            fixtures_dir: in_file(raw.fixtures, "data"),
            database_url,
            sandbox,
            ddl_lock_timeout,
            file,
        })
    }

    /// The database URL, required by commands that connect.
    pub fn database_url(&self) -> Result<&DatabaseUrl, ConfigError> {
        self.database_url.as_ref().ok_or(ConfigError::NoDatabaseUrl)
    }

    /// The folder of revision files.
    pub fn versions_dir(&self) -> PathBuf {
        self.migrations_dir.join("versions")
    }

    /// The lock file recording each built transform module's sha256.
    pub fn transforms_lock(&self) -> PathBuf {
        self.migrations_dir.join("transforms.lock")
    }
}

/// An error about a value in the file, at the value's own line and column.
fn value_error(
    file: Option<&Path>,
    text: &str,
    value: &Spanned<String>,
    message: String,
) -> ConfigError {
    let path = std::sync::Arc::new(file.map(Path::to_path_buf).unwrap_or_default());
    let (line, column) = line_col(text, value.span().start);
    ConfigError::Parse(SourceError::at(
        SourceLoc::new(&path, line, column),
        message,
        Some(text),
    ))
}

fn parse_toml(path: &Path, text: &str) -> Result<RawConfig, SourceError> {
    toml::from_str(text).map_err(|e| {
        let shared = std::sync::Arc::new(path.to_path_buf());
        let (line, column) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        SourceError::at(
            SourceLoc::new(&shared, line, column),
            e.message().to_string(),
            Some(text),
        )
    })
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line as u64, column as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_are_relative_to_the_file_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runner.toml");
        std::fs::write(
            &path,
            "database_url = \"sqlite://app.db\"\nmigrations = \"db\"\n[sandbox]\ntimeout = \"60s\"\n",
        )
        .unwrap();
        let config = Config::load(&Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(config.migrations_dir, dir.path().join("db"));
        assert_eq!(
            config.database_url().unwrap().sqlite_path(),
            Some(dir.path().join("app.db"))
        );
        assert_eq!(config.sandbox.timeout, Duration::from_secs(60));
        let config = Config::load(&Overrides {
            config: Some(path),
            database_url: Some("postgres://u:pw@h/db".into()),
            dir: Some(PathBuf::from("elsewhere")),
        })
        .unwrap();
        assert_eq!(
            config.database_url().unwrap().to_string(),
            "postgres://u:***@h/db"
        );
        assert_eq!(config.migrations_dir, PathBuf::from("elsewhere"));
    }

    /// The error loading `path` gives once it holds `text`.
    fn load_error(path: &std::path::Path, text: &str) -> String {
        std::fs::write(path, text).unwrap();
        Config::load(&Overrides {
            config: Some(path.to_path_buf()),
            ..Overrides::default()
        })
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn bad_files_are_reported_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runner.toml");
        let err = load_error(
            &path,
            "database_url = \"sqlite://a.db\"\nmigratons = \"x\"\n",
        );
        assert!(
            err.contains("runner.toml:2:1: unknown field `migratons`"),
            "{err}"
        );
        // The table-lock wait: read, defaulted, and refused with its place when it is no duration.
        std::fs::write(&path, "ddl_lock_timeout = \"2s\"\n").unwrap();
        let config = Config::load(&Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(config.ddl_lock_timeout, Duration::from_secs(2));
        let err = load_error(&path, "\nddl_lock_timeout = \"a while\"\n");
        assert!(
            err.contains("runner.toml:2:20: 'a while' is not a duration"),
            "{err}"
        );
        // The value's own place, even when another key starts with the same word.
        let err = load_error(
            &path,
            "# timeout is set below\n[sandbox]\nmemory = \"1GiB\"\n  timeout = \"soon\"\n",
        );
        assert!(
            err.contains("runner.toml:4:13: 'soon' is not a duration"),
            "{err}"
        );
        let err = load_error(&path, "[sandbox]\nmemory = \"lots\"\n");
        assert!(
            err.contains("runner.toml:2:10: 'lots' is not a size"),
            "{err}"
        );
        let err = load_error(&path, "[sandbox]\ntimeout = \"99999999999999999999h\"\n");
        assert!(
            err.contains("runner.toml:2:11: '99999999999999999999h' is not a duration"),
            "{err}"
        );
        let err = Config::load(&Overrides {
            config: Some(dir.path().join("missing.toml")),
            ..Overrides::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
