"""Remaps enum values of `deals.deal_type` in place: each argument maps an old value to a new
one (`args: {upsell: renewal}`). Several old values can map to one new value, so there is no
`down`: a downgrade past this step stops before it starts and says so. The Python port of
examples/transforms/remap_deal_type: the same statements, the same results.

    - transform: {module: remap_deal_type, writes: [deals], args: {upsell: renewal}}
"""

from runner_transform import TransformError, info


def up(db, args):
    total = 0
    for old, new in args.items():
        changed = db.execute("UPDATE deals SET deal_type = $1 WHERE deal_type = $2", [new, old])
        info(f"{changed} deals: {old} -> {new}")
        total += changed
    if not args:
        raise TransformError("give the values to remap as args, e.g. `args: {upsell: renewal}`")
    info(f"remapped {total} deals")
