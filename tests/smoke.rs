//! The test databases can be created and reached on every backend.

use runner::db::Value;
use runner_integration_tests::TestDb;

#[tokio::test]
async fn every_backend_answers_a_query() {
    for test_db in TestDb::all().await {
        let mut db = test_db.connect().await;
        let rows = db.query("SELECT 1 + 1", &[]).await.unwrap();
        assert_eq!(rows.rows[0][0].as_i64(), Some(2), "{}", test_db.dialect);
        assert!(!db.info.version.is_empty());
        let _ = Value::Null;
    }
}
