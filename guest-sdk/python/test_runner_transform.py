"""Unit tests of the Python SDK itself (runner_transform), through runner_testing: what a
transform sees of cursors, batches and backfill. Run them with

    python3 -m unittest discover guest-sdk/python

(tests/python_examples.rs runs them too). This file is not shipped into projects: runner
writes only the SDK's own modules into `.runner/python`.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from runner_testing import TestDb  # noqa: E402
from runner_transform import TransformError  # noqa: E402

PEOPLE = ["CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, upper_name TEXT)"]
ROWS = {"people": [{"id": i, "name": f"p{i}"} for i in range(1, 6)]}


class Cursor(unittest.TestCase):
    def test_batches_hold_at_most_batch_rows_and_cover_the_result(self):
        seen = []

        def up(db, args):
            for batch in db.cursor("SELECT id FROM people ORDER BY id", batch=2):
                seen.append([row["id"] for row in batch])

        with TestDb(PEOPLE, ROWS) as db:
            db.run_up(up)
        self.assertEqual(seen, [[1, 2], [3, 4], [5]])

    def test_a_batch_of_no_rows_is_refused_and_the_run_changes_nothing(self):
        for batch in (0, -1, 2.5, "10", True, 2**32):
            with self.subTest(batch=batch), TestDb(PEOPLE, ROWS) as db:

                def up(db, args):
                    db.execute("DELETE FROM people WHERE id = 1")
                    for _ in db.cursor("SELECT id FROM people", batch=batch):
                        pass

                with self.assertRaises(TransformError) as raised:
                    db.run_up(up)
                self.assertIn("a batch is a whole number of rows from 1", str(raised.exception))
                self.assertIn(repr(batch), str(raised.exception))
                self.assertEqual(db.scalar("SELECT count(*) FROM people"), 5)


class Backfill(unittest.TestCase):
    def test_every_row_is_written_in_pages(self):
        def up(db, args):
            db.backfill("people", "id", ["name"], ["upper_name"], lambda row: [row["name"].upper()], batch=2)

        with TestDb(PEOPLE, ROWS) as db:
            db.run_up(up)
            self.assertEqual(
                db.rows("SELECT upper_name FROM people ORDER BY id"),
                [("P1",), ("P2",), ("P3",), ("P4",), ("P5",)],
            )

    def test_a_batch_of_no_rows_is_refused_and_nothing_is_written(self):
        def up(db, args):
            db.backfill("people", "id", ["name"], ["upper_name"], lambda row: ["x"], batch=0)

        with TestDb(PEOPLE, ROWS) as db:
            with self.assertRaises(TransformError) as raised:
                db.run_up(up)
            self.assertIn("not 0", str(raised.exception))
            self.assertEqual(db.scalar("SELECT count(*) FROM people WHERE upper_name IS NOT NULL"), 0)


if __name__ == "__main__":
    unittest.main()
