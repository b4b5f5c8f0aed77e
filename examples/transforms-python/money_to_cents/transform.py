"""Converts `deals.amount`, a float, into `deals.amount_cents`, an integer count of the
currency's minor unit (cents for EUR and USD, yen for JPY), from `currencies.minor_units`;
`down` converts back. The Python port of examples/transforms/money_to_cents: the same
statements, the same results (the same rounding: half away from zero).

    - transform: {module: money_to_cents, reads: [currencies], writes: [deals]}
"""

import decimal
import math

from runner_transform import TransformError, info, progress


def minor_units(db):
    """Minor units per currency code."""
    return {
        row["code"]: row["minor_units"]
        for row in db.query("SELECT code, minor_units FROM currencies")
    }


def unit(units, code):
    if code not in units:
        raise TransformError(f"no currency '{code}' in currencies")
    return units[code]


def round_half_away(x):
    """Rust's `f64::round`, as an int: halves go away from zero. (Python's `round` takes them
    to the even neighbour: 0.5 -> 0, 2.5 -> 2, where Rust gives 1 and 3.) `x - trunc(x)` is
    exact, so the comparison with 0.5 is too."""
    whole = math.trunc(x)
    if abs(x - whole) >= 0.5:
        whole += 1 if x > 0 else -1
    return whole


def display(x):
    """A float as Rust's `{}` shows it: "0.1", "999", "10000000000000000", "inf"."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = format(decimal.Decimal(repr(x)), "f")
    return text[:-2] if text.endswith(".0") else text


def up(db, args):
    units = minor_units(db)
    done = 0
    # Each batch is written behind: the next is read and converted while it runs.
    with db.writer("UPDATE deals SET amount_cents = $1 WHERE id = $2") as writer:
        for rows in db.cursor("SELECT id, amount, currency_code FROM deals ORDER BY id"):
            updates = []
            for row in rows:
                deal = row["id"]
                amount = float(row["amount"])
                digits = unit(units, row["currency_code"])
                scaled = amount * 10.0**digits
                cents = round_half_away(scaled) if math.isfinite(scaled) else None
                if cents is None or abs(cents) > 9.0e15:
                    raise TransformError(
                        f"deal {deal}: {display(amount)} cannot be counted exactly in minor units"
                    )
                updates.append([cents, deal])
            writer.write(updates)
            done += len(rows)
            progress(done)
        written = writer.finish()
    info(f"converted {done} amounts ({written} rows written)")


def down(db, args):
    units = minor_units(db)
    for rows in db.cursor("SELECT id, amount_cents, currency_code FROM deals ORDER BY id"):
        updates = []
        for row in rows:
            digits = unit(units, row["currency_code"])
            # A float, as Rust's `cents as f64 / 10f64.powi(digits)`.
            updates.append([float(row["amount_cents"]) / 10.0**digits, row["id"]])
        db.execute_many("UPDATE deals SET amount = $1 WHERE id = $2", updates)
