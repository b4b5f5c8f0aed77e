"""Splits `contacts.full_name` into `first_name` and `last_name` (the last word is the last
name), reading in batches through a cursor and writing each batch back in one call; `down`
joins them again. The Python port of examples/transforms/split_names: the same statements,
the same results.

    - transform: {module: split_names, writes: [contacts], args: {batch: 1000}}
"""

import re

from runner_transform import TransformError, info, progress

# What Rust's `split_whitespace` splits at: Unicode White_Space. Python's `str.split()` also
# splits at U+001C..U+001F, which are not white space to Rust.
_WORD = re.compile("[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_U32_MAX = (1 << 32) - 1


def split(full):
    """"Ada King Lovelace" -> ("Ada King", "Lovelace"); "Plato" -> ("Plato", "")."""
    words = _WORD.findall(full)
    if len(words) < 2:
        return " ".join(words), ""
    return " ".join(words[:-1]), words[-1]


def batch_size(args):
    text = args.get("batch")
    if text is None:
        return 1000
    # As Rust parses a u32: ASCII digits, an optional '+', nothing else.
    if re.fullmatch("[+]?[0-9]+", text) and int(text) <= _U32_MAX:
        # The Rust SDK reads at least one row per batch; runner_transform refuses 0.
        return max(int(text), 1)
    raise TransformError(f"`batch` must be a number, got '{text}'")


def up(db, args):
    batch = batch_size(args)
    total = db.query_scalar("SELECT COUNT(*) FROM contacts WHERE full_name IS NOT NULL")
    done = 0
    for rows in db.cursor(
        "SELECT id, full_name FROM contacts WHERE full_name IS NOT NULL ORDER BY id",
        batch=batch,
    ):
        updates = []
        for row in rows:
            first, last = split(row["full_name"])
            updates.append([first, last, row["id"]])
        db.execute_many(
            "UPDATE contacts SET first_name = $1, last_name = $2 WHERE id = $3",
            updates,
        )
        done += len(rows)
        progress(done, total)
    info(f"split {done} names")


def down(db, args):
    batch = batch_size(args)
    done = 0
    for rows in db.cursor("SELECT id, first_name, last_name FROM contacts ORDER BY id", batch=batch):
        updates = []
        for row in rows:
            first, last = row["first_name"], row["last_name"]
            if first is None and last is None:
                # No name at all stays no name: `up` left both NULL where full_name was NULL.
                updates.append([None, row["id"]])
                continue
            parts = [first or "", last or ""]
            updates.append([" ".join(part for part in parts if part), row["id"]])
        db.execute_many("UPDATE contacts SET full_name = $1 WHERE id = $2", updates)
        done += len(rows)
    info(f"joined {done} names")
