//! JavaScript transforms as the docs teach them: scaffolded with `runner new-transform --lang
//! javascript`, built by runner (which installs componentize-js with npm the first time), run
//! in a revision on every database and undone by their `down`; and hostile JavaScript stopped
//! as hostile Rust is, the database left as it was (see `support/guest_lang.rs`).
//!
//! Without Node.js and npm (or the npm registry) these tests say why and pass, except under
//! CI (`CI=true` or `RUNNER_REQUIRE_TOOLCHAINS=1`, which .ci/run sets), where that is a
//! failure.

use runner_integration_tests::guest_lang::JAVASCRIPT;

#[tokio::test]
async fn the_javascript_transform_of_the_docs_runs_and_reverts_on_every_database() {
    JAVASCRIPT.tutorial_runs_and_reverts_everywhere().await;
}

/// A JavaScript transform that tries what the sandbox must stop, chosen by its `attack`
/// argument.
const HOSTILE: &str = r#"
import { info, TransformError } from './runner_transform.js';

export function up(db, args) {
  db.execute("UPDATE notes SET body = 'changed'");
  switch (args.attack) {
    case 'fetch':
      fetch('http://127.0.0.1:5432/');
      break;
    case 'loop':
      for (;;) {}
    case 'memory': {
      const hoard = [];
      for (;;) hoard.push('x'.repeat(1 << 20) + hoard.length);
    }
    case 'secret':
      info(JSON.stringify(db.query('SELECT * FROM secret')));
      break;
    case 'runner':
      db.execute("UPDATE runner_version SET revision = 'x'");
      break;
    case 'console':
      // Not an attack: what console prints reaches runner's log, though output is discarded.
      console.log('console.log says', { n: 1n }, [1, 2]);
      console.error('console.error says');
      throw new TransformError('printed');
    case 'batch0':
      // Not an attack, a slip: a cursor of batch 0 would read nothing and look done.
      for (const _ of db.cursor('SELECT id FROM notes', [], 0)) {}
      break;
  }
  info('the attack did nothing');
}
"#;

#[tokio::test]
async fn hostile_javascript_ends_like_hostile_rust_and_changes_nothing() {
    JAVASCRIPT
        .attacks_change_nothing(
            HOSTILE,
            &[
                ("fetch", "fetch"),
                ("loop", "ran out of time"),
                ("memory", "memory"),
                ("secret", "table 'secret' is not declared"),
                ("runner", "one of runner's own tables"),
                ("console", r#"info: console.log says {"n":"1n"} [1,2]"#),
                ("console", "error: console.error says"),
                (
                    "batch0",
                    "a batch is a whole number of rows from 1 to 4294967295, not 0",
                ),
            ],
        )
        .await;
}
