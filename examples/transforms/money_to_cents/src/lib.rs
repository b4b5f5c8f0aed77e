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
    let mut cursor = db.cursor("SELECT id, amount, currency_code FROM deals ORDER BY id", &[])?;
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
        db.execute_many("UPDATE deals SET amount_cents = $1 WHERE id = $2", &updates)?;
        done += rows.len() as u64;
        progress(done, None);
    }
    info!("converted {done} amounts");
    Ok(())
}

fn down(db: &Db, _args: &Args) -> Result<()> {
    let units = minor_units(db)?;
    let mut cursor = db.cursor("SELECT id, amount_cents, currency_code FROM deals ORDER BY id", &[])?;
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
