"""checkov on every synthesized stack: no failed check that the skip list does not explain, no stale entry."""
import json
import shutil
from types import SimpleNamespace

import pytest

from security.scan import Finding, Report, Skip, Stack, load_skips, scan_all, scan_stack

# Runs checkov (and terraform): an external program, left out of the unit-suite benchmark.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def skips() -> list[Skip]:
    return load_skips()


@pytest.fixture(scope="session")
def reports(outdir, stack_configs) -> dict[str, Report]:
    """One checkov run per stack, in parallel, on the session's synthesized output."""
    return {report.stack.name: report for report in scan_all(outdir, stack_configs)}


def test_checkov_scans_every_synthesized_stack(reports, outdir):
    assert sorted(reports) == sorted(p.name for p in (outdir / "stacks").iterdir())
    assert all(report.passed > 0 for report in reports.values())


def test_every_stack_fails_no_check_outside_the_skip_list(reports, skips):
    unexplained = {name: report.unexplained(skips) for name, report in reports.items()}
    assert not any(unexplained.values()), \
        "fix these, or add a reviewed entry to security/checkov-skips.toml:\n" + "\n".join(
            f"  {name}: {f.check_id} on {f.resource}: {f.name}" for name, found in unexplained.items() for f in found)


def test_every_skip_entry_that_applies_to_a_stack_still_fails_there(reports, skips):
    stale = {name: report.stale(skips) for name, report in reports.items()}
    assert not any(stale.values()), "these checks pass now: remove their entries from security/checkov-skips.toml:\n" + \
        "\n".join(f"  {name}: {s.describe()}" for name, found in stale.items() for s in found)


def test_every_skip_entry_applies_to_some_synthesized_stack(reports, skips):
    unused = [s.describe() for s in skips if not any(s.applies(r.stack) for r in reports.values())]
    assert not unused, f"entries no stack needs: {unused}"


def test_a_stack_that_weakens_nothing_skips_only_what_no_environment_can_pass(skips):
    # Entries without a `when` hold for every stack of their kind: they must not depend on a setting.
    unconditional = {(s.check, s.resource) for s in skips if not s.when}
    conditional = {(s.check, s.resource) for s in skips if s.when}
    assert not unconditional & conditional


def test_a_new_finding_fails_the_suite(outdir, tmp_path, skips, stack_configs):
    # GIVEN the first environment's stack with one protection removed by hand
    stack = next(s for s in stack_configs.values() if s.kind == "app")
    stack_dir = tmp_path / "stacks" / stack.name
    shutil.copytree(outdir / "stacks" / stack.name, stack_dir)
    tf = json.loads((stack_dir / "cdk.tf.json").read_text())
    (alb,) = tf["resource"]["aws_lb"].values()
    del alb["drop_invalid_header_fields"]
    (stack_dir / "cdk.tf.json").write_text(json.dumps(tf))
    # WHEN checkov scans it THEN that check is unexplained
    unexplained = scan_stack(tmp_path, stack).unexplained(skips)
    assert [(f.check_id, f.logical_id.rsplit("_", 1)[0]) for f in unexplained] == [("CKV_AWS_131", "load-balancer_alb")]


def _app(name: str, **settings) -> Stack:
    from infra.config import LoadBalancerConfig
    return Stack(name, "app", SimpleNamespace(load_balancer=LoadBalancerConfig(**settings)))


def test_an_entry_covers_only_its_check_its_kind_of_stack_and_its_resource():
    skip = Skip("CKV_AWS_18", "app", "access-logs_bucket", "reason in one sentence here")
    found = Finding("CKV_AWS_18", "aws_s3_bucket.access-logs_bucket_7E528747", "")
    assert skip.covers(_app("any"), found)
    assert skip.covers(_app("any"), Finding("CKV_AWS_18", "resource.access-logs_bucket_7E528747", ""))
    assert not skip.covers(Stack("bootstrap", "bootstrap", None), found)
    assert not skip.covers(_app("any"), Finding("CKV_AWS_21", "aws_s3_bucket.access-logs_bucket_7E528747", ""))
    assert not skip.covers(_app("any"), Finding("CKV_AWS_18", "aws_s3_bucket.access-logs_bucket_other_7E528747", ""))


def test_an_entry_with_a_condition_covers_a_stack_only_while_its_settings_hold():
    # GIVEN an entry for plain-HTTP load balancers, and two stacks of any names
    skip = Skip("CKV_AWS_2", "app", "load-balancer_http", "reason in one sentence here",
                when=(("load_balancer.http_only", True),))
    found = Finding("CKV_AWS_2", "aws_lb_listener.load-balancer_http_1A2B3C4D", "")
    plain = _app("staging", http_only=True)
    secure = _app("staging", certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/abc",
                  domain_name="notes.example.com")
    # THEN it explains the finding only where the setting makes it true
    assert skip.covers(plain, found) and not skip.covers(secure, found)


def test_a_condition_on_a_setting_that_does_not_exist_is_an_error():
    skip = Skip("CKV_AWS_2", "app", "x", "reason in one sentence here", when=(("load_balancer.https", True),))
    with pytest.raises(ValueError, match="'load_balancer.https', which is not a setting"):
        skip.applies(_app("any", http_only=True))


def test_a_stack_without_configuration_is_refused_by_name(outdir):
    with pytest.raises(ValueError, match="no configuration for stack"):
        scan_all(outdir, {})


@pytest.mark.parametrize("entry, message", [
    ('check = "CKV_AWS_18"\nkind = "app"\nresource = "x"', r"needs check, kind, resource and reason"),
    ('check = "CKV_AWS_18"\nstacks = ["dev"]\nkind = "app"\nresource = "x"\nreason = "a reason long enough to read"',
     r"needs check, kind, resource and reason"),
    ('check = "AWS_18"\nkind = "app"\nresource = "x"\nreason = "a reason long enough to read"', r"not a checkov check ID"),
    ('check = "CKV_AWS_18"\nkind = "dev"\nresource = "x"\nreason = "a reason long enough to read"', r"kind must be one of"),
    ('check = "CKV_AWS_18"\nkind = "app"\nwhen = "http_only"\nresource = "x"\nreason = "a reason long enough"',
     r"when must be a table"),
    ('check = "CKV_AWS_18"\nkind = "app"\nresource = "x"\nreason = "because"', r"give the reason in a sentence"),
])
def test_a_skip_entry_without_a_check_kind_resource_or_reason_is_refused(entry, message, tmp_path):
    path = tmp_path / "skips.toml"
    path.write_text(f"[[skip]]\n{entry}\n")
    with pytest.raises(ValueError, match=message):
        load_skips(path)
