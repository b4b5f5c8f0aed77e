"""Unit tests of the Python example transforms, on SQLite through runner_testing: no runner, no
WebAssembly. Run them with

    python3 -m unittest discover examples/transforms-python
    python3 -m pytest examples/transforms-python

(tests/python_examples.rs runs them too, and checks that each port leaves every database
exactly as the Rust original does.) The cases follow tests/examples.rs, with the corners where
Python and Rust differ: rounding halves, what counts as white space, the order of addresses.
"""

import math
import os
import sys
import unittest

# The Python SDK of this repository (in a project of your own: `.runner/python` in the
# transforms folder, written by `runner build`).
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "guest-sdk", "python"))

from runner_testing import TestDb, has_down, load  # noqa: E402
from runner_transform import DbError, TransformError  # noqa: E402

split_names = load(os.path.join(HERE, "split_names"))
normalize_emails = load(os.path.join(HERE, "normalize_emails"))
money_to_cents = load(os.path.join(HERE, "money_to_cents"))
remap_deal_type = load(os.path.join(HERE, "remap_deal_type"))

# The demo's tables as far as the transforms see them.
CONTACTS = [
    """CREATE TABLE email_addresses (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        address VARCHAR(320) NOT NULL UNIQUE)""",
    """CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        full_name VARCHAR(255),
        first_name VARCHAR(120),
        last_name VARCHAR(120),
        email VARCHAR(255),
        email_id INTEGER REFERENCES email_addresses (id) ON DELETE SET NULL)""",
]
DEALS = [
    """CREATE TABLE currencies (
        code VARCHAR(3) PRIMARY KEY,
        name VARCHAR(60) NOT NULL,
        minor_units SMALLINT NOT NULL DEFAULT 2)""",
    """CREATE TABLE deals (
        id INTEGER PRIMARY KEY,
        title VARCHAR(200) NOT NULL,
        amount DOUBLE NOT NULL DEFAULT 0,
        amount_cents BIGINT NOT NULL DEFAULT 0,
        currency_code VARCHAR(3) NOT NULL,
        deal_type VARCHAR(20) NOT NULL DEFAULT 'new_business')""",
]
CURRENCIES = [
    {"code": "EUR", "name": "Euro", "minor_units": 2},
    {"code": "USD", "name": "US Dollar", "minor_units": 2},
    {"code": "JPY", "name": "Yen", "minor_units": 0},
]


def contacts(*names_and_emails):
    return TestDb(
        schema=CONTACTS,
        rows={
            "contacts": [
                {"id": i, "full_name": name, "email": email}
                for i, (name, email) in enumerate(names_and_emails, 1)
            ]
        },
    )


def deals(*amounts):
    return TestDb(
        schema=DEALS,
        rows={
            "currencies": CURRENCIES,
            "deals": [
                {"id": i, "title": f"deal {i}", "amount": amount, "currency_code": code}
                for i, (amount, code) in enumerate(amounts, 1)
            ],
        },
    )


class SplitNames(unittest.TestCase):
    NAMES = [
        "Ada King Lovelace",
        "Plato",
        "  Alan   Turing ",
        "Grace Hopper",
        "\tAda\u3000Byron\u00a0",
        "Mary\x1fShelley",  # U+001F is no white space to Rust: one word
        "Zoë Ünïcødé-Smith",
        "",
        "   ",
        None,
    ]

    def setUp(self):
        self.db = contacts(*((name, None) for name in self.NAMES))

    def test_up_splits_at_the_last_word_in_batches(self):
        self.db.run_up(split_names, args={"batch": 3}, writes=["contacts"])
        self.assertEqual(
            self.db.rows("SELECT first_name, last_name FROM contacts ORDER BY id"),
            [
                ("Ada King", "Lovelace"),
                ("Plato", ""),
                ("Alan", "Turing"),
                ("Grace", "Hopper"),
                ("Ada", "Byron"),
                ("Mary\x1fShelley", ""),
                ("Zoë", "Ünïcødé-Smith"),
                ("", ""),
                ("", ""),
                (None, None),
            ],
        )
        self.assertEqual(self.db.logs, [("info", "split 9 names")])
        self.assertEqual(self.db.progress, [(3, 9), (6, 9), (9, 9)])

    def test_down_joins_the_names_again(self):
        self.db.run_up(split_names, writes=["contacts"])
        self.db.execute("UPDATE contacts SET full_name = NULL")
        self.db.run_down(split_names, writes=["contacts"])
        self.assertEqual(
            [name for (name,) in self.db.rows("SELECT full_name FROM contacts ORDER BY id")],
            [
                "Ada King Lovelace",
                "Plato",
                "Alan Turing",
                "Grace Hopper",
                "Ada Byron",
                "Mary\x1fShelley",
                "Zoë Ünïcødé-Smith",
                "",
                "",
                None,
            ],
        )
        self.assertEqual(self.db.logs, [("info", "joined 10 names")])

    def test_batch_is_a_number_as_rust_reads_one(self):
        for text, size in [("1000", 1000), ("+5", 5), ("007", 7), ("0", 1), ("4294967295", 4294967295)]:
            self.assertEqual(split_names.batch_size({"batch": text}), size, text)
        for text in ["ten", " 5", "5 ", "-1", "1_000", "\u0663", "4294967296", ""]:
            with self.assertRaises(TransformError, msg=repr(text)) as refused:
                split_names.batch_size({"batch": text})
            self.assertEqual(str(refused.exception), f"`batch` must be a number, got '{text}'")

    def test_a_bad_batch_fails_the_run_and_changes_nothing(self):
        before = self.db.rows("SELECT * FROM contacts ORDER BY id")
        with self.assertRaisesRegex(TransformError, "`batch` must be a number, got 'many'"):
            self.db.run_up(split_names, args={"batch": "many"})
        self.assertEqual(self.db.rows("SELECT * FROM contacts ORDER BY id"), before)

    def test_a_step_that_does_not_declare_contacts_is_refused(self):
        with self.assertRaisesRegex(DbError, "table 'contacts' is not declared"):
            self.db.run_up(split_names, writes=["deals"])


