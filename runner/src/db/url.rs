//! Database URLs: which database a URL names, and its printable form with the password masked.
//! The secret form is only handed to the driver; everything users see goes through `Display`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::dialect_kind::Dialect;

/// A parsed database URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    secret: String,
    dialect: Dialect,
    masked: String,
}

/// Why a URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error(
        "'{0}' is not a database URL: use sqlite://FILE, sqlite::memory:, postgres://... or mysql://..."
    )]
    Scheme(String),
    #[error("database URL '{url}' is malformed: {reason}")]
    Malformed { url: String, reason: String },
}

impl DatabaseUrl {
    /// The database kind.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The URL with its password, for the driver only.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The password, if the URL has one (to scrub it from any text that might echo it).
    pub fn password(&self) -> Option<String> {
        let parsed = url::Url::parse(&self.secret).ok()?;
        let from_query = parsed
            .query_pairs()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.into_owned());
        parsed
            .password()
            .map(percent_decode)
            .or(from_query)
            .filter(|p| !p.is_empty())
    }

    /// True for `sqlite::memory:`.
    pub fn is_memory(&self) -> bool {
        self.dialect == Dialect::Sqlite && self.secret.contains(":memory:")
    }

    /// The SQLite file, if this URL names one.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.dialect != Dialect::Sqlite || self.is_memory() {
            return None;
        }
        let rest = self.secret.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or(rest);
        Some(PathBuf::from(path))
    }

    /// The database name in a PostgreSQL or MySQL URL.
    pub fn database_name(&self) -> Option<String> {
        if self.dialect == Dialect::Sqlite {
            return None;
        }
        let parsed = url::Url::parse(&self.secret).ok()?;
        let name = parsed.path().trim_start_matches('/');
        (!name.is_empty()).then(|| percent_decode(name))
    }

    /// The same server with another database name (`None`: no database, for MySQL admin work).
    pub fn with_database(&self, name: Option<&str>) -> Result<DatabaseUrl, UrlError> {
        let mut parsed = url::Url::parse(&self.secret).map_err(|e| UrlError::Malformed {
            url: self.masked.clone(),
            reason: e.to_string(),
        })?;
        parsed.set_path(name.map(|n| format!("/{n}")).as_deref().unwrap_or(""));
        parsed.as_str().parse()
    }

    /// A SQLite URL whose relative file is taken relative to `base` (the config file's folder).
    pub fn relative_to(&self, base: &Path) -> DatabaseUrl {
        match self.sqlite_path() {
            Some(path) if path.is_relative() && !base.as_os_str().is_empty() => {
                let joined = base.join(path);
                format!("sqlite://{}", joined.display())
                    .parse()
                    .unwrap_or_else(|_| self.clone())
            }
            _ => self.clone(),
        }
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
}

