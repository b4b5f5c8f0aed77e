//! A hostile transform written against the raw WIT, without the guest SDK: what a component
//! built in any language can send. `up` first makes a legitimate change (which must be rolled
//! back), then runs the attack named by `args.attack`, calling the host's imports directly with
//! exactly the hostile input. An attack returns `Err` with the host's error when the host refused
//! it, so that the reason is visible; attacks named `*_swallow` ignore the host's errors and
//! return `Ok` (the step must fail all the same). An attack the host let through logs what it got
//! and returns `Ok`, except `nbsp_commit`, which fails on purpose once its COMMIT went through, to
//! show that the rollback the failure asks for comes too late.
//!
//! `tests/sandbox.rs` runs every attack on every database it applies to.

wit_bindgen::generate!({
    // Written into the workspace by every `runner build` (as the guest SDK is): the WIT of the
    // runner that builds and runs this module.
    path: "../.runner/guest-sdk/wit",
    world: "transform",
});

use runner::transform::db::{self, DbError, Dialect};
use runner::transform::log::{self, Level};

/// Text that a terminal would obey: clear the screen, turn red, go back to the start of the
/// line, a NUL, and a right-to-left override that makes the rest read backwards.
const CONTROL: &str = "\u{1b}[2J\u{1b}[31mFAKE: all revisions applied\r\0\u{202e}deliver\u{1b}[0m";

/// The first characters of a statement, for messages (the statements here can be 40 MB).
fn short(sql: &str) -> String {
    let head: String = sql.chars().take(80).collect();
    if head.len() < sql.len() {
        format!("{head}... ({} bytes)", sql.len())
    } else {
        head
    }
}

/// The host's error as the transform returns it.
fn refused(sql: &str, error: DbError) -> String {
    let (kind, text) = match error {
        DbError::Sql(text) => ("the database refused", text),
        DbError::Denied(text) => ("the sandbox denied", text),
        DbError::Limit(text) => ("a sandbox limit stopped", text),
    };
    format!("{kind} `{}`: {text}", short(sql))
}

fn info(message: &str) {
    log::log(Level::Info, message);
}

/// Runs a query and logs what it returned: whatever it read got past the sandbox.
fn query(sql: &str) -> Result<db::Rows, String> {
    let rows = db::query(sql, &[]).map_err(|e| refused(sql, e))?;
    let first: String = rows
        .rows
        .first()
        .map(|row| format!("{row:?}"))
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    info(&format!(
        "`{}` returned {} row(s), columns {:?}, the first: {first}",
        short(sql),
        rows.rows.len(),
        rows.columns
    ));
    Ok(rows)
}

fn execute(sql: &str) -> Result<u64, String> {
    let changed = db::execute(sql, &[]).map_err(|e| refused(sql, e))?;
    info(&format!("`{}` changed {changed} row(s)", short(sql)));
    Ok(changed)
}

/// `SELECT 1+1+...+1` with `terms` terms.
fn deep_expression(terms: usize) -> String {
    let mut sql = String::with_capacity(7 + 2 * terms);
    sql.push_str("SELECT 1");
    for _ in 1..terms {
        sql.push_str("+1");
    }
    sql
}

/// A query whose values the database makes large from small ones, with functions the
/// sandbox allows: more than the host may hold for a 64 MiB step.
/// `prefix` and then `x` up to `len` bytes.
fn long_text(prefix: &str, len: usize) -> String {
    let mut text = String::with_capacity(len);
    text.push_str(prefix);
    text.extend(std::iter::repeat_n('x', len - prefix.len()));
    text
}

/// `sql` and `spaces` spaces after it.
fn padded(sql: &str, spaces: usize) -> String {
    let mut text = String::with_capacity(sql.len() + spaces);
    text.push_str(sql);
    text.extend(std::iter::repeat_n(' ', spaces));
    text
}

