"""The alarm on the app's errors counts what the app really writes: its metric filter's pattern
(infra/monitoring.py APP_ERROR_PATTERN) matched, as CloudWatch Logs matches it (tests/filter_pattern.py), against
the lines of a real run, so that a change of the log's format cannot blind the alarm without this failing."""

from infra.monitoring import APP_ERROR_PATTERN
from tests.filter_pattern import matches


def test_an_error_the_app_logs_is_counted_and_its_other_lines_are_not(new_db, run_app):
    # GIVEN the app run against a database without its schema: it logs an ERROR line and exits 1
    result = run_app("selfcheck", new_db().env())
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 1 and lines, result.stdout + result.stderr
    counted = [line for line in lines if matches(APP_ERROR_PATTERN, line)]
    # THEN the filter counts exactly that line, and none of the INFO lines before it
    assert len(counted) == 1 and '"selfcheck.failing"' in counted[0], lines
    assert len(lines) > len(counted), "the run wrote other lines too, which are not counted"


def test_a_line_in_another_format_would_not_be_counted():
    """What the test above guards against: the same error, logged under another key, is invisible to the filter."""
    assert matches(APP_ERROR_PATTERN, '{"level": "ERROR", "event": "x"}')
    assert matches(APP_ERROR_PATTERN, '{"level": "CRITICAL", "event": "x"}')
    assert not matches(APP_ERROR_PATTERN, '{"severity": "ERROR", "event": "x"}')
    assert not matches(APP_ERROR_PATTERN, 'ERROR x')
