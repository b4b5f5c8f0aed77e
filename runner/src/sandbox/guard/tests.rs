//! The guard's own tests: what it allows, what it refuses and why, on each dialect.

use super::*;

fn grants() -> Grants {
    Grants::new(&["contacts".into(), "currencies".into()], &["deals".into()])
}

fn allowed(sql: &str, dialect: Dialect) -> Allowed {
    check(sql, dialect, &grants())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .allowed
}

fn denied(sql: &str, dialect: Dialect) -> String {
    match check(sql, dialect, &grants()) {
        Ok(allowed) => panic!("{sql} was allowed: {allowed:?}"),
        Err(e) => e.0,
    }
}

#[test]
fn allows_dml_on_declared_tables() {
    for dialect in Dialect::ALL {
        let q = allowed(
            "SELECT c.id, d.amount FROM contacts c JOIN deals d ON d.contact_id = c.id WHERE c.id > 1",
            dialect,
        );
        assert_eq!(q.tables, ["contacts", "deals"]);
        let u = allowed(
            "UPDATE deals SET amount = 1 WHERE contact_id IN (SELECT id FROM contacts)",
            dialect,
        );
        assert_eq!(u.writes, ["deals"]);
        allowed(
            "INSERT INTO deals (id, amount) SELECT id, 0 FROM contacts",
            dialect,
        );
        allowed("DELETE FROM deals WHERE amount < 0", dialect);
        allowed(
            "WITH big AS (SELECT id FROM deals WHERE amount > 10) SELECT * FROM big",
            dialect,
        );
        allowed(
            "SELECT COUNT(*), lower(full_name) FROM contacts GROUP BY 2",
            dialect,
        );
        // CTEs see the CTEs before them, and their own name under WITH RECURSIVE.
        let q = allowed(
            "WITH a AS (SELECT id FROM contacts), b AS (SELECT id FROM a) SELECT * FROM b",
            dialect,
        );
        assert_eq!(q.tables, ["contacts"]);
        allowed(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 9) SELECT x FROM n",
            dialect,
        );
        allowed(
            "SELECT * FROM (WITH big AS (SELECT id FROM deals) SELECT * FROM big) s",
            dialect,
        );
    }
    // Unquoted names fold as the database folds them; MySQL compares table names exactly.
    allowed("SELECT * FROM CONTACTS", Dialect::Postgres);
    allowed("SELECT * FROM Contacts", Dialect::Sqlite);
    assert!(denied("SELECT * FROM CONTACTS", Dialect::Mysql).contains("not declared"));
    assert!(denied("SELECT * FROM \"Contacts\"", Dialect::Postgres).contains("not declared"));
    allowed("SELECT * FROM public.contacts", Dialect::Postgres);
    allowed("SELECT * FROM generate_series(1, 3)", Dialect::Postgres);
    allowed(
        "UPDATE deals SET amount = 0 FROM contacts WHERE deals.contact_id = contacts.id",
        Dialect::Postgres,
    );
}

#[test]
fn refuses_undeclared_and_read_only_tables_and_runner_tables() {
    for dialect in Dialect::ALL {
        assert!(denied("SELECT * FROM users", dialect).contains("table 'users' is not declared"));
        assert!(
            denied("UPDATE contacts SET full_name = 'x'", dialect)
                .contains("table 'contacts' is read-only")
        );
        assert!(denied("DELETE FROM currencies", dialect).contains("read-only"));
        assert!(
            denied("UPDATE runner_version SET revision = 'x'", dialect)
                .contains("runner's own tables")
        );
        assert!(denied("SELECT * FROM runner_history", dialect).contains("runner's own tables"));
        assert!(
            denied("SELECT * FROM deals; DROP TABLE deals", dialect)
                .contains("one statement per call")
        );
        assert!(denied("DROP TABLE deals", dialect).contains("not DROP TABLE"));
        assert!(denied("CREATE TABLE x (a int)", dialect).contains("not CREATE TABLE"));
    }
    assert!(denied("SELECT * FROM other.deals", Dialect::Postgres).contains("another schema"));
    assert!(denied("SELECT * FROM RUNNER_HISTORY", Dialect::Mysql).contains("runner's own tables"));
    assert!(denied("SELECT * FROM crm.deals", Dialect::Mysql).contains("another schema"));
    assert!(
        denied(
            "WITH x AS (DELETE FROM contacts RETURNING id) SELECT * FROM x",
            Dialect::Postgres
        )
        .contains("read-only")
    );
    assert!(denied("SELECT * INTO copy FROM deals", Dialect::Postgres).contains("SELECT ... INTO"));
}

