//! Reads every row of `args.table` (through a cursor, or `query` with `args.read = query`)
//! and writes each one back with all its values: the table must not change at all.

use runner_guest_sdk::prelude::*;

fn up(db: &Db, args: &Args) -> Result<()> {
    let table = args.require("table")?;
    let select = format!("SELECT * FROM {table} ORDER BY id");
    let batches: Vec<Rows> = if args.get("read") == Some("query") {
        vec![db.query(&select, &[])?]
    } else {
        let mut cursor = db.cursor(&select, &[])?;
        let mut batches = Vec::new();
        while let Some(batch) = cursor.next_batch(2)? {
            batches.push(batch);
        }
        batches
    };
    for rows in batches {
        let columns = rows.columns().to_vec();
        let assignments: Vec<String> = columns
            .iter()
            .enumerate()
            .filter(|(_, name)| *name != "id")
            .map(|(i, name)| format!("{name} = ${}", i + 1))
            .collect();
        let sql = format!(
            "UPDATE {table} SET {} WHERE id = ${}",
            assignments.join(", "),
            columns.len() + 1
        );
        let mut batch = Vec::new();
        for row in rows.iter() {
            let mut values = row.values().to_vec();
            values.push(row.get::<Value>("id")?);
            batch.push(values);
        }
        let changed = db.execute_many(&sql, &batch)?;
        info!("wrote back {changed} rows");
    }
    Ok(())
}

runner_guest_sdk::transform!(up = up);
