//! For the batch benchmark: reads `items` through a cursor and writes `value * 2` back, either
//! one statement per row (`args.mode = rows`) or one `execute_many` per batch (`batch`).

use runner_guest_sdk::prelude::*;

fn up(db: &Db, args: &Args) -> Result<()> {
    let per_row = args.get("mode") == Some("rows");
    let mut cursor = db.cursor("SELECT id, value FROM items ORDER BY id", &[])?;
    while let Some(rows) = cursor.next_batch(1000)? {
        let mut batch = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            batch.push(params![row.get::<i64>("value")? * 2, row.get::<i64>("id")?]);
        }
        if per_row {
            for params in &batch {
                db.execute("UPDATE items SET value = $1 WHERE id = $2", params)?;
            }
        } else {
            db.execute_many("UPDATE items SET value = $1 WHERE id = $2", &batch)?;
        }
    }
    Ok(())
}

runner_guest_sdk::transform!(up = up);
