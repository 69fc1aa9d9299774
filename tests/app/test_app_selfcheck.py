"""`python -m app selfcheck`: the probe's steps (create, read, list, update a marker note in a transaction that is
always rolled back) run once as a command, so that an image can be checked against a schema without serving: exit
0 when this code works on the database's schema, else 1 naming the step and the database's words."""

import json

from tests.app.test_app_probe import CHECKED, column_renamed, ids_taken, rows


def logged(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_selfcheck_passes_on_the_schema_of_its_own_migrations_and_leaves_no_note(migrated_db, run_app):
    with migrated_db.connect() as c:
        c.execute("INSERT INTO notes (title) VALUES ('kept')")
    before, ids_before = rows(migrated_db), ids_taken(migrated_db)
    result = run_app("selfcheck", migrated_db.env())
    assert result.returncode == 0, result.stdout + result.stderr
    ok = [e for e in logged(result.stdout) if e["event"] == "selfcheck.ok"]
    assert [e["checked"] for e in ok] == [CHECKED]
    assert ids_taken(migrated_db) > ids_before and rows(migrated_db) == before


def test_selfcheck_fails_naming_the_step_and_the_column_when_the_schema_lost_one_the_code_reads(migrated_db, run_app):
    with column_renamed(migrated_db, "body", "content"):
        result = run_app("selfcheck", migrated_db.env())
    assert result.returncode == 1
    (failing,) = [e for e in logged(result.stdout) if e["event"] == "selfcheck.failing"]
    assert failing["step"] == "create"
    assert failing["reason"].startswith("UndefinedColumn: ") and '"body"' in failing["reason"]


def test_selfcheck_fails_on_a_database_without_the_schema(new_db, run_app):
    result = run_app("selfcheck", new_db().env())
    assert result.returncode == 1
    (failing,) = [e for e in logged(result.stdout) if e["event"] == "selfcheck.failing"]
    assert failing["reason"].startswith("UndefinedTable: ")
