//! The test databases can be created and reached on every backend, and runner's sessions read
//! SQL the way its dialects write it.

use runner::dialect::renderer;
use runner::dialect_kind::Dialect;
use runner_integration_tests::TestDb;

#[tokio::test]
async fn every_backend_answers_a_query() {
    for test_db in TestDb::all().await {
        let mut db = test_db.connect().await;
        let rows = db.query("SELECT 1 + 1", &[]).await.unwrap();
        assert_eq!(rows.rows[0][0].as_i64(), Some(2), "{}", test_db.dialect);
        assert!(!db.info.version.is_empty());
    }
}

/// A server whose global `sql_mode` has `NO_BACKSLASH_ESCAPES` would read the MySQL dialect's
/// `'a\\b'` as two backslashes; runner's sessions take the mode out, so a rendered literal
/// reads back as the text it was rendered from.
#[tokio::test]
async fn a_mysql_session_reads_string_literals_as_the_dialect_writes_them() {
    let Some(test_db) = TestDb::new(Dialect::Mysql).await else {
        return;
    };
    let mut db = test_db.connect().await;
    let text = r"C:\temp\it's";
    let select = format!("SELECT {}", renderer(Dialect::Mysql).string_literal(text));
    let read = |rows: runner::db::Rows| rows.scalar().and_then(|v| v.to_text());
    db.execute_script("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES'")
        .await
        .unwrap();
    let misread = read(db.query(&select, &[]).await.unwrap());
    assert_ne!(
        misread.as_deref(),
        Some(text),
        "the mode did not take effect"
    );
    db.use_backslash_escapes().await.unwrap();
    assert_eq!(
        read(db.query(&select, &[]).await.unwrap()).as_deref(),
        Some(text)
    );
    let mode = read(db.query("SELECT @@SESSION.sql_mode", &[]).await.unwrap()).unwrap();
    assert_eq!(mode, "STRICT_TRANS_TABLES", "other modes must stay");
}

/// Regression: a transform's statements on SQLite borrow sqlx's connection handle one by one
/// (`Db::with_sqlite`). Asking for it again while sqlx's worker thread was still waking up to
/// reclaim it could leave both waiting for ever; it hung within the first thousands of rows of
/// a per-row transform, and at once under CPU contention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_handle_can_be_borrowed_many_times_in_a_row() {
    let test_db = TestDb::new(Dialect::Sqlite)
        .await
        .expect("SQLite is embedded");
    let mut db = test_db.connect().await;
    db.execute_script("CREATE TABLE items (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
        .await
        .unwrap();
    db.begin().await.unwrap();
    let rows = 20_000_i64;
    let borrowed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        for id in 0..rows {
            db.with_sqlite(|conn| {
                conn.execute("INSERT INTO items (id, value) VALUES (?1, ?1)", [id])
                    .map_err(runner::db::DbError::from)?;
                Ok(())
            })
            .await
            .unwrap();
        }
    })
    .await;
    assert!(borrowed.is_ok(), "borrowing the SQLite handle hung");
    db.commit().await.unwrap();
    let count = db.query("SELECT count(*) FROM items", &[]).await.unwrap();
    assert_eq!(count.scalar().and_then(|v| v.as_i64()), Some(rows));
}
