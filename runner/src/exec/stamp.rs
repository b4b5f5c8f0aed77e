//! `stamp` and `repair`: changing what the version tables record without running any step.

use chrono::Utc;

use super::{ExecError, Migrator};
use crate::db::lock;
use crate::revision::target::{self, Target};
use crate::version_table::{self, Direction, NewEntry, Status};

impl Migrator<'_> {
    /// Sets the version table to `target` without running anything (as Alembic's stamp).
    pub async fn stamp(&mut self, target: &Target) -> Result<Vec<String>, ExecError> {
        lock::acquire(self.db, self.options.lock_timeout).await?;
        let result = self.stamp_locked(target).await;
        let released = lock::release(self.db).await;
        let heads = result?;
        released?;
        Ok(heads)
    }

    async fn stamp_locked(&mut self, target: &Target) -> Result<Vec<String>, ExecError> {
        self.prepare_tables().await?;
        // The version table is read inside the transaction: on SQLite, `BEGIN IMMEDIATE` is
        // what keeps another runner out while it is read and rewritten.
        self.atomically(async |this: &mut Self| this.stamp_in_transaction(target).await)
            .await
    }

    async fn stamp_in_transaction(&mut self, target: &Target) -> Result<Vec<String>, ExecError> {
        let (heads, applied) = self.applied().await?;
        let repo = self.repo;
        let graph = &repo.graph;
        let wanted = graph.ancestors(&target::resolve(target, graph, &applied)?)?;
        let new_heads = graph.heads_of(&wanted)?;
        let now = Utc::now();
        version_table::set_heads(self.db, &heads, &new_heads).await?;
        for id in graph.sorted(&wanted)? {
            if applied.contains(&id) {
                continue;
            }
            let revision = repo.revision(&id)?;
            let checksum = self.checksum(revision);
            let entry = NewEntry {
                checksum: Some(&checksum),
                steps_total: revision.upgrade.len(),
                ..NewEntry::new(&id, "stamp", Status::Stamped, now)
            };
            version_table::insert(self.db, &entry).await?;
        }
        for id in graph.sorted(&applied.difference(&wanted).cloned().collect())? {
            let entry = NewEntry::new(&id, "stamp", Status::Reverted, now);
            version_table::insert(self.db, &entry).await?;
        }
        Ok(new_heads)
    }

    /// Runs `work` in a transaction, committed if it succeeds and rolled back if not.
    async fn atomically<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut Self) -> Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        self.db.begin().await?;
        let outcome = match work(self).await {
            Ok(value) => match self.db.commit().await {
                Ok(()) => return Ok(value),
                Err(e) => e.into(),
            },
            Err(e) => e,
        };
        if let Err(e) = self.db.rollback().await {
            tracing::warn!("rollback failed after an error: {e}");
        }
        Err(outcome)
    }

    /// Re-records the checksums of applied revisions whose files changed, and clears the
    /// failures a step-by-step run left behind (as Flyway's repair), so that the next run
    /// starts the revision over: returns what it did. A half-applied run whose steps the live
    /// schema shows are still in is refused unless `force`: starting it over would fail on
    /// them (`upgrade --resume` is the way to finish it).
    pub async fn repair(&mut self, force: bool) -> Result<Vec<String>, ExecError> {
        lock::acquire(self.db, self.options.lock_timeout).await?;
        let result = self.repair_locked(force).await;
        let released = lock::release(self.db).await;
        let done = result?;
        released?;
        Ok(done)
    }

    async fn repair_locked(&mut self, force: bool) -> Result<Vec<String>, ExecError> {
        self.prepare_tables().await?;
        self.atomically(async |this: &mut Self| this.repair_in_transaction(force).await)
            .await
    }

    async fn repair_in_transaction(&mut self, force: bool) -> Result<Vec<String>, ExecError> {
        let (_, applied) = self.applied().await?;
        let history = version_table::history(self.db, None).await?;
        let recorded = version_table::recorded_checksums(&history);
        let half_done = version_table::half_done(&history);
        let now = Utc::now();
        let mut done = Vec::new();
        for revision in self.repo.ordered() {
            let checksum = self.checksum(revision);
            let changed = applied.contains(&revision.id)
                && recorded
                    .get(&revision.id)
                    .is_some_and(|c| !self.checksum_matches(c, revision));
            let failed = half_done.iter().find(|e| e.revision == revision.id);
            if !changed && failed.is_none() {
                continue;
            }
            if let Some(entry) = failed.filter(|_| !force) {
                let direction = if entry.direction == Direction::Down.as_str() {
                    Direction::Down
                } else {
                    Direction::Up
                };
                let steps_in = usize::try_from(entry.steps_applied).unwrap_or(0);
                if let Some(evidence) = self.steps_still_in(revision, direction, steps_in).await? {
                    return Err(ExecError::RepairOverSteps {
                        revision: revision.id.clone(),
                        steps_in,
                        evidence,
                        verb: match direction {
                            Direction::Up => "upgrade",
                            Direction::Down => "downgrade",
                        },
                    });
                }
            }
            let note = match failed {
                Some(entry) => format!(
                    "cleared the failure of {} (stopped after step {} of {})",
                    revision.id, entry.steps_applied, entry.steps_total
                ),
                None => format!("re-recorded the checksum of {}", revision.id),
            };
            let entry = NewEntry {
                checksum: applied.contains(&revision.id).then_some(checksum.as_str()),
                steps_total: revision.upgrade.len(),
                error: Some(&note),
                ..NewEntry::new(&revision.id, "repair", Status::Repaired, now)
            };
            version_table::insert(self.db, &entry).await?;
            done.push(note);
        }
        Ok(done)
    }
}
