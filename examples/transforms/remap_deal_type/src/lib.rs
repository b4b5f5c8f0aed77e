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
