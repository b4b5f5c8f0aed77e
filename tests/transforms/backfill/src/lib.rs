//! For the backfill benchmark (tests/benches/backfill.rs): splits `people.full_name` at its
//! first space into `first_name` and `last_name` and lower-cases `email`, written three ways,
//! chosen by `args.mode`:
//! - `rows`: a cursor, and one `execute` per row (how a first transform is often written);
//! - `batch`: a cursor, and one `execute_many` per batch of 1000;
//! - `helper`: the SDK's `Db::backfill`.

use runner_guest_sdk::prelude::*;

const UPDATE: &str = "UPDATE people SET first_name = $1, last_name = $2, email = $3 WHERE id = $4";

/// "Ada King Lovelace" -> ("Ada", "King Lovelace"); "Plato" -> ("Plato", "").
fn split(full: &str) -> (&str, &str) {
    full.split_once(' ').unwrap_or((full, ""))
}

fn changed(row: &Row<'_>) -> Result<Vec<Value>> {
    let (first, last) = split(row.text("full_name")?);
    let email = row.text("email")?.to_lowercase();
    Ok(params![first, last, email, row.get::<i64>("id")?])
}

fn up(db: &Db, args: &Args) -> Result<()> {
    let mode = args.require("mode")?;
    if mode == "helper" {
        let done = db.backfill(
            &Backfill::new("people", "id")
                .read(&["full_name", "email"])
                .write(&["first_name", "last_name", "email"]),
            |row| {
                let (first, last) = split(row.text("full_name")?);
                let email = row.text("email")?.to_lowercase();
                Ok(Some(params![first, last, email]))
            },
        )?;
        info!("backfilled {} people", done.written);
        return Ok(());
    }
    let mut cursor = db.cursor("SELECT id, full_name, email FROM people ORDER BY id", &[])?;
    let mut done = 0u64;
    while let Some(rows) = cursor.next_batch(1000)? {
        match mode {
            "rows" => {
                for row in rows.iter() {
                    db.execute(UPDATE, &changed(&row)?)?;
                }
            }
            "batch" => {
                let batch = rows
                    .iter()
                    .map(|row| changed(&row))
                    .collect::<Result<Vec<_>>>()?;
                db.execute_many(UPDATE, &batch)?;
            }
            other => bail!("unknown mode `{other}`: rows, batch or helper"),
        }
        done += rows.len() as u64;
    }
    info!("backfilled {done} people");
    Ok(())
}

runner_guest_sdk::transform!(up = up);
