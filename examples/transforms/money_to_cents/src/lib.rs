//! Converts `deals.amount`, a float, into `deals.amount_cents`, an integer count of the
//! currency's minor unit (cents for EUR and USD, yen for JPY), from `currencies.minor_units`;
//! `down` converts back.
//!
//! ```yaml
//! - transform: {module: money_to_cents, reads: [currencies], writes: [deals]}
//! ```

use std::collections::HashMap;

use runner_guest_sdk::prelude::*;

/// Minor units per currency code.
fn minor_units(db: &Db) -> Result<HashMap<String, u32>> {
    let rows = db.query("SELECT code, minor_units FROM currencies", &[])?;
    let mut units = HashMap::new();
    for row in rows.iter() {
        units.insert(row.get::<String>("code")?, row.get::<u32>("minor_units")?);
    }
    Ok(units)
}

fn unit(units: &HashMap<String, u32>, code: &str) -> Result<u32> {
    units
        .get(code)
        .copied()
        .ok_or_else(|| Error::msg(format!("no currency '{code}' in currencies")))
}

fn up(db: &Db, _args: &Args) -> Result<()> {
    let units = minor_units(db)?;
    let mut cursor = db.cursor(
        "SELECT id, amount, currency_code FROM deals ORDER BY id",
        &[],
    )?;
    // Each batch is written behind: the next is read and converted while it runs.
    let mut writer = db.writer("UPDATE deals SET amount_cents = $1 WHERE id = $2")?;
    let mut done = 0u64;
    while let Some(rows) = cursor.next_batch(1000)? {
        let mut updates = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            let id: i64 = row.get("id")?;
            let amount: f64 = row.get("amount")?;
            let digits = unit(&units, &row.get::<String>("currency_code")?)?;
            let cents = (amount * 10f64.powi(digits as i32)).round();
            if !cents.is_finite() || cents.abs() > 9.0e15 {
                bail!("deal {id}: {amount} cannot be counted exactly in minor units");
            }
            updates.push(params![cents as i64, id]);
        }
        writer.write(&updates)?;
        done += rows.len() as u64;
        progress(done, None);
    }
    let written = writer.finish()?;
    info!("converted {done} amounts ({written} rows written)");
    Ok(())
}

fn down(db: &Db, _args: &Args) -> Result<()> {
    let units = minor_units(db)?;
    let mut cursor = db.cursor(
        "SELECT id, amount_cents, currency_code FROM deals ORDER BY id",
        &[],
    )?;
    while let Some(rows) = cursor.next_batch(1000)? {
        let mut updates = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            let id: i64 = row.get("id")?;
            let cents: i64 = row.get("amount_cents")?;
            let digits = unit(&units, &row.get::<String>("currency_code")?)?;
            updates.push(params![cents as f64 / 10f64.powi(digits as i32), id]);
        }
        db.execute_many("UPDATE deals SET amount = $1 WHERE id = $2", &updates)?;
    }
    Ok(())
}

runner_guest_sdk::transform!(up = up, down = down);

#[cfg(test)]
mod tests {
    use runner_guest_sdk::params;
    use runner_guest_sdk::testing::TestDb;

    /// The demo's tables as the step meets them: `amount_cents` added, still 0.
    fn deals() -> TestDb {
        TestDb::new(
            "CREATE TABLE currencies (
                 code TEXT PRIMARY KEY, name TEXT NOT NULL, minor_units SMALLINT NOT NULL DEFAULT 2
             );
             INSERT INTO currencies VALUES
                 ('EUR', 'Euro', 2), ('USD', 'US Dollar', 2), ('JPY', 'Yen', 0);
             CREATE TABLE deals (
                 id INTEGER PRIMARY KEY, title TEXT NOT NULL, amount DOUBLE NOT NULL DEFAULT 0,
                 currency_code TEXT NOT NULL,
                 amount_cents BIGINT NOT NULL DEFAULT 0
             )",
        )
        .rows(
            "INSERT INTO deals (id, title, amount, currency_code) VALUES ($1, $2, $3, $4)",
            [
                params![1, "engine", 1234.56, "EUR"],
                params![2, "republic", 999.0, "JPY"],
                params![3, "bombe", 0.1, "USD"],
                params![4, "compiler", 19.99, "USD"],
            ],
        )
    }

    #[test]
    fn up_counts_each_currencys_minor_units() {
        let db = deals();
        db.up(super::up, &[]).unwrap();
        assert_eq!(
            db.texts("SELECT title, amount_cents FROM deals ORDER BY id"),
            [
                ["engine", "123456"],
                ["republic", "999"],
                ["bombe", "10"],
                ["compiler", "1999"]
            ]
        );
        assert_eq!(db.progress(), [(4, None)]);
        assert_eq!(db.logs(), ["info: converted 4 amounts (4 rows written)"]);
    }

    #[test]
    fn down_converts_the_cents_back_into_amounts() {
        let db = deals();
        db.up(super::up, &[]).unwrap();
        db.execute("UPDATE deals SET amount = 0", &[]);
        db.down(super::down, &[]).unwrap();
        let amounts: Vec<f64> = db
            .query("SELECT amount FROM deals ORDER BY id", &[])
            .iter()
            .map(|row| row.get("amount").unwrap())
            .collect();
        assert_eq!(amounts, [1234.56, 999.0, 0.1, 19.99]);
    }

    #[test]
    fn an_unknown_currency_fails_and_changes_nothing() {
        let db = deals().rows(
            "INSERT INTO deals (id, title, amount, currency_code) VALUES ($1, $2, $3, $4)",
            [params![5, "tea", 3.5, "GBP"]],
        );
        let err = db.up(super::up, &[]).unwrap_err();
        assert_eq!(err.to_string(), "no currency 'GBP' in currencies");
        assert_eq!(
            db.texts("SELECT count(*) FROM deals WHERE amount_cents <> 0"),
            [["0"]]
        );
    }
}
