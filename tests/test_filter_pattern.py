"""tests/filter_pattern.py reads CloudWatch Logs' JSON filter patterns as the CloudWatch Logs User Guide's own
examples ("Filter pattern syntax ...", JSON log events) say they match."""
import json

import pytest

from tests.filter_pattern import matches

EVENT = json.dumps({
    "eventType": "UpdateTrail", "sourceIPAddress": "123.123.123.123", "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": None, "cluster": True,
    "ThisFlag": False, "user": {"id": 1, "email": "John.Doe@example.com"}, "bandwidth": 75, "latency": 50,
    "users": [{"id": 2, "email": "John.Doe@example.com"}]})


@pytest.mark.parametrize("pattern, expected", [
    ('{ $.eventType = "UpdateTrail" }', True),
    ('{ $.eventType = "DeleteTrail" }', False),
    ('{ $.eventType != "DeleteTrail" }', True),
    ('{ $.sourceIPAddress != 123.123.* }', False),
    ('{ $.sourceIPAddress = 123.123.* }', True),
    ('{ $.arrayKey[0] = "value" }', True),
    ('{ $.objectList[1].id = 2 }', True),
    ('{ $.objectList[1].id > 2 }', False),
    ('{ $.SomeObject IS NULL }', True),
    ('{ $.SomeOtherObject NOT EXISTS }', True),
    ('{ $.eventType NOT EXISTS }', False),
    ('{ $.cluster IS TRUE }', True),
    ('{ $.ThisFlag IS FALSE }', True),
    ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
    ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
    ('{ $.bandwidth > 75 || $.latency < 100 }', True),
    ('{ $.user = "x" }', False),  # an object is never equal (or unequal) to a value
    ('{ $.user != "x" }', False),
    ('{ $.missing != "x" }', False),  # nor is a field that is not there
])
def test_the_user_guides_examples_match_as_documented(pattern, expected):
    assert matches(pattern, EVENT) is expected


def test_a_line_that_is_not_a_json_object_matches_no_json_pattern():
    assert not matches('{ $.level = "ERROR" }', 'ERROR something failed')
    assert not matches('{ $.level = "ERROR" }', '["ERROR"]')


def test_a_star_inside_a_value_is_itself_not_a_wildcard():
    assert matches('{ $.a = E*R }', '{"a": "E*R"}') and not matches('{ $.a = E*R }', '{"a": "EXR"}')


@pytest.mark.parametrize("pattern", ['$.level = "ERROR"', '{ $.level ~ "x" }', '{ ($.a = 1 }', '{ $.a IS }'])
def test_what_it_cannot_read_is_refused_not_guessed(pattern):
    with pytest.raises(ValueError):
        matches(pattern, EVENT)
