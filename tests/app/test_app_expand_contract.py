"""The README's expand/contract pair, as written there: after the expand the running code (this checkout's)
still passes `python -m app selfcheck`; after the contract it fails, naming the column it still reads."""

import json
import re
from pathlib import Path


README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_migration(first_word: str) -> str:
    (found,) = [block for block in re.findall(r"```python\n(.*?)```", README, re.S)
                if block.startswith(f'"""{first_word}: ')]
    return found


def selfcheck(run_app, db, migrations: Path) -> tuple[int, list[dict]]:
    migrated = run_app("migrate", db.env() | {"MIGRATIONS_LOCATION": str(migrations)})
    assert migrated.returncode == 0, migrated.stdout
    checked = run_app("selfcheck", db.env())
    return checked.returncode, [json.loads(line) for line in checked.stdout.splitlines() if line.startswith("{")]


def test_the_running_code_passes_after_the_expand_and_fails_after_the_contract(new_db, run_app, migrations_copy):
    db = new_db()
    assert run_app("migrate", db.env()).returncode == 0
    with db.connect() as c:
        c.execute("INSERT INTO notes (title, body) VALUES ('kept', 'its body')")
    migrations = migrations_copy

    (migrations / "versions" / "0002_expand.py").write_text(readme_migration("Expand"))
    code, _ = selfcheck(run_app, db, migrations)
    assert code == 0
    with db.connect() as c:
        assert c.execute("SELECT body, content FROM notes").fetchall() == [("its body", "its body")]

    (migrations / "versions" / "0003_contract.py").write_text(readme_migration("Contract"))
    code, logged = selfcheck(run_app, db, migrations)
    assert code == 1
    (failing,) = [e for e in logged if e["event"] == "selfcheck.failing"]
    assert failing["step"] == "create" and failing["reason"].startswith("UndefinedColumn: column \"body\"")