fn amplified(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => {
            // 40 MB from 4 bytes: more than the host may hold for a 64 MiB step.
            let mut expr = "'xxxx'".to_string();
            for _ in 0..7 {
                expr = format!("replace({expr}, 'x', 'xxxxxxxxxx')");
            }
            format!("SELECT {expr}")
        }
        Dialect::Mysql => {
            // 15 MB a value (under MariaDB's max_allowed_packet), 20 rows, made in
            // linear time: ten copies of the level below, six times over.
            let mut levels = vec!["l0 AS (SELECT 'xxxxxxxxxxxxxxx' AS s)".to_string()];
            for level in 1..=6 {
                let copies = vec!["s"; 10].join(", ");
                levels.push(format!(
                    "l{level} AS (SELECT CONCAT({copies}) AS s FROM l{})",
                    level - 1
                ));
            }
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20), {} \
                 SELECT s FROM l6, n",
                levels.join(", ")
            )
        }
    }
}

fn attack(name: &str, tag: &str) -> Result<(), String> {
    let dialect = db::current_dialect();
    match name {
        // MariaDB ends a `-- ` comment only at a space or control character; the guard's
        // tokenizer also takes U+00A0 and U+3000 (Unicode white space). What the guard reads as
        // a comment to the end of the text, MariaDB runs: `1 - - <the identifier U+00A0>`,
        // which the CTE defines, and then the rest.
        "nbsp_comment" => query(
            "WITH q AS (SELECT 1 AS `\u{a0}`) SELECT 1 --\u{a0} FROM q UNION SELECT s FROM secret",
        )
        .map(drop),
        "nbsp_comment_multi" => query(
            "WITH q AS (SELECT 1 AS `\u{3000}`) SELECT 1 --\u{3000} FROM q; DROP TABLE secret",
        )
        .map(drop),
        "nbsp_commit" => {
            query("WITH q AS (SELECT 1 AS `\u{a0}`) SELECT 1 --\u{a0} FROM q; COMMIT")?;
            Err(
                "the COMMIT hidden behind `--\u{a0}` ran; this failure asks for a rollback of \
                 `UPDATE allowed SET v = 'changed'` that can no longer happen"
                    .into(),
            )
        }
        "versioned_comment" => execute(
            "/*!50700 WITH secret AS (SELECT 1 AS id) */ DELETE allowed FROM secret AS allowed",
        )
        .map(drop),
        "mariadb_comment" => query("SELECT 1 /*M! , (SELECT s FROM secret) */").map(drop),
        "hint_comment" => query("SELECT /*+ SET_VAR(sql_mode='') */ 1 FROM allowed").map(drop),

        // PostgreSQL's `TABLE x` is `SELECT * FROM x`; a parser may keep its name as text
        // rather than as a table reference, which a guard walking table references never sees.
        "table_stmt" => query("TABLE secret").map(drop),
        "table_cte" => query("WITH t AS (TABLE pg_catalog.pg_authid) SELECT * FROM t").map(drop),
        "table_runner" => query("TABLE public.runner_history").map(drop),
        "insert_table" => execute("INSERT INTO allowed TABLE secret").map(drop),
        "select_into_union" => {
            execute("SELECT * INTO newtab FROM allowed UNION SELECT * FROM allowed").map(drop)
        }
        // A temporary table hides the real one from runner's own statements on this connection.
        "into_temp_runner" => execute("SELECT * INTO TEMP runner_version FROM allowed").map(drop),
        // Functions that run SQL given as text, or act outside the transaction.
        "ts_stat" => query("SELECT * FROM ts_stat('SELECT to_tsvector(s) FROM secret')").map(drop),
        "ts_rewrite" => query(
            "SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, s::tsquery FROM secret')",
        )
        .map(drop),
        "repl_slot" => query("SELECT pg_create_physical_replication_slot('runner_evil')").map(drop),
        "drop_slot" => query("SELECT pg_drop_replication_slot('x')").map(drop),
        "stat_reset" => query("SELECT pg_stat_reset()").map(drop),
        "file_settings" => query("SELECT * FROM pg_show_all_file_settings()").map(drop),
        "hba" => query("SELECT * FROM pg_hba_file_rules").map(drop),
        "activity" => query("SELECT query FROM pg_stat_get_activity(NULL)").map(drop),

        // MariaDB: sequences change outside the transaction; locks are the session's.
        "setval" => query("SELECT SETVAL(seq, 100)").map(drop),
        "nextval" => query("SELECT NEXTVAL(seq)").map(drop),
        "release_locks" => query("SELECT RELEASE_ALL_LOCKS()").map(drop),
        "load_file" => query("SELECT LOAD_FILE('/etc/passwd')").map(drop),
        "outfile" => query(&format!(
            "SELECT * FROM allowed INTO OUTFILE '/tmp/runner-evil-{tag}.txt'"
        ))
        .map(drop),
        // A multi-table DELETE names its target by alias: `allowed` here is the read-only `ro`.
        "delete_alias" => execute("DELETE allowed FROM ro AS allowed").map(drop),
        "delete_using" => execute("DELETE FROM allowed USING ro AS allowed").map(drop),

        // Every database: what the host must bound.
        "deep_expr" => query(&deep_expression(100_000)).map(drop),
        // Past the most the host copies at once: refused before it is copied.
        "huge_whitespace" => query(&padded("SELECT 1", 40_000_000)).map(drop),
        // Under it: copied, then refused by the guard's length limit.
        "long_whitespace" => query(&padded("SELECT 1", 10_000_000)).map(drop),
        // A WASI timer: the guest waits inside the host, where no epoch deadline reaches it.
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(60));
            info("slept for 60 seconds");
            Ok(())
        }
        // Results the guest cannot hold but the host must read first.
        "zeroblob" => {
            let mut statements = vec![match dialect {
                Dialect::Sqlite => "SELECT zeroblob(200000000)",
                Dialect::Postgres => "SELECT repeat('x', 200000000)",
                Dialect::Mysql => "SELECT REPEAT('x', 200000000)",
            }];
            if dialect == Dialect::Mysql {
                // MariaDB gives NULL for a value over max_allowed_packet (16 MB by default):
                // the same 200 MB or more, in rows under it.
                statements.push(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) \
                     SELECT REPEAT('x', 15000000) FROM n",
                );
            }
            let mut kept = Vec::new();
            for sql in statements {
                for _ in 0..10 {
                    kept.push(db::query(sql, &[]).map_err(|e| refused(sql, e))?);
                }
            }
            info(&format!("kept {} large results", kept.len()));
            Ok(())
        }
        // Statements the host checks and may keep: 400 distinct ones just under the bound on
        // a statement's text (100 MB in all, which the statement cache must not keep). The
        // step then fails, so nothing it did stays. (Longer ones are refused: `huge_whitespace`.)
        "many_statements" => {
            let pad = "x".repeat(250 << 10);
            for i in 0..400 {
                let sql = format!("SELECT '{i:05}{pad}' AS v FROM allowed WHERE id = 0");
                db::query(&sql, &[]).map_err(|e| refused(&sql, e))?;
            }
            Err("ran 400 statements of 250 KB".into())
        }
        // Values made large from small ones with functions the sandbox allows: the host must
        // not hold more than the step's memory for them.
        "amplify" => {
            let sql = amplified(dialect);
            let mut kept = Vec::new();
            for _ in 0..10 {
                kept.push(db::query(&sql, &[]).map_err(|e| refused(&sql, e))?);
            }
            info(&format!("kept {} large results", kept.len()));
            Ok(())
        }
        // Under the most the host copies from the guest at once (a quarter of the step's
        // memory): shown, shortened.
        "long_error" => Err(long_text("LONG-ERROR ", 10_000_000)),
        // Past it: refused before the host copies it.
        "huge_error" => Err(long_text("HUGE-ERROR ", 50_000_000)),
        "log_flood" => {
            let mut line = String::with_capacity(1 << 20);
            line.push_str("FLOOD ");
            line.extend(std::iter::repeat_n('y', (1 << 20) - line.len()));
            for _ in 0..20_000 {
                log::log(Level::Info, &line);
            }
            Err("logged 20,000 lines of 1 MB".into())
        }
        "control_chars" => {
            log::log(Level::Warn, CONTROL);
            log::log(Level::Error, CONTROL);
            Err(CONTROL.into())
        }
        // Cursors never closed: each holds a server cursor or a temporary table.
        "cursor_flood" => {
            let mut cursors = Vec::new();
            for _ in 0..100_000 {
                let sql = "SELECT * FROM allowed";
                cursors.push(db::open_cursor(sql, &[]).map_err(|e| refused(sql, e))?);
            }
            info(&format!("holding {} cursors", cursors.len()));
            std::mem::forget(cursors);
            Ok(())
        }
        // Writers and started queries: the same checks as `execute` and `query`, and a batch
        // that failed behind the transform is never lost.
        "writer_secret" => {
            let sql = "UPDATE secret SET s = $1 WHERE id = $2";
            db::open_writer(sql).map(drop).map_err(|e| refused(sql, e))
        }
        "writer_select" => {
            let sql = "SELECT * FROM allowed";
            db::open_writer(sql).map(drop).map_err(|e| refused(sql, e))
        }
        "writer_flood" => {
            let sql = "UPDATE allowed SET v = $1 WHERE id = $2";
            let mut writers = Vec::new();
            for _ in 0..1000 {
                writers.push(db::open_writer(sql).map_err(|e| refused(sql, e))?);
            }
            std::mem::forget(writers);
            Ok(())
        }
        "start_query_secret" => {
            let sql = "SELECT * FROM secret";
            let pending = db::start_query(sql, &[]).map_err(|e| refused(sql, e))?;
            let rows = pending.rows().map_err(|e| refused(sql, e))?;
            info(&format!("read {} secret rows", rows.rows.len()));
            Ok(())
        }
        "start_query_ro_write" => {
            let sql = "WITH changed AS (UPDATE ro SET v = 'x' RETURNING id) SELECT * FROM changed";
            let pending = db::start_query(sql, &[]).map_err(|e| refused(sql, e))?;
            pending.rows().map(drop).map_err(|e| refused(sql, e))
        }
        // Each started query may hold a result the host keeps until the guest takes it.
        "start_query_flood" => {
            let sql = "SELECT * FROM allowed";
            let mut pending = Vec::new();
            for _ in 0..1000 {
                pending.push(db::start_query(sql, &[]).map_err(|e| refused(sql, e))?);
            }
            std::mem::forget(pending);
            Ok(())
        }
        // A batch that fails (a duplicate key): its error comes back from the next call on
        // the writer, and the batch handed over after it does not run.
        "writer_error_next" => {
            let sql = "INSERT INTO allowed (id, v) VALUES ($1, $2)";
            let writer = db::open_writer(sql).map_err(|e| refused(sql, e))?;
            let row = |id: i64, v: &str| vec![db::Value::Integer(id), db::Value::Text(v.into())];
            writer
                .write(&[row(1, "dup")])
                .map_err(|e| refused(sql, e))?;
            let error = match writer.write(&[row(10, "ten")]) {
                Err(error) => error,
                Ok(()) => match writer.finish() {
                    Err(error) => error,
                    Ok(n) => return Err(format!("the writer reported no error ({n} rows)")),
                },
            };
            let ten = "SELECT id FROM allowed WHERE id = 10";
            if !query(ten)?.rows.is_empty() {
                return Err("the batch handed over after the failed one ran".into());
            }
            Err(refused(sql, error))
        }
        // Not an attack: a transform that carries on after a failed statement. On
        // PostgreSQL the next one fails as "current transaction is aborted", whose error must
        // still say what failed first.
        "after_error" => {
            let _ignored = db::execute("INSERT INTO allowed (id, v) VALUES (1, 'dup')", &[]);
            query("SELECT v FROM allowed").map(drop)
        }
        // Not an attack: the order a transform relies on. A query after a write, and a
        // query started before it, see what they must; the step then fails on purpose with
        // what it saw, so that nothing of it stays.
        "writer_order" => {
            let sql = "UPDATE allowed SET v = $1 WHERE id = $2";
            let writer = db::open_writer(sql).map_err(|e| refused(sql, e))?;
            let read = "SELECT v FROM allowed WHERE id = 2";
            let before = db::start_query(read, &[]).map_err(|e| refused(read, e))?;
            let row = |v: &str, id: i64| vec![db::Value::Text(v.into()), db::Value::Integer(id)];
            writer
                .write(&[row("written", 2)])
                .map_err(|e| refused(sql, e))?;
            writer
                .write(&[row("again", 3)])
                .map_err(|e| refused(sql, e))?;
            let after = query(read)?;
            let started = before.rows().map_err(|e| refused(read, e))?;
            let changed = writer.finish().map_err(|e| refused(sql, e))?;
            let text = |rows: &db::Rows| -> String {
                let texts = rows.rows.iter().flatten().map(|value| match value {
                    db::Value::Text(text) => text.clone(),
                    other => format!("{other:?}"),
                });
                texts.collect::<Vec<_>>().join(",")
            };
            Err(format!(
                "order: started before {}, read after {}, {changed} rows changed",
                text(&started),
                text(&after)
            ))
        }
        // Started queries read behind the transform (on SQLite, on another thread): the same
        // bounds on what the host holds, and the same deadline.
        "start_query_amplify" => {
            let sql = amplified(dialect);
            let mut kept = Vec::new();
            for _ in 0..10 {
                kept.push(db::start_query(&sql, &[]).map_err(|e| refused(&sql, e))?);
            }
            for pending in &kept {
                pending.rows().map_err(|e| refused(&sql, e))?;
            }
            info(&format!("kept {} large results", kept.len()));
            Ok(())
        }
        "start_query_endless" => {
            let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT count(*) FROM c";
            let pending = db::start_query(sql, &[]).map_err(|e| refused(sql, e))?;
            pending.rows().map(drop).map_err(|e| refused(sql, e))
        }
        // The same failing batch, its error never asked for: the step fails all the same.
        "writer_unseen" => {
            let sql = "INSERT INTO allowed (id, v) VALUES ($1, $2)";
            let writer = db::open_writer(sql).map_err(|e| refused(sql, e))?;
            let _ = writer.write(&[vec![db::Value::Integer(1), db::Value::Text("dup".into())]]);
            std::mem::forget(writer);
            Ok(())
        }
        "dbstat" => query("SELECT * FROM dbstat('main')").map(drop),
        "read_secret" => query("SELECT * FROM secret").map(drop),
        "runner_write" => execute("UPDATE runner_version SET revision = 'x'").map(drop),
        "two_statements_swallow" => {
            let _ = db::execute("UPDATE allowed SET v = 'x'; DROP TABLE secret", &[]);
            Ok(())
        }
        other => Err(format!("raw_hostile: unknown attack '{other}'")),
    }
}

struct RawHostile;

impl Guest for RawHostile {
    fn up(args: Vec<(String, String)>) -> Result<(), String> {
        let arg = |key: &str| {
            args.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let legit = "UPDATE allowed SET v = 'changed'";
        db::execute(legit, &[]).map_err(|e| refused(legit, e))?;
        attack(&arg("attack"), &arg("tag"))
    }

    fn down(_args: Vec<(String, String)>) -> Result<(), String> {
        Err("raw_hostile has no down".into())
    }

    fn info() -> Info {
        Info {
            sdk_version: "none (raw WIT)".into(),
            has_down: false,
        }
    }
}

export!(RawHostile);
