"""Moves `contacts.email` into its own table: addresses are trimmed and lowercased, each
distinct address is stored once in `email_addresses`, and `contacts.email_id` points at it.
`down` copies the (normalised) address back into `contacts.email`. The Python port of
examples/transforms/normalize_emails: the same statements, the same results.

    - transform: {module: normalize_emails, writes: [contacts, email_addresses]}
"""

from runner_transform import info

# What Rust's `trim` takes off: Unicode White_Space. Python's `str.strip()` also takes
# U+001C..U+001F, which are not white space to Rust.
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + (
    "\u2028\u2029\u202f\u205f\u3000"
)


def normalize(email):
    """" Ada@Example.COM " -> "ada@example.com"; blanks are no address (None)."""
    email = email.strip(_WHITE_SPACE).lower()
    return email or None


def up(db, args):
    # Which contacts have which address.
    owners = {}
    for rows in db.cursor("SELECT id, email FROM contacts WHERE email IS NOT NULL ORDER BY id"):
        for row in rows:
            address = normalize(row["email"])
            if address is not None:
                owners.setdefault(address, []).append(row["id"])
    # In the order of Rust's BTreeMap: by UTF-8 bytes, which is the order of code points
    # that Python sorts strings in.
    db.execute_many(
        "INSERT INTO email_addresses (address) VALUES ($1)",
        [[address] for address in sorted(owners)],
    )
    updates = []
    for row in db.query("SELECT id, address FROM email_addresses"):
        for contact in owners.get(row["address"], []):
            updates.append([row["id"], contact])
    db.execute_many("UPDATE contacts SET email_id = $1 WHERE id = $2", updates)
    info(f"{len(updates)} contacts share {len(owners)} addresses")


def down(db, args):
    changed = db.execute(
        "UPDATE contacts SET email = (SELECT address FROM email_addresses WHERE email_addresses.id = contacts.email_id)"
    )
    info(f"restored {changed} emails (lowercased)")