#[test]
fn a_cte_name_hides_a_table_only_where_the_database_resolves_it_to_the_cte() {
    for dialect in Dialect::ALL {
        // The name is the real table inside the CTE's own body (or an error on SQLite).
        assert!(
            denied(
                "WITH users AS (SELECT * FROM users) SELECT * FROM users",
                dialect
            )
            .contains("table 'users' is not declared"),
            "{dialect}"
        );
        // A CTE defined in a subquery does not hide the table outside it.
        assert!(
            denied(
                "SELECT * FROM runner_history, (WITH runner_history AS (SELECT 1) SELECT 1 FROM runner_history) s",
                dialect
            )
            .contains("runner's own tables"),
            "{dialect}"
        );
        assert!(
            denied(
                "SELECT * FROM users, (WITH users AS (SELECT 1 AS x) SELECT x FROM users) s",
                dialect
            )
            .contains("table 'users' is not declared"),
            "{dialect}"
        );
        // Runner's names are refused even as a CTE's.
        assert!(
            denied(
                "WITH runner_version AS (SELECT 1 AS x) SELECT x FROM runner_version",
                dialect
            )
            .contains("runner's own tables"),
            "{dialect}"
        );
        // A table function's name hides nothing.
        assert!(
            denied("SELECT * FROM runner_history(1), runner_history", dialect)
                .contains("runner's own tables"),
            "{dialect}"
        );
        // A CTE sees only the CTEs before it, and itself only under RECURSIVE.
        assert!(
            denied(
                "WITH a AS (SELECT * FROM users), users AS (SELECT 1) SELECT * FROM a",
                dialect
            )
            .contains("table 'users' is not declared"),
            "{dialect}"
        );
        assert!(
            denied(
                "WITH users(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM users) SELECT x FROM users",
                dialect
            )
            .contains("table 'users' is not declared"),
            "{dialect}"
        );
    }
    // A qualified name is always a table.
    assert!(
        denied(
            "WITH users AS (SELECT 1) SELECT * FROM main.users",
            Dialect::Sqlite
        )
        .contains("table 'users' is not declared")
    );
    // A quoted CTE name keeps its case on PostgreSQL: `users` is the table.
    assert!(
        denied(
            "WITH \"Users\" AS (SELECT 1) SELECT * FROM users",
            Dialect::Postgres
        )
        .contains("table 'users' is not declared")
    );
}

#[test]
fn refuses_each_dialects_escape_hatches() {
    let sqlite = [
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA writable_schema = 1",
        "SELECT load_extension('/tmp/evil')",
        "SELECT * FROM pragma_table_info('deals')",
        "SELECT readfile('/etc/passwd') FROM deals",
    ];
    for sql in sqlite {
        denied(sql, Dialect::Sqlite);
    }
    let postgres = [
        "COPY deals TO PROGRAM 'cat /etc/passwd'",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT lo_import('/etc/passwd')",
        "SELECT * FROM pg_catalog.pg_tables",
        "SELECT pg_sleep(100)",
        "SELECT query_to_xml('select * from users', true, true, '')",
        "DO $$ BEGIN END $$",
        "SET search_path = other",
    ];
    for sql in postgres {
        denied(sql, Dialect::Postgres);
    }
    let mysql = [
        "SELECT LOAD_FILE('/etc/passwd')",
        "SELECT amount FROM deals INTO OUTFILE '/tmp/out'",
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE deals",
        "SELECT 1 /*! , sleep(10) */ FROM deals",
        "SELECT GET_LOCK('runner:x', 10)",
    ];
    for sql in mysql {
        denied(sql, Dialect::Mysql);
    }
    assert!(
        denied("SELECT pg_read_file('/etc/passwd')", Dialect::Postgres)
            .contains("pg_read_file is not allowed")
    );
}

