"""`make demo` deploys the first environment of infra/environments.py, whatever it is called."""
from infra import environments
from tests.stacks import TEST_STACK_CONFIGS


def test_make_demo_deploys_the_first_configured_environment_whatever_its_name(monkeypatch):
    import demo.__main__ as demo

    # GIVEN a configuration whose first entry is one the repository does not ship
    first = TEST_STACK_CONFIGS["weakened"]
    monkeypatch.setattr(environments, "ENVIRONMENTS", {first.name: first, **environments.ENVIRONMENTS})
    chosen = []
    monkeypatch.setattr(demo, "up", lambda args: chosen.append((args.stack, args.region)) or 0)
    # WHEN `make demo` runs without --stack
    assert demo.main(["up"]) == 0
    # THEN it deploys that first environment, in its region
    assert chosen == [(first.name, first.region)]
