//! Transforms in Python and JavaScript as docs/transforms.md teaches them: a project made by
//! `runner init`, a transform scaffolded with `runner new-transform --lang`, the tutorial's code
//! put in it, built by runner (which installs the language's componentizer the first time),
//! run in a revision on every database and undone by its `down`; and hostile code stopped as
//! hostile Rust is, the database left as it was.
//!
//! Without the language's toolchain (or its package registry) these tests say why and pass,
//! except under CI (`CI=true` or `RUNNER_REQUIRE_TOOLCHAINS=1`, which .ci/run sets), where
//! that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use runner::db::{Db, Value};

use crate::{Project, TestDb, dump, workspace_root};

/// A language runner builds transforms in, besides Rust.
#[derive(Debug, Clone, Copy)]
pub struct GuestLang {
    /// `--lang`'s value.
    pub name: &'static str,
    /// The fence of the tutorial's blocks in this language.
    pub fence: &'static str,
    /// The file a transform's folder holds.
    pub entry_file: &'static str,
    /// A program and its arguments that succeed where the toolchain is.
    pub probe: &'static [&'static str],
    /// What `runner build` says when the package registry cannot be reached.
    pub install_failed: &'static str,
}

/// Python, built with componentize-py (installed with pip).
pub const PYTHON: GuestLang = GuestLang {
    name: "python",
    fence: "python",
    entry_file: "transform.py",
    probe: &["python3", "-m", "pip", "--version"],
    install_failed: "pip could not install",
};

/// JavaScript, built with componentize-js (installed with npm).
pub const JAVASCRIPT: GuestLang = GuestLang {
    name: "javascript",
    fence: "javascript",
    entry_file: "transform.js",
    probe: &["npm", "--version"],
    install_failed: "npm could not install",
};

/// True under CI, where a missing toolchain is a failure.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("RUNNER_REQUIRE_TOOLCHAINS").is_ok_and(|v| v == "1")
}

