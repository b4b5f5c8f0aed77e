"""The benchmark's backfill (tests/benches/performance.rs, the Python column), written as a
Python user would write it: split `people.full_name` at its first space into `first_name` and
`last_name`, lower-case `email`, with the SDK's `db.backfill`. The same work as the Rust
`backfill` transform in tests/transforms/backfill."""

from runner_transform import info


def changed(row):
    first, _, last = row["full_name"].partition(" ")
    return [first, last, row["email"].lower()]


def up(db, args):
    written = db.backfill(
        "people",
        "id",
        read=["full_name", "email"],
        write=["first_name", "last_name", "email"],
        function=changed,
    )
    info(f"backfilled {written} people")
