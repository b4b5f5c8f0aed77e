//! A transform that first makes a legitimate change (which must be rolled back) and then does
//! what `args.attack` says: everything the sandbox must stop.

use runner_guest_sdk::prelude::*;

fn attack(db: &Db, name: &str) -> Result<()> {
    let sql = |text: &str| db.execute(text, &[]).map(drop);
    match name {
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "memory" => {
            // 4 GiB, in pieces, so that memory really grows (one 4 GiB Vec cannot exist on wasm32).
            let mut pieces: Vec<Vec<u8>> = Vec::new();
            for _ in 0..64 {
                pieces.push(vec![1u8; 64 << 20]);
            }
            info!("allocated {} pieces", pieces.len());
            Ok(())
        }
        "slow_sql" => {
            // 10^10 rows to count in one statement: the guest waits inside the host, where
            // the epoch deadline cannot reach it; the database must stop at the deadline.
            let ten = (1..10).fold("SELECT 0".to_string(), |sql, n| {
                format!("{sql} UNION ALL SELECT {n}")
            });
            let count: i64 = db.query_scalar(
                &format!("WITH t(n) AS ({ten}) SELECT count(*) FROM t a, t b, t c, t d, t e, t f, t g, t h, t i, t j"),
                &[],
            )?;
            info!("counted {count} rows");
            Ok(())
        }
        "panic" => panic!("the transform gave up on row 42"),
        "undeclared" => db.query("SELECT * FROM users", &[]).map(drop),
        "read_only" => sql("UPDATE currencies SET name = 'pwned'"),
        "drop_table" => sql("DROP TABLE deals"),
        "runner_version" => sql("UPDATE runner_version SET revision = 'pwned'"),
        "attach" => sql("ATTACH DATABASE '/tmp/runner-evil.db' AS evil"),
        "pragma" => sql("PRAGMA foreign_keys = OFF"),
        "copy_program" => sql("COPY deals TO PROGRAM 'touch /tmp/runner-pwned'"),
        "pg_read_file" => db
            .query("SELECT pg_read_file('/etc/passwd')", &[])
            .map(drop),
        "load_file" => db.query("SELECT LOAD_FILE('/etc/passwd')", &[]).map(drop),
        "into_outfile" => db
            .query(
                "SELECT * FROM deals INTO OUTFILE '/tmp/runner-deals.txt'",
                &[],
            )
            .map(drop),
        "two_statements" => sql("UPDATE deals SET title = 'a'; DELETE FROM deals"),
        "file" => {
            let text = std::fs::read_to_string("/etc/passwd")?;
            info!("read {} bytes", text.len());
            Ok(())
        }
        "socket" => {
            let stream = std::net::TcpStream::connect("127.0.0.1:5432")?;
            info!("connected to {:?}", stream.peer_addr());
            Ok(())
        }
        "swallow" => {
            // A refused statement fails the step even if the transform ignores the error.
            let _ = sql("DELETE FROM users");
            Ok(())
        }
        // Nothing more than the legitimate change: for the tests of what a write implies.
        "none" => Ok(()),
        "delete_first" => sql("DELETE FROM deals WHERE id = 1"),
        other => bail!("unknown attack '{other}'"),
    }
}

fn up(db: &Db, args: &Args) -> Result<()> {
    db.execute(
        "UPDATE deals SET title = 'changed by the hostile transform'",
        &[],
    )?;
    attack(db, args.require("attack")?)
}

runner_guest_sdk::transform!(up = up);
