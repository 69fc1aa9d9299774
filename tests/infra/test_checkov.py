"""checkov on every synthesized stack: no failed check that the skip list does not explain, no stale entry."""
import json
import shutil

import pytest

from security.scan import Finding, Report, Skip, load_skips, scan_all, scan_stack

# Runs checkov (and terraform): an external program, left out of the unit-suite benchmark.
pytestmark = pytest.mark.integration

STACKS = ["bootstrap", "dev", "prod", "variant", "emulated"]


@pytest.fixture(scope="session")
def skips() -> list[Skip]:
    return load_skips()


@pytest.fixture(scope="session")
def reports(outdir) -> dict[str, Report]:
    """One checkov run per stack, in parallel, on the session's synthesized output."""
    return {report.stack: report for report in scan_all(outdir)}


def test_checkov_scans_every_synthesized_stack(reports, outdir):
    assert sorted(reports) == sorted(p.name for p in (outdir / "stacks").iterdir()) == sorted(STACKS)
    assert all(report.passed > 0 for report in reports.values())


@pytest.mark.parametrize("stack", STACKS)
def test_stack_fails_no_check_outside_the_skip_list(stack, reports, skips):
    unexplained = reports[stack].unexplained(skips)
    assert not unexplained, "fix these, or add a reviewed entry to security/checkov-skips.toml:\n" + "\n".join(
        f"  {f.check_id} on {f.resource}: {f.name}" for f in unexplained)


@pytest.mark.parametrize("stack", STACKS)
def test_every_skip_entry_for_the_stack_still_fails_there(stack, reports, skips):
    stale = reports[stack].stale(skips)
    assert not stale, "these checks pass now: remove their entries from security/checkov-skips.toml:\n" + \
        "\n".join(f"  {s.check} on {s.resource}" for s in stale)


def test_skip_list_names_only_stacks_that_exist(skips):
    assert {stack for skip in skips for stack in skip.stacks} <= set(STACKS)


def test_prod_skips_only_what_no_environment_can_pass(skips):
    # Every prod entry also holds for variant (all features on): prod has no weakening of its own.
    prod = {(s.check, s.resource) for s in skips if "prod" in s.stacks}
    assert prod == {(s.check, s.resource) for s in skips if "variant" in s.stacks}


def test_a_new_finding_fails_the_suite(outdir, tmp_path, skips):
    # GIVEN dev with one protection removed by hand
    stack_dir = tmp_path / "stacks" / "dev"
    shutil.copytree(outdir / "stacks" / "dev", stack_dir)
    tf = json.loads((stack_dir / "cdk.tf.json").read_text())
    (alb,) = tf["resource"]["aws_lb"].values()
    del alb["drop_invalid_header_fields"]
    (stack_dir / "cdk.tf.json").write_text(json.dumps(tf))
    # WHEN checkov scans it THEN that check is unexplained
    unexplained = scan_stack(tmp_path, "dev").unexplained(skips)
    assert [(f.check_id, f.logical_id.rsplit("_", 1)[0]) for f in unexplained] == [("CKV_AWS_131", "load-balancer_alb")]


def test_an_entry_covers_only_its_check_its_stacks_and_its_resource():
    skip = Skip("CKV_AWS_18", ("dev",), "access-logs_bucket", "reason in one sentence here")
    assert skip.covers("dev", Finding("CKV_AWS_18", "aws_s3_bucket.access-logs_bucket_7E528747", ""))
    assert skip.covers("dev", Finding("CKV_AWS_18", "resource.access-logs_bucket_7E528747", ""))
    assert not skip.covers("prod", Finding("CKV_AWS_18", "aws_s3_bucket.access-logs_bucket_7E528747", ""))
    assert not skip.covers("dev", Finding("CKV_AWS_21", "aws_s3_bucket.access-logs_bucket_7E528747", ""))
    assert not skip.covers("dev", Finding("CKV_AWS_18", "aws_s3_bucket.access-logs_bucket_other_7E528747", ""))


@pytest.mark.parametrize("entry, message", [
    ('check = "CKV_AWS_18"\nstacks = ["dev"]\nresource = "x"', r"needs exactly check, stacks, resource and reason"),
    ('check = "AWS_18"\nstacks = ["dev"]\nresource = "x"\nreason = "a reason long enough to read"', r"not a checkov check ID"),
    ('check = "CKV_AWS_18"\nstacks = []\nresource = "x"\nreason = "a reason long enough to read"', r"non-empty list"),
    ('check = "CKV_AWS_18"\nstacks = ["dev"]\nresource = "x"\nreason = "because"', r"give the reason in a sentence"),
])
def test_a_skip_entry_without_a_check_stacks_resource_or_reason_is_refused(entry, message, tmp_path):
    path = tmp_path / "skips.toml"
    path.write_text(f"[[skip]]\n{entry}\n")
    with pytest.raises(ValueError, match=message):
        load_skips(path)
