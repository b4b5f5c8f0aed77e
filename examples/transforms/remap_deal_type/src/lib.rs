//! Remaps enum values of `deals.deal_type` in place: each argument maps an old value to a new
//! one (`args: {upsell: renewal}`). Several old values can map to one new value, so there is no
//! `down`: a downgrade past this step stops before it starts and says so.
//!
//! ```yaml
//! - transform: {module: remap_deal_type, writes: [deals], args: {upsell: renewal}}
//! ```

use runner_guest_sdk::prelude::*;

fn up(db: &Db, args: &Args) -> Result<()> {
    let mut total = 0;
    for (from, to) in args.iter() {
        let changed = db.execute(
            "UPDATE deals SET deal_type = $1 WHERE deal_type = $2",
            &params![to, from],
        )?;
        info!("{changed} deals: {from} -> {to}");
        total += changed;
    }
    if args.iter().next().is_none() {
        bail!("give the values to remap as args, e.g. `args: {{upsell: renewal}}`");
    }
    info!("remapped {total} deals");
    Ok(())
}

runner_guest_sdk::transform!(up = up);

#[cfg(test)]
mod tests {
    use runner_guest_sdk::params;
    use runner_guest_sdk::testing::TestDb;

    fn deals() -> TestDb {
        TestDb::new(
            "CREATE TABLE deals (
                 id INTEGER PRIMARY KEY, title TEXT NOT NULL, deal_type TEXT NOT NULL
             )",
        )
        .rows(
            "INSERT INTO deals (id, title, deal_type) VALUES ($1, $2, $3)",
            [
                params![1, "engine", "upsell"],
                params![2, "republic", "new_business"],
                params![3, "bombe", "upsell"],
                params![4, "compiler", "renewal"],
            ],
        )
    }

    #[test]
    fn up_remaps_each_old_value_to_its_new_one() {
        let db = deals();
        db.up(super::up, &[("upsell", "renewal")]).unwrap();
        assert_eq!(
            db.texts("SELECT title, deal_type FROM deals ORDER BY id"),
            [
                ["engine", "renewal"],
                ["republic", "new_business"],
                ["bombe", "renewal"],
                ["compiler", "renewal"]
            ]
        );
        assert_eq!(
            db.logs(),
            ["info: 2 deals: upsell -> renewal", "info: remapped 2 deals"]
        );
    }

    #[test]
    fn up_without_args_fails_with_what_to_write() {
        let db = deals();
        let err = db.up(super::up, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "give the values to remap as args, e.g. `args: {upsell: renewal}`"
        );
        assert_eq!(
            db.texts("SELECT count(*) FROM deals WHERE deal_type = 'upsell'"),
            [["2"]]
        );
    }
}