/// Every way the first sandbox was got round, as a statement: each is refused for the
/// reason named, before anything reaches a database.
#[test]
fn refuses_what_got_past_the_deny_list() {
    let pg = Dialect::Postgres;
    let my = Dialect::Mysql;
    let lite = Dialect::Sqlite;
    let cases: &[(Dialect, &str, &str)] = &[
        (
            my,
            "SELECT 1 --\u{a0}\nUNION SELECT s FROM secret",
            "comments are not allowed",
        ),
        (
            my,
            "SELECT 1 --\u{3000}\n; DROP TABLE secret",
            "comments are not allowed",
        ),
        (
            my,
            "/*!50700 WITH secret AS (SELECT 1 AS id) */ DELETE allowed FROM secret AS allowed",
            "comments are not allowed",
        ),
        (
            my,
            "SELECT 1 /*M! , (SELECT s FROM secret) */",
            "comments are not allowed",
        ),
        (
            my,
            "SELECT /*+ SET_VAR(sql_mode='') */ 1 FROM deals",
            "comments are not allowed",
        ),
        (pg, "TABLE secret", "TABLE"),
        (
            pg,
            "WITH t AS (TABLE pg_catalog.pg_authid) SELECT * FROM t",
            "TABLE",
        ),
        (pg, "TABLE public.runner_history", "TABLE"),
        (pg, "INSERT INTO deals TABLE contacts", "does not parse"),
        (
            pg,
            "SELECT * INTO newtab FROM deals UNION SELECT * FROM deals",
            "INTO",
        ),
        (pg, "SELECT * INTO TEMP runner_version FROM deals", "INTO"),
        (
            pg,
            "SELECT * FROM ts_stat('SELECT to_tsvector(s) FROM secret')",
            "table function ts_stat is not allowed",
        ),
        (
            pg,
            "SELECT ts_rewrite('a'::tsquery, 'SELECT s::tsquery FROM secret')",
            "function ts_rewrite is not allowed",
        ),
        (
            pg,
            "SELECT pg_create_physical_replication_slot('evil')",
            "function pg_create_physical_replication_slot is not allowed",
        ),
        (pg, "SELECT pg_drop_replication_slot('x')", "is not allowed"),
        (
            pg,
            "SELECT pg_stat_reset()",
            "function pg_stat_reset is not allowed",
        ),
        (
            pg,
            "SELECT * FROM pg_show_all_file_settings()",
            "is not allowed",
        ),
        (pg, "SELECT * FROM pg_hba_file_rules", "not declared"),
        (
            pg,
            "SELECT query FROM pg_stat_get_activity(NULL)",
            "is not allowed",
        ),
        (
            pg,
            "SELECT 'deals'::regclass",
            "type REGCLASS is not allowed",
        ),
        (pg, "SELECT pg_catalog.lower('x')", "plain name"),
        (pg, "SELECT * FROM deals FOR UPDATE", "row locks"),
        (
            my,
            "SELECT SETVAL(seq, 100)",
            "function setval is not allowed",
        ),
        (my, "SELECT NEXTVAL(seq)", "function nextval is not allowed"),
        (
            my,
            "SELECT RELEASE_ALL_LOCKS()",
            "function release_all_locks is not allowed",
        ),
        (
            my,
            "SELECT LOAD_FILE('/etc/passwd')",
            "function load_file is not allowed",
        ),
        (
            my,
            "DELETE deals FROM currencies AS deals",
            "'currencies' is read-only",
        ),
        (
            my,
            "DELETE FROM deals USING currencies AS deals",
            "'currencies' is read-only",
        ),
        (
            my,
            "UPDATE deals JOIN contacts c ON c.id = deals.id SET c.full_name = 'x'",
            "'contacts' is read-only",
        ),
        (my, "SELECT 'a\\\\b' FROM deals", "backslash"),
        (my, "SELECT @@secure_file_priv", "variables"),
        (
            lite,
            "SELECT * FROM dbstat('main')",
            "table function dbstat is not allowed",
        ),
        (
            lite,
            "SELECT zeroblob(200000000)",
            "function zeroblob is not allowed",
        ),
    ];
    for (dialect, sql, reason) in cases {
        let text = denied(sql, *dialect);
        assert!(text.contains(reason), "{dialect} {sql}: {text}");
    }
    // Allowed forms of the same statements.
    allowed(
        "DELETE deals FROM deals JOIN contacts c ON c.id = deals.id",
        my,
    );
    let u = allowed(
        "UPDATE deals JOIN contacts c ON c.id = deals.id SET deals.amount = c.id",
        my,
    );
    assert_eq!(u.writes, ["deals"]);
    allowed(
        "DELETE FROM deals USING contacts WHERE deals.id = contacts.id",
        pg,
    );
}

#[test]
fn no_text_can_exhaust_the_guard() {
    for dialect in Dialect::ALL {
        let terms = |n: usize| format!("SELECT {} FROM deals", vec!["1"; n].join("+"));
        assert!(
            denied(&terms(100_000), dialect).contains("too complex"),
            "{dialect}"
        );
        assert!(
            denied(&terms(20_000), dialect).contains("too deeply nested"),
            "{dialect}"
        );
        allowed(&terms(200), dialect);
        let long = format!("SELECT 1{}", " ".repeat(MAX_SQL_BYTES));
        assert!(denied(&long, dialect).contains("too long"), "{dialect}");
        let parens = format!(
            "SELECT {}1{} FROM deals",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        denied(&parens, dialect);
        let broken = format!("SELECT {} +) FROM deals", vec!["1"; 20_000].join(" + "));
        denied(&broken, dialect);
    }
}

#[test]
fn what_is_sent_is_the_rendering_of_what_was_checked() {
    let checked = check(
        "select  c.id /* a comment */, lower(full_name) -- another\nfrom contacts c where c.id > ?",
        Dialect::Mysql,
        &grants(),
    )
    .unwrap();
    assert_eq!(
        checked.sql,
        "SELECT c.id, lower(full_name) FROM contacts c WHERE c.id > ?"
    );
    assert_eq!(checked.slots, [0]);
}