impl GuestLang {
    /// True if this language's transforms can be built here; else says why (a failure under
    /// CI).
    pub fn here(&self) -> bool {
        let (program, args) = self.probe.split_first().expect("a probe");
        let found = Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                !required(),
                "`{}` must work under CI to build {} transforms",
                self.probe.join(" "),
                self.name
            );
            eprintln!(
                "skipping the {} transform tests: `{}` does not work on this machine",
                self.name,
                self.probe.join(" ")
            );
        }
        found
    }

    /// Builds the project's transforms; false (skipping) where the registry cannot be
    /// reached off CI.
    pub fn built(&self, project: &Project, app: &Path) -> bool {
        let output = run(project, app, None, &["build"])
            .output()
            .expect("runner build");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            return true;
        }
        if stderr.contains(self.install_failed) && !required() {
            eprintln!("skipping the {} transform tests: {stderr}", self.name);
            return false;
        }
        panic!("runner build failed:\n{stderr}");
    }

    /// A project with the transform `module` scaffolded and its source replaced by `code`.
    pub fn scaffolded(&self, project: &Project, module: &str, code: &str) -> PathBuf {
        let app = new_app(project);
        let scaffolded = run(
            project,
            &app,
            None,
            &["new-transform", module, "--lang", self.name],
        )
        .output()
        .expect("runner new-transform");
        assert!(
            scaffolded.status.success()
                && String::from_utf8_lossy(&scaffolded.stdout)
                    .contains(&format!("migrations/transforms/{module}")),
            "{scaffolded:?}"
        );
        let entry = app
            .join("migrations/transforms")
            .join(module)
            .join(self.entry_file);
        assert!(entry.is_file(), "new-transform made no {}", entry.display());
        std::fs::write(&entry, code).expect("write the transform");
        app
    }

    /// The tutorial's transform in this language, scaffolded, built, run on every database
    /// and reverted, each time with the names the tutorial promises.
    pub async fn tutorial_runs_and_reverts_everywhere(&self) {
        if !self.here() {
            return;
        }
        let project = Project::new();
        let code = tutorial_blocks(self.fence)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("the tutorial's {} transform", self.name));
        let app = self.scaffolded(&project, "split_names", &code);
        let steps: Vec<String> = tutorial_blocks("yaml")
            .into_iter()
            .filter(|block| block.starts_with("upgrade:"))
            .collect();
        let versions = app.join("migrations/versions");
        std::fs::write(
            versions.join("aaaa00000001_contacts.yaml"),
            format!("revision: aaaa00000001\nparents: []\n{}", steps[0]),
        )
        .expect("write revision");
        std::fs::write(
            versions.join("bbbb00000002_split.yaml"),
            format!(
                "revision: bbbb00000002\nparents: [aaaa00000001]\n{}",
                steps[1]
            ),
        )
        .expect("write revision");
        if !self.built(&project, &app) {
            return;
        }
        let lock = std::fs::read_to_string(app.join("migrations/transforms.lock")).expect("lock");
        assert!(
            lock.contains("[modules.split_names]") && lock.contains("has_down = true"),
            "{lock}"
        );

        let sqlite = format!("sqlite://{}", app.join("app.db").display());
        let mut urls = vec![(None, sqlite)];
        for test_db in TestDb::all().await {
            if test_db.dialect != runner::dialect_kind::Dialect::Sqlite {
                let url = test_db.url_arg();
                urls.push((Some(test_db), url));
            }
        }
        for (test_db, url) in &urls {
            let upgraded = run(&project, &app, Some(url), &["upgrade", "aaaa00000001"])
                .output()
                .expect("runner upgrade");
            assert!(upgraded.status.success(), "{url}: {upgraded:?}");
            let mut db = match test_db {
                Some(test_db) => test_db.connect().await,
                None => Db::connect(&url.parse().expect("url"), &Default::default())
                    .await
                    .expect("SQLite"),
            };
            db.execute_script(
                "INSERT INTO contacts (full_name) VALUES ('Ada King Lovelace'), ('Plato'), ('  Alan Turing ')",
            )
            .await
            .expect("contacts");
            let upgraded = run(&project, &app, Some(url), &["upgrade", "-v"])
                .output()
                .expect("runner upgrade");
            let stderr = String::from_utf8_lossy(&upgraded.stderr);
            assert!(
                upgraded.status.success() && stderr.contains("info: split 3 names"),
                "{url}: {stderr}"
            );
            let names = db
                .query(
                    "SELECT first_name, last_name FROM contacts ORDER BY id",
                    &[],
                )
                .await
                .expect("names");
            assert_eq!(
                names.rows,
                [
                    vec![
                        Value::Text("Ada King".into()),
                        Value::Text("Lovelace".into())
                    ],
                    vec![Value::Text("Plato".into()), Value::Text(String::new())],
                    vec![Value::Text("Alan".into()), Value::Text("Turing".into())],
                ],
                "{url}"
            );
            let downgraded = run(&project, &app, Some(url), &["downgrade", "-1"])
                .output()
                .expect("runner downgrade");
            assert!(downgraded.status.success(), "{url}: {downgraded:?}");
            let names = db
                .query("SELECT full_name FROM contacts ORDER BY id", &[])
                .await
                .expect("names");
            assert_eq!(
                names.texts("full_name"),
                [
                    Some("Ada King Lovelace".to_string()),
                    Some("Plato".to_string()),
                    Some("Alan Turing".to_string())
                ],
                "{url}"
            );
            db.close().await.ok();
        }
    }

    /// Runs the transform `hostile` (whose code is `code`, and which first overwrites every
    /// row of `notes`) once per attack, with the attack's name as its `attack` argument, a 3 s
    /// deadline and 64 MiB: each must exit 1 with its reason in the output, the database as
    /// it was.
    pub async fn attacks_change_nothing(&self, code: &str, attacks: &[(&str, &str)]) {
        if !self.here() {
            return;
        }
        let project = Project::new();
        let app = self.scaffolded(&project, "hostile", code);
        let versions = app.join("migrations/versions");
        std::fs::write(
            versions.join("aaaa00000001_notes.yaml"),
            "revision: aaaa00000001\nparents: []\nupgrade:\n  - create_table: {table: notes, columns: [{name: id, type: integer, primary_key: true}, {name: body, type: text}]}\n  - create_table: {table: secret, columns: [{name: s, type: text}]}\n  - sql: {up: \"INSERT INTO notes (id, body) VALUES (1, 'quiet')\", down: \"DELETE FROM notes\"}\n",
        )
        .expect("write revision");
        if !self.built(&project, &app) {
            return;
        }
        let url = format!("sqlite://{}", app.join("app.db").display());
        let upgraded = run(&project, &app, Some(&url), &["upgrade"])
            .output()
            .expect("runner upgrade");
        assert!(upgraded.status.success(), "{upgraded:?}");
        let mut db = Db::connect(&url.parse().expect("url"), &Default::default())
            .await
            .expect("SQLite");
        let before = dump(&mut db).await;
        for (attack, reason) in attacks {
            std::fs::write(
                versions.join("bbbb00000002_attack.yaml"),
                format!(
                    "revision: bbbb00000002\nparents: [aaaa00000001]\nupgrade:\n  - transform: {{module: hostile, writes: [notes], args: {{attack: {attack}}}, timeout: 3s, memory: 64MiB}}\n"
                ),
            )
            .expect("write revision");
            let output = run(&project, &app, Some(&url), &["upgrade"])
                .output()
                .expect("runner upgrade");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{attack}: {stderr}");
            assert!(
                stderr.contains(reason),
                "{attack}: expected {reason:?} in:\n{stderr}"
            );
            assert!(
                !stderr.contains("the attack did nothing"),
                "{attack}: {stderr}"
            );
            assert_eq!(
                before,
                dump(&mut db).await,
                "{attack}: the database changed"
            );
        }
    }
}

/// A new project in a folder of its own, made by `runner init` as the docs say.
pub fn new_app(project: &Project) -> PathBuf {
    let app = project.dir.path().join("app");
    let made = project
        .runner(None)
        .args(["init", app.to_str().expect("utf-8 path")])
        .output()
        .expect("runner init");
    assert!(made.status.success(), "{made:?}");
    app
}

/// The CLI, run in `app` against `url`.
pub fn run(project: &Project, app: &Path, url: Option<&str>, args: &[&str]) -> assert_cmd::Command {
    let mut command = project.runner(url);
    command.current_dir(app).args(args);
    command
}

/// The tutorial's blocks in `language`, in order.
pub fn tutorial_blocks(language: &str) -> Vec<String> {
    let tutorial = std::fs::read_to_string(workspace_root().join("docs/transforms.md"))
        .expect("docs/transforms.md");
    let fence = format!("```{language}\n");
    tutorial
        .split(fence.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_string()))
        .collect()
}