/// The URL with the password (in the authority or a `password=` parameter) replaced by `***`.
fn mask(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return mask_text(url);
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("password") {
                "***".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// [`mask`] for text that does not parse as a URL (a bad port, an unknown scheme): the password
/// is found by position alone. The authority runs from `://` to the first `/`, `?` or `#`; its
/// user part ends at the last `@`, and the password follows the user name's first `:`.
fn mask_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    if let Some(start) = text.find("://") {
        let authority_start = start + 3;
        out.push_str(&text[..authority_start]);
        let after = &text[authority_start..];
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                let user_info = &authority[..at];
                match user_info.find(':') {
                    Some(colon) => {
                        out.push_str(&user_info[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(user_info),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    match rest.find('?') {
        Some(q) => {
            out.push_str(&rest[..=q]);
            let (query, fragment) = match rest[q + 1..].find('#') {
                Some(h) => rest[q + 1..].split_at(h),
                None => (&rest[q + 1..], ""),
            };
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
            out.push_str(fragment);
        }
        None => out.push_str(rest),
    }
    out
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let scheme = text
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (dialect, secret) = match scheme.as_str() {
            "sqlite" => (Dialect::Sqlite, text.to_string()),
            "postgres" | "postgresql" => (Dialect::Postgres, text.to_string()),
            "mysql" => (Dialect::Mysql, text.to_string()),
            // sqlx speaks to MariaDB through its MySQL driver.
            "mariadb" => (Dialect::Mysql, format!("mysql{}", &text["mariadb".len()..])),
            _ => return Err(UrlError::Scheme(mask(text))),
        };
        if dialect != Dialect::Sqlite {
            url::Url::parse(&secret).map_err(|e| UrlError::Malformed {
                url: mask(text),
                reason: e.to_string(),
            })?;
        }
        Ok(Self {
            masked: mask(&secret),
            secret,
            dialect,
        })
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.masked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_everywhere_they_can_be() {
        let url: DatabaseUrl = "postgres://app:s3cr%40t@db:5432/crm?sslmode=disable"
            .parse()
            .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://app:***@db:5432/crm?sslmode=disable"
        );
        assert_eq!(
            format!("{url:?}"),
            "DatabaseUrl(postgres://app:***@db:5432/crm?sslmode=disable)"
        );
        assert_eq!(url.password().as_deref(), Some("s3cr@t"));
        assert_eq!(url.database_name().as_deref(), Some("crm"));
        let url: DatabaseUrl = "postgres://db/crm?user=app&password=hunter2"
            .parse()
            .unwrap();
        assert!(!url.to_string().contains("hunter2"), "{url}");
        assert_eq!(url.password().as_deref(), Some("hunter2"));
        let url: DatabaseUrl = "mariadb://root:pw@127.0.0.1:3306/crm".parse().unwrap();
        assert_eq!(url.dialect(), Dialect::Mysql);
        assert_eq!(url.secret(), "mysql://root:pw@127.0.0.1:3306/crm");
        assert_eq!(url.to_string(), "mysql://root:***@127.0.0.1:3306/crm");
        let err = "oracle://u:topsecret@h/db"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("topsecret"), "{err}");
    }

    #[test]
    fn masks_passwords_in_urls_that_do_not_parse() {
        let err = "postgres://app:hunter2@db:notaport/crm"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "database URL 'postgres://app:***@db:notaport/crm' is malformed: invalid port number"
        );
        let err = "postgress://u:pw@h:bad/db"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("'postgress://u:***@h:bad/db' is not a database URL"),
            "{err}"
        );
        // A password holding `@` and `:` is cut at the last `@` and the first `:`.
        let err = "mysql://root:p@ss:w@rd@h:99999/db?password=again&x=1#top"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("ss:w") && !err.contains("again"), "{err}");
        assert!(
            err.contains("'mysql://root:***@h:99999/db?password=***&x=1#top'"),
            "{err}"
        );
        let err = "postgres://db:bad/crm?user=app&Password=hunter2"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'postgres://db:bad/crm?user=app&Password=***'"),
            "{err}"
        );
        assert_eq!(mask_text("nothing secret"), "nothing secret");
        assert_eq!(mask_text("x://user@host/db"), "x://user@host/db");
    }

    #[test]
    fn knows_sqlite_files_and_memory() {
        let url: DatabaseUrl = "sqlite://app.db".parse().unwrap();
        assert_eq!(url.sqlite_path(), Some(PathBuf::from("app.db")));
        assert_eq!(
            url.relative_to(Path::new("/srv/app")).sqlite_path(),
            Some(PathBuf::from("/srv/app/app.db"))
        );
        let url: DatabaseUrl = "sqlite::memory:".parse().unwrap();
        assert!(url.is_memory());
        assert_eq!(url.sqlite_path(), None);
        let url: DatabaseUrl = "postgres://u:p@h/old".parse().unwrap();
        assert_eq!(
            url.with_database(Some("postgres")).unwrap().to_string(),
            "postgres://u:***@h/postgres"
        );
    }
}
