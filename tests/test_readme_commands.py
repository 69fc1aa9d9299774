"""Every command block the README shows is accounted for: run by CI as written, run by a named test, or
marked as needing what these machines cannot have (a real AWS account, a Docker daemon), with the reason.

A new block in the README fails here until it is listed; a listed block that left the README fails too.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL_AWS = "not run: a step of a deployment to a real AWS account, which these machines do not have"

# First line of each ```sh block -> how it is run: ("ci",) .ci/run runs every command of the block as
# written; ("test", file, text) that test file runs it (placeholders filled in) and contains `text`;
# ("not run", why).
BLOCKS = {
    "make demo     # install everything, deploy the dev stack onto a local AWS emulator, run it here; prints a URL "
    "that answers": ("ci",),
    "make synth    # or: npx cdktf synth": ("ci",),
    "make demo ENV=prod     # prod's shape here: 2 tasks, the migration task first, HTTPS with a local certificate":
        ("ci",),
    "make demo-down     # the containers, HAProxy and PostgreSQL stop; terraform destroy of dev; registry and "
    "emulator stop": ("ci",),
    "export AWS_ENDPOINT_URL=http://127.0.0.1:<port> AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
    "AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1":
        ("not run", "the AWS CLI is not installed here; tests/deploy/conftest.py makes the same calls with boto3"),
    "ENVIRONMENTS=dev npx cdktf deploy dev --auto-approve --skip-provider-lock --output .local-deploy/cdktf.out":
        ("not run", "tests/deploy runs `npx cdktf deploy` of the bootstrap stack with these flags and applies "
                    "the dev stack with terraform"),
    "python -m runner up --endpoint http://127.0.0.1:<port> --cluster notes-dev --service notes-dev-app \\":
        ("test", "tests/runner/local_system.py", '"-m", "runner"'),
    ".venv/bin/python -m release release --local --env dev": ("ci",),
    ".venv/bin/python -m release build --output .local-deploy/image.tar": ("ci",),
    "npx cdktf deploy bootstrap": ("not run", REAL_AWS),
    "ENVIRONMENTS=dev make synth": ("not run", REAL_AWS),
    "npx cdktf deploy bootstrap                      # state bucket and key, GitHub OIDC provider, CI roles":
        ("not run", REAL_AWS),
    ".venv/bin/python bench/synth.py --runs 5": ("not run", "a benchmark, run by hand: it prints figures"),
    ".venv/bin/python bench/demo.py --baseline 80634ce": ("not run", "a benchmark, run by hand (about 25 minutes): it "
                                                               "prints figures; tests/tools/test_bench_demo.py checks "
                                                               "that it reads make demo's and Terraform's lines"),
    "export DATABASE_URL=postgresql://me:secret@localhost:5432/notes DB_SSLMODE=disable":
        ("test", "tests/app/conftest.py", '"-m", "app"'),
    "docker build -t notes-app app/": ("not run", "needs a Docker daemon; image/build.py builds the same "
                                                  "Dockerfile with buildah (tests/image/test_image.py)"),
}


def blocks() -> dict[str, list[str]]:
    """First line of each ```sh block -> the block's commands, without their comments."""
    found = {}
    for block in re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        lines = [line.strip() for line in block.strip().splitlines()]
        found[lines[0]] = [re.sub(r"\s+#.*$", "", line) for line in lines]
    return found


def test_every_readme_command_block_is_accounted_for():
    unlisted = sorted(set(blocks()) - set(BLOCKS))
    assert not unlisted, f"README command blocks that no test, CI run or reason covers: {unlisted}"


def test_every_listed_block_is_still_in_the_readme():
    gone = sorted(set(BLOCKS) - set(blocks()))
    assert not gone, f"listed here but no longer in the README: {gone}"


def test_blocks_marked_for_ci_are_run_by_it_as_written():
    ci = (ROOT / ".ci" / "run").read_text()
    for first, commands in blocks().items():
        if BLOCKS.get(first) == ("ci",):
            for command in commands:
                assert re.search(rf"^{re.escape(command)}(\s|$)", ci, re.M), f"{command!r} is not in .ci/run"


def test_blocks_marked_for_a_test_are_run_by_that_test():
    for first, how in BLOCKS.items():
        if how[0] == "test":
            _, path, text = how
            assert text in (ROOT / path).read_text(), f"{path} does not run {first!r}"