# Each contact's address once normalised, in id order: what `up` points contacts at and what
# `down` writes back.
ADDRESSES = [
    ("ada@example.com",),
    ("ada@example.com",),
    ("alan@example.org",),
    (None,),
    (None,),
    ("grace@example.org",),
    ("grace@example.org",),
    ("zoë@example.com",),
    ("οδυσσευς@example.com",),
    ("\x1fbob@example.com",),
]


class NormalizeEmails(unittest.TestCase):
    EMAILS = [
        " Ada@Example.COM ",
        "ada@example.com",
        "alan@example.org",
        None,
        "   ",
        "GRACE@EXAMPLE.ORG",
        "grace@example.org\t",
        "\u3000Zoë@Example.com\u00a0",
        "ΟΔΥΣΣΕΥΣ@EXAMPLE.COM",  # the last Σ of a word lowercases to ς in Rust and Python
        " \x1fbob@example.com ",  # U+001F is no white space to Rust: it stays
    ]

    def setUp(self):
        self.db = contacts(*((f"contact {i}", email) for i, email in enumerate(self.EMAILS)))

    def test_up_stores_each_address_once_in_rust_order(self):
        self.db.run_up(normalize_emails, writes=["contacts", "email_addresses"])
        addresses = [
            "\x1fbob@example.com",
            "ada@example.com",
            "alan@example.org",
            "grace@example.org",
            "zoë@example.com",
            "οδυσσευς@example.com",
        ]
        self.assertEqual(
            self.db.rows("SELECT id, address FROM email_addresses ORDER BY id"),
            list(enumerate(addresses, 1)),
        )
        self.assertEqual(
            self.db.rows(
                "SELECT e.address FROM contacts c LEFT JOIN email_addresses e "
                "ON e.id = c.email_id ORDER BY c.id"
            ),
            ADDRESSES,
        )
        self.assertEqual(self.db.logs, [("info", "8 contacts share 6 addresses")])

    def test_down_restores_the_normalised_addresses(self):
        self.db.run_up(normalize_emails, writes=["contacts", "email_addresses"])
        self.db.run_down(normalize_emails, writes=["contacts"], reads=["email_addresses"])
        self.assertEqual(
            self.db.rows("SELECT email FROM contacts ORDER BY id"),
            ADDRESSES,
        )
        self.assertEqual(self.db.logs, [("info", "restored 10 emails (lowercased)")])

    def test_normalize_trims_what_rust_trims(self):
        self.assertEqual(normalize_emails.normalize("\u2003A@B.C\u205f"), "a@b.c")
        self.assertEqual(normalize_emails.normalize("a@b.c\x1c"), "a@b.c\x1c")
        self.assertIsNone(normalize_emails.normalize(" \t\u00a0 "))


