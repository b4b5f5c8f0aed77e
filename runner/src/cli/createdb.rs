//! `runner createdb` and `runner dropdb --yes`: create or drop the database the URL names
//! (PostgreSQL, MySQL); for SQLite, the file.

use anyhow::Context as _;

use super::{Context, UsageError};
use crate::db::{ConnectOptions, DatabaseUrl, Db, DbError};
use crate::dialect::renderer;
use crate::dialect_kind::Dialect;

/// Create the database named in the URL (SQLite: the file)
#[derive(Debug, clap::Args)]
pub struct CreateArgs {}

/// Drop the database named in the URL (SQLite: delete the file)
#[derive(Debug, clap::Args)]
pub struct DropArgs {
    /// Really drop it
    #[arg(long)]
    yes: bool,
}

/// The server's maintenance database, and the name of the one to create or drop.
fn admin(url: &DatabaseUrl) -> anyhow::Result<(DatabaseUrl, String)> {
    let name = url
        .database_name()
        .ok_or_else(|| UsageError(format!("{url} names no database")))?;
    let admin = match url.dialect() {
        Dialect::Postgres => url.with_database(Some("postgres"))?,
        _ => url.with_database(None)?,
    };
    Ok((admin, name))
}

fn quoted(dialect: Dialect, name: &str) -> String {
    renderer(dialect).quote(name)
}

fn report(cx: &Context, action: &str, url: &DatabaseUrl, changed: bool) -> anyhow::Result<i32> {
    cx.report(
        &serde_json::json!({ "database": url.to_string(), "action": action, "changed": changed }),
        || {
            let already = if changed { "" } else { "already " };
            println!("{already}{action}: {url}");
        },
    )?;
    Ok(0)
}

/// Creates the database; one that exists already is left as it is.
pub async fn create(cx: &Context, _args: &CreateArgs) -> anyhow::Result<i32> {
    let url = cx.config.database_url()?;
    if url.dialect() == Dialect::Sqlite {
        let existed = url.sqlite_path().is_none_or(|p| p.exists());
        let db = Db::connect(url, &ConnectOptions::default()).await?;
        db.close().await?;
        return report(cx, "created", url, !existed);
    }
    let (admin, name) = admin(url)?;
    let mut db = Db::connect(&admin, &ConnectOptions::default()).await?;
    let sql = match url.dialect() {
        Dialect::Postgres => format!("CREATE DATABASE {}", quoted(Dialect::Postgres, &name)),
        _ => format!(
            "CREATE DATABASE {} CHARACTER SET utf8mb4",
            quoted(Dialect::Mysql, &name)
        ),
    };
    let created = match db.execute_script(&sql).await {
        Ok(_) => true,
        Err(DbError::Sql {
            source: sqlx::Error::Database(e),
        }) if matches!(
            e.code().as_deref(),
            Some("42P04") | Some("HY000") | Some("1007")
        ) && e.message().contains("exists") =>
        {
            false
        }
        Err(e) => return Err(e).with_context(|| format!("creating {url}")),
    };
    db.close().await?;
    report(cx, "created", url, created)
}

/// Drops the database; refuses without `--yes`.
pub async fn drop(cx: &Context, args: &DropArgs) -> anyhow::Result<i32> {
    let url = cx.config.database_url()?;
    if !args.yes {
        return Err(UsageError(format!(
            "dropdb destroys {url} and all its data; pass --yes to do it"
        ))
        .into());
    }
    if url.dialect() == Dialect::Sqlite {
        let Some(path) = url.sqlite_path() else {
            return report(cx, "dropped", url, false);
        };
        let existed = path.exists();
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::remove_file(&file)
                    .with_context(|| format!("deleting {}", file.display()))?;
            }
        }
        return report(cx, "dropped", url, existed);
    }
    let (admin, name) = admin(url)?;
    let mut db = Db::connect(&admin, &ConnectOptions::default()).await?;
    let sql = format!("DROP DATABASE IF EXISTS {}", quoted(url.dialect(), &name));
    db.execute_script(&sql)
        .await
        .with_context(|| format!("dropping {url}"))?;
    db.close().await?;
    report(cx, "dropped", url, true)
}
