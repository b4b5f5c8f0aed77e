//! Splits `contacts.full_name` into `first_name` and `last_name` (the last word is the last
//! name), reading in batches through a cursor and writing each batch back in one call; `down`
//! joins them again.
//!
//! ```yaml
//! - transform: {module: split_names, writes: [contacts], args: {batch: 1000}}
//! ```

use runner_guest_sdk::prelude::*;

/// "Ada King Lovelace" -> ("Ada King", "Lovelace"); "Plato" -> ("Plato", "").
fn split(full: &str) -> (String, String) {
    let full = full.split_whitespace().collect::<Vec<_>>().join(" ");
    match full.rsplit_once(' ') {
        Some((first, last)) => (first.to_string(), last.to_string()),
        None => (full, String::new()),
    }
}

fn batch_size(args: &Args) -> Result<u32> {
    match args.get("batch") {
        Some(text) => text
            .parse()
            .map_err(|_| Error::msg(format!("`batch` must be a number, got '{text}'"))),
        None => Ok(1000),
    }
}

fn up(db: &Db, args: &Args) -> Result<()> {
    let batch = batch_size(args)?;
    let total: i64 = db.query_scalar(
        "SELECT COUNT(*) FROM contacts WHERE full_name IS NOT NULL",
        &[],
    )?;
    let mut cursor = db.cursor(
        "SELECT id, full_name FROM contacts WHERE full_name IS NOT NULL ORDER BY id",
        &[],
    )?;
    let mut done = 0u64;
    while let Some(rows) = cursor.next_batch(batch)? {
        let mut updates = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            let id: i64 = row.get("id")?;
            let full: String = row.get("full_name")?;
            let (first, last) = split(&full);
            updates.push(params![first, last, id]);
        }
        db.execute_many(
            "UPDATE contacts SET first_name = $1, last_name = $2 WHERE id = $3",
            &updates,
        )?;
        done += rows.len() as u64;
        progress(done, Some(total as u64));
    }
    info!("split {done} names");
    Ok(())
}

fn down(db: &Db, args: &Args) -> Result<()> {
    let batch = batch_size(args)?;
    let mut cursor = db.cursor(
        "SELECT id, first_name, last_name FROM contacts ORDER BY id",
        &[],
    )?;
    let mut done = 0u64;
    while let Some(rows) = cursor.next_batch(batch)? {
        let mut updates = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            let id: i64 = row.get("id")?;
            let first: Option<String> = row.get("first_name")?;
            let last: Option<String> = row.get("last_name")?;
            // No name at all stays no name: `up` left both NULL where full_name was NULL.
            let full = (first.is_some() || last.is_some()).then(|| {
                [first.unwrap_or_default(), last.unwrap_or_default()]
                    .iter()
                    .filter(|part| !part.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            updates.push(params![full, id]);
        }
        db.execute_many("UPDATE contacts SET full_name = $1 WHERE id = $2", &updates)?;
        done += rows.len() as u64;
    }
    info!("joined {done} names");
    Ok(())
}

runner_guest_sdk::transform!(up = up, down = down);

#[cfg(test)]
mod tests {
    use runner_guest_sdk::params;
    use runner_guest_sdk::testing::TestDb;

    fn contacts() -> TestDb {
        TestDb::new(
            "CREATE TABLE contacts (
                 id INTEGER PRIMARY KEY, full_name TEXT, first_name TEXT, last_name TEXT
             )",
        )
        .rows(
            "INSERT INTO contacts (id, full_name) VALUES ($1, $2)",
            [
                params![1, "Ada King Lovelace"],
                params![2, "Plato"],
                params![3, "  Alan   Turing "],
                params![4, None::<&str>],
            ],
        )
    }

    #[test]
    fn up_splits_off_the_last_word_batch_by_batch() {
        let db = contacts();
        db.up(super::up, &[("batch", "2")]).unwrap();
        assert_eq!(
            db.texts("SELECT first_name, last_name FROM contacts ORDER BY id"),
            [
                ["Ada King", "Lovelace"],
                ["Plato", ""],
                ["Alan", "Turing"],
                ["NULL", "NULL"]
            ]
        );
        assert_eq!(db.progress(), [(2, Some(3)), (3, Some(3))]);
        assert_eq!(db.logs(), ["info: split 3 names"]);
    }

    #[test]
    fn down_joins_the_names_with_white_space_normalised() {
        let db = contacts();
        db.up(super::up, &[]).unwrap();
        db.execute("UPDATE contacts SET full_name = NULL", &[]);
        db.down(super::down, &[("batch", "1")]).unwrap();
        assert_eq!(
            db.texts("SELECT full_name FROM contacts ORDER BY id"),
            [["Ada King Lovelace"], ["Plato"], ["Alan Turing"], ["NULL"]]
        );
        assert_eq!(db.logs(), ["info: joined 4 names"]);
    }

    #[test]
    fn a_batch_that_is_not_a_number_is_refused() {
        let db = contacts();
        let err = db.up(super::up, &[("batch", "many")]).unwrap_err();
        assert_eq!(err.to_string(), "`batch` must be a number, got 'many'");
        assert_eq!(
            db.texts("SELECT count(*) FROM contacts WHERE first_name IS NOT NULL"),
            [["0"]]
        );
    }
}
