//! Transactions on a [`Db`], driven by SQL: plain ones, and the held transaction a dry run on
//! PostgreSQL nests every revision's transaction in as savepoints.

use super::{Db, DbError};
use crate::dialect_kind::Dialect;

impl Db {
    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), which
    /// is also how one runner at a time is ensured there. Inside a held transaction (see
    /// [`Db::hold_transaction`]) it opens a savepoint instead.
    pub async fn begin(&mut self) -> Result<(), DbError> {
        if let Some(depth) = self.held {
            let depth = depth + 1;
            self.execute_simple(&format!("SAVEPOINT {}", savepoint(depth)))
                .await?;
            self.held = Some(depth);
            return Ok(());
        }
        let sql = match self.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
            Dialect::Mysql => "START TRANSACTION",
        };
        self.execute_simple(sql).await.map(drop)
    }

    /// Commits the open transaction (releases the savepoint, inside a held transaction). The
    /// statement cache stays: every script that changed the schema in the transaction cleared
    /// it already.
    pub async fn commit(&mut self) -> Result<(), DbError> {
        if let Some(depth) = self.held.filter(|depth| *depth > 0) {
            self.execute_simple(&format!("RELEASE SAVEPOINT {}", savepoint(depth)))
                .await?;
            self.held = Some(depth - 1);
            return Ok(());
        }
        if self.held.is_some() {
            return Err(DbError::HeldTransaction("COMMIT"));
        }
        self.execute_simple("COMMIT").await.map(drop)
    }

    /// Rolls back the open transaction (to the savepoint, inside a held transaction). On
    /// PostgreSQL and MySQL the statement cache is cleared too: the rollback may undo DDL under
    /// statements prepared since it ran.
    pub async fn rollback(&mut self) -> Result<(), DbError> {
        // An abandoned connection's transaction is rolled back by the server as the session
        // ends: nothing is left to do here.
        if self.is_abandoned() {
            return Ok(());
        }
        if let Some(depth) = self.held.filter(|depth| *depth > 0) {
            let name = savepoint(depth);
            self.held = Some(depth - 1);
            return self
                .execute_script(&format!(
                    "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
                ))
                .await
                .map(drop);
        }
        if self.held.is_some() {
            return Err(DbError::HeldTransaction("ROLLBACK"));
        }
        self.execute_script("ROLLBACK").await.map(drop)
    }

    /// Opens a transaction that every later [`Db::begin`], [`Db::commit`] and
    /// [`Db::rollback`] nest in as savepoints, until [`Db::end_held_transaction`] rolls it all
    /// back: a dry run on PostgreSQL, where DDL is transactional, runs the migration for real
    /// this way and keeps none of it.
    pub async fn hold_transaction(&mut self) -> Result<(), DbError> {
        if self.held.is_some() {
            return Err(DbError::HeldTransaction("BEGIN"));
        }
        self.begin().await?;
        self.held = Some(0);
        Ok(())
    }

    /// Rolls back the transaction [`Db::hold_transaction`] opened, savepoints and all.
    pub async fn end_held_transaction(&mut self) -> Result<(), DbError> {
        if self.held.take().is_none() || self.is_abandoned() {
            return Ok(());
        }
        self.execute_script("ROLLBACK").await.map(drop)
    }

    /// True while a transaction opened by [`Db::hold_transaction`] is open.
    pub fn holds_transaction(&self) -> bool {
        self.held.is_some()
    }
}

/// The name of the savepoint at `depth` inside a held transaction.
fn savepoint(depth: u32) -> String {
    format!("runner_held_{depth}")
}
