//! The transform modules a command loads: every module a revision names must exist (else an
//! error at the step, with "did you mean"), and `upgrade`/`downgrade` must not rebuild a module
//! an applied revision ran since it was edited.

use super::{Context, Format};
use crate::revision::Repository;
use crate::transforms::{BuildPolicy, Modules, Project, TransformsError};

impl Context {
    /// The transform modules `repo`'s revisions run, verified against `transforms.lock`, and
    /// built first where missing or stale if `policy` allows. A step naming a module that
    /// exists nowhere is an error at its place.
    pub async fn modules(&self, repo: &Repository, policy: BuildPolicy) -> anyhow::Result<Modules> {
        self.modules_for(repo, policy, ModuleUse::Run).await
    }

    /// [`Self::modules`], for `use`.
    pub async fn modules_for(
        &self,
        repo: &Repository,
        policy: BuildPolicy,
        usage: ModuleUse,
    ) -> anyhow::Result<Modules> {
        let project = Project::new(&self.config);
        let quiet = self.quiet || self.format == Format::Json;
        let mut names = repo.transform_modules();
        if names.is_empty() {
            return Ok(Modules::default());
        }
        let known = crate::transforms::known_modules(&project)?;
        match usage {
            // Recording, not running: a revision whose module does not exist yet is not
            // what is being recorded, and does not stand in the way.
            ModuleUse::Record => names.retain(|name| known.contains(name)),
            ModuleUse::Run | ModuleUse::RunOverApplied => {
                if let Some(error) = unknown_module(repo, &known, &project) {
                    return Err(error.into());
                }
            }
        }
        if usage == ModuleUse::RunOverApplied && policy == BuildPolicy::WhenStale {
            self.refuse_rebuilding_applied(repo, &project, &names)
                .await?;
        }
        Ok(
            crate::transforms::load(&project, &names, policy, &mut |message| {
                if !quiet {
                    eprintln!("{message}");
                }
            })
            .await?,
        )
    }

    /// Refuses to build a module whose sources were edited after an applied revision ran it:
    /// the build would replace what that revision ran. Asks the database only when a module
    /// was edited.
    async fn refuse_rebuilding_applied(
        &self,
        repo: &Repository,
        project: &Project,
        names: &[String],
    ) -> anyhow::Result<()> {
        let edited = crate::transforms::edited_since_built(project, names)?;
        if edited.is_empty() {
            return Ok(());
        }
        let heads = self.database_heads().await?;
        let Ok(applied) = repo.graph.applied_from_rows(&heads) else {
            // Revisions this project does not have: the run itself says so.
            return Ok(());
        };
        for revision in repo.ordered() {
            if !applied.contains(&revision.id) {
                continue;
            }
            if let Some(module) = revision
                .transform_modules()
                .into_iter()
                .find(|module| edited.contains(module))
            {
                return Err(TransformsError::EditedAfterApplied {
                    module,
                    revision: revision.id.clone(),
                }
                .into());
            }
        }
        Ok(())
    }
}

/// What a command does with the transform modules it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleUse {
    /// Runs them (`check`, a dry run, a script).
    Run,
    /// Runs them on a database whose applied revisions ran them before (`upgrade`,
    /// `downgrade`): a module edited since is not rebuilt over what they ran.
    RunOverApplied,
    /// Records their checksums without running them (`stamp`, `repair`).
    Record,
}

/// The first transform step naming a module that exists nowhere, located, with the closest
/// name that does.
fn unknown_module(
    repo: &Repository,
    known: &std::collections::HashSet<String>,
    project: &Project,
) -> Option<crate::revision::SourceError> {
    for revision in repo.ordered() {
        for step in revision.written_steps() {
            let crate::ops::Step::Transform(transform) = &step.value else {
                continue;
            };
            if known.contains(&transform.module) {
                continue;
            }
            let hint =
                crate::suggest::did_you_mean(&transform.module, known.iter().map(String::as_str));
            return Some(revision.error_at(
                &step.loc,
                format!(
                    "no transform module '{}'{hint} (no transform in {} is called so, and transforms.lock has no module of that name); `runner new-transform {}` makes one",
                    transform.module,
                    project.dir.display(),
                    transform.module
                ),
            ));
        }
    }
    None
}
