//! Moves `contacts.email` into its own table: addresses are trimmed and lowercased, each
//! distinct address is stored once in `email_addresses`, and `contacts.email_id` points at it.
//! `down` copies the (normalised) address back into `contacts.email`.
//!
//! ```yaml
//! - transform: {module: normalize_emails, writes: [contacts, email_addresses]}
//! ```

use std::collections::BTreeMap;

use runner_guest_sdk::prelude::*;

/// " Ada@Example.COM " -> "ada@example.com"; blanks are no address.
fn normalize(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    (!email.is_empty()).then_some(email)
}

fn up(db: &Db, _args: &Args) -> Result<()> {
    // Which contacts have which address.
    let mut owners: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut cursor = db.cursor(
        "SELECT id, email FROM contacts WHERE email IS NOT NULL ORDER BY id",
        &[],
    )?;
    while let Some(rows) = cursor.next_batch(1000)? {
        for row in rows.iter() {
            if let Some(address) = normalize(&row.get::<String>("email")?) {
                owners.entry(address).or_default().push(row.get("id")?);
            }
        }
    }
    let inserts: Vec<Vec<Value>> = owners.keys().map(|address| params![address]).collect();
    db.execute_many(
        "INSERT INTO email_addresses (address) VALUES ($1)",
        &inserts,
    )?;
    let ids = db.query("SELECT id, address FROM email_addresses", &[])?;
    let mut updates = Vec::new();
    for row in ids.iter() {
        let address: String = row.get("address")?;
        let id: i64 = row.get("id")?;
        for contact in owners.get(&address).into_iter().flatten() {
            updates.push(params![id, *contact]);
        }
    }
    db.execute_many("UPDATE contacts SET email_id = $1 WHERE id = $2", &updates)?;
    info!(
        "{} contacts share {} addresses",
        updates.len(),
        owners.len()
    );
    Ok(())
}

fn down(db: &Db, _args: &Args) -> Result<()> {
    let changed = db.execute(
        "UPDATE contacts SET email = (SELECT address FROM email_addresses WHERE email_addresses.id = contacts.email_id)",
        &[],
    )?;
    info!("restored {changed} emails (lowercased)");
    Ok(())
}

runner_guest_sdk::transform!(up = up, down = down);

#[cfg(test)]
mod tests {
    use runner_guest_sdk::params;
    use runner_guest_sdk::testing::TestDb;

    /// The demo's contacts as the step meets them: `email_addresses` and `email_id` added.
    fn contacts() -> TestDb {
        TestDb::new(
            "CREATE TABLE email_addresses (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, address TEXT NOT NULL UNIQUE
             );
             CREATE TABLE contacts (
                 id INTEGER PRIMARY KEY, email TEXT,
                 email_id INTEGER REFERENCES email_addresses (id) ON DELETE SET NULL
             )",
        )
        .rows(
            "INSERT INTO contacts (id, email) VALUES ($1, $2)",
            [
                params![1, " Ada@Example.COM "],
                params![2, "ada@example.com"],
                params![3, "alan@example.org"],
                params![4, None::<&str>],
                params![5, "   "],
            ],
        )
    }

    #[test]
    fn up_stores_each_address_once_and_skips_null_and_blank_ones() {
        let db = contacts();
        db.up(super::up, &[]).unwrap();
        assert_eq!(
            db.texts("SELECT address FROM email_addresses ORDER BY address"),
            [["ada@example.com"], ["alan@example.org"]]
        );
        assert_eq!(
            db.texts(
                "SELECT c.id, e.address FROM contacts c \
                 LEFT JOIN email_addresses e ON e.id = c.email_id ORDER BY c.id"
            ),
            [
                ["1", "ada@example.com"],
                ["2", "ada@example.com"],
                ["3", "alan@example.org"],
                ["4", "NULL"],
                ["5", "NULL"],
            ]
        );
        assert_eq!(db.logs(), ["info: 3 contacts share 2 addresses"]);
    }

    #[test]
    fn down_restores_the_normalised_addresses() {
        let db = contacts();
        db.up(super::up, &[]).unwrap();
        db.execute("UPDATE contacts SET email = NULL", &[]);
        db.down(super::down, &[]).unwrap();
        assert_eq!(
            db.texts("SELECT email FROM contacts ORDER BY id"),
            [
                ["ada@example.com"],
                ["ada@example.com"],
                ["alan@example.org"],
                ["NULL"],
                ["NULL"]
            ]
        );
        assert_eq!(db.logs(), ["info: restored 5 emails (lowercased)"]);
    }
}