class MoneyToCents(unittest.TestCase):
    # (amount, currency, minor units as Rust's `f64::round` counts them)
    AMOUNTS = [
        (1234.56, "EUR", 123456),
        (999.0, "JPY", 999),
        (0.1, "USD", 10),
        (19.99, "USD", 1999),
        (0.005, "EUR", 1),  # 0.5 cents: Python's round() would say 0
        (0.015, "EUR", 2),
        (0.025, "EUR", 3),  # 2.5 cents: round() would say 2
        (1.005, "EUR", 100),  # 100.49999999999999 cents
        (2.675, "USD", 268),
        (0.5, "JPY", 1),
        (2.5, "JPY", 3),
        (-0.5, "JPY", -1),  # away from zero on both sides
        (-2.5, "JPY", -3),
        (-0.004, "EUR", 0),
        (12345678901234.56, "EUR", 1234567890123456),
        (0.0, "USD", 0),
    ]

    def setUp(self):
        self.db = deals(*((amount, code) for amount, code, _ in self.AMOUNTS))

    def test_up_counts_minor_units_rounding_halves_away_from_zero(self):
        self.db.run_up(money_to_cents, reads=["currencies"], writes=["deals"])
        cents = self.db.rows("SELECT amount_cents, typeof(amount_cents) FROM deals ORDER BY id")
        self.assertEqual(cents, [(c, "integer") for _, _, c in self.AMOUNTS])
        n = len(self.AMOUNTS)
        self.assertEqual(self.db.logs, [("info", f"converted {n} amounts ({n} rows written)")])
        self.assertEqual(self.db.progress, [(n, None)])

    def test_down_converts_back_to_floats(self):
        self.db.run_up(money_to_cents, reads=["currencies"], writes=["deals"])
        self.db.execute("UPDATE deals SET amount = 0")
        self.db.run_down(money_to_cents, reads=["currencies"], writes=["deals"])
        amounts = self.db.rows("SELECT amount, typeof(amount) FROM deals ORDER BY id")
        expected = [c / (1.0 if code == "JPY" else 100.0) for _, code, c in self.AMOUNTS]
        self.assertEqual(amounts, [(a, "real") for a in expected])
        self.assertEqual(amounts[0][0], 1234.56)
        self.assertEqual(amounts[4][0], 0.01)

    def test_an_amount_too_large_to_count_exactly_fails_and_changes_nothing(self):
        db = deals((5.0, "EUR"), (1e14, "EUR"))
        with self.assertRaises(TransformError) as refused:
            db.run_up(money_to_cents, reads=["currencies"], writes=["deals"])
        self.assertEqual(
            str(refused.exception),
            "deal 2: 100000000000000 cannot be counted exactly in minor units",
        )
        self.assertEqual(db.rows("SELECT amount_cents FROM deals ORDER BY id"), [(0,), (0,)])

    def test_an_unknown_currency_fails(self):
        db = deals((5.0, "CHF"))
        with self.assertRaisesRegex(TransformError, "^no currency 'CHF' in currencies$"):
            db.run_up(money_to_cents, reads=["currencies"], writes=["deals"])

    def test_rounding_and_display_are_rusts(self):
        self.assertEqual(
            [money_to_cents.round_half_away(x) for x in (0.5, 1.5, 2.5, -0.5, -1.5, 0.49999999999999994, 4503599627370497.0)],
            [1, 2, 3, -1, -2, 0, 4503599627370497],
        )
        self.assertEqual(
            [money_to_cents.display(x) for x in (0.1, 999.0, 1e16, 1e-7, -0.0, math.inf, math.nan)],
            ["0.1", "999", "10000000000000000", "0.0000001", "-0", "inf", "NaN"],
        )


class RemapDealType(unittest.TestCase):
    def setUp(self):
        self.db = TestDb(
            schema=DEALS,
            rows={
                "currencies": CURRENCIES,
                "deals": [
                    {"id": 1, "title": "engine", "currency_code": "EUR", "deal_type": "upsell"},
                    {"id": 2, "title": "republic", "currency_code": "JPY", "deal_type": "new_business"},
                    {"id": 3, "title": "bombe", "currency_code": "USD", "deal_type": "upsell"},
                    {"id": 4, "title": "compiler", "currency_code": "USD", "deal_type": "renewal"},
                ],
            },
        )

    def types(self):
        return [t for (t,) in self.db.rows("SELECT deal_type FROM deals ORDER BY id")]

    def test_up_remaps_in_place(self):
        self.db.run_up(remap_deal_type, args={"upsell": "renewal"}, writes=["deals"])
        self.assertEqual(self.types(), ["renewal", "new_business", "renewal", "renewal"])
        self.assertEqual(
            self.db.logs,
            [("info", "2 deals: upsell -> renewal"), ("info", "remapped 2 deals")],
        )

    def test_args_are_applied_in_the_order_given(self):
        self.db.run_up(
            remap_deal_type,
            args={"upsell": "renewal", "renewal": "new_business"},
            writes=["deals"],
        )
        self.assertEqual(self.types(), ["new_business"] * 4)
        self.assertEqual(self.db.logs[-1], ("info", "remapped 5 deals"))

    def test_no_args_fails_and_changes_nothing(self):
        with self.assertRaises(TransformError) as refused:
            self.db.run_up(remap_deal_type, writes=["deals"])
        self.assertEqual(
            str(refused.exception),
            "give the values to remap as args, e.g. `args: {upsell: renewal}`",
        )
        self.assertEqual(self.types(), ["upsell", "new_business", "upsell", "renewal"])

    def test_there_is_no_down(self):
        self.assertFalse(has_down(remap_deal_type))
        self.assertTrue(has_down(split_names))
        with self.assertRaisesRegex(TransformError, "this transform has no down"):
            self.db.run_down(remap_deal_type, writes=["deals"])


if __name__ == "__main__":
    unittest.main()
