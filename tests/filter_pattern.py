"""CloudWatch Logs' JSON filter patterns, matched here as CloudWatch matches them, for tests that must know whether
a metric filter (infra/monitoring.py APP_ERROR_PATTERN) counts the lines the app really writes.

No package implements them (PyPI has none; moto stores metric filters without evaluating them, and its
FilterLogEvents treats `{...}` as matching everything), so this follows the CloudWatch Logs User Guide, "Filter
pattern syntax for metric filters, subscription filters, filter log events, and Live Tail", JSON part:

    { SELECTOR OP VALUE }            selector $.a.b, $.list[0].c; OP = != < > <= >=
    { SELECTOR IS NULL | NOT EXISTS | IS TRUE | IS FALSE }
    { (A) && (B) }  { A || B }       && binds tighter than ||; parentheses group
    VALUE: "quoted" or bare text (`*` at its start or end is a wildcard, one inside is itself), or a number

An event that is not a JSON object matches no JSON pattern; a selector that names nothing does not match
(`=` and `!=` alike), nor one that names an object or array. Only what the tests use is implemented, and
anything else is refused (ValueError) rather than guessed.
"""
from __future__ import annotations

import json
import re

_TOKEN = re.compile(r'\s*(\(|\)|&&|\|\||"(?:[^"\\]|\\.)*"|!=|<=|>=|=|<|>|[^\s()&|"=!<>]+)')
_MISSING = object()


def _tokens(pattern: str) -> list[str]:
    text = pattern.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"not a JSON filter pattern (in braces): {pattern!r}")
    body, tokens, at = text[1:-1], [], 0
    while at < len(body.rstrip()):
        found = _TOKEN.match(body, at)
        if not found:
            raise ValueError(f"cannot read {body[at:]!r} in {pattern!r}")
        tokens.append(found.group(1))
        at = found.end()
    return tokens


def _select(event: object, selector: str) -> object:
    if not selector.startswith("$"):
        raise ValueError(f"a selector starts with $: {selector!r}")
    value = event
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector[1:]):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(value: object, op: str, operand: str) -> bool:
    if value is _MISSING or isinstance(value, (dict, list)):
        return False
    quoted = operand.startswith('"')
    text = json.loads(operand) if quoted else operand
    number = None if quoted else _number(text)
    if op in ("<", ">", "<=", ">=") or (number is not None and isinstance(value, (int, float))
                                        and not isinstance(value, bool)):
        if number is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            return False if op != "!=" else True
        return {"=": value == number, "!=": value != number, "<": value < number, ">": value > number,
                "<=": value <= number, ">=": value >= number}[op]
    if not isinstance(value, str):
        value = json.dumps(value)
    expression = ("^" + (".*" if text.startswith("*") else "") + re.escape(text.strip("*"))
                  + (".*" if text.endswith("*") and len(text) > 1 else "") + "$")
    equal = re.match(expression, value, re.S) is not None
    return equal if op == "=" else not equal


class _Parser:
    def __init__(self, tokens: list[str], event: object) -> None:
        self.tokens, self.at, self.event = tokens, 0, event

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError("the pattern ends too early")
        self.at += 1
        return token

    def any_of(self) -> bool:
        result = self.all_of()
        while self._peek() == "||":
            self._take()
            result = self.all_of() or result
        return result

    def all_of(self) -> bool:
        result = self.term()
        while self._peek() == "&&":
            self._take()
            result = self.term() and result
        return result

    def term(self) -> bool:
        if self._peek() == "(":
            self._take()
            result = self.any_of()
            if self._take() != ")":
                raise ValueError("a ( is not closed")
            return result
        value = _select(self.event, self._take())
        op = self._take()
        if op == "IS":
            word = self._take()
            return {"NULL": value is None, "TRUE": value is True, "FALSE": value is False}[word]
        if op == "NOT":
            if self._take() != "EXISTS":
                raise ValueError("NOT is followed by EXISTS")
            return value is _MISSING
        if op not in ("=", "!=", "<", ">", "<=", ">="):
            raise ValueError(f"unknown comparison {op!r}")
        return _compare(value, op, self._take())


def matches(pattern: str, line: str) -> bool:
    """Whether CloudWatch Logs would count `line` (one log event) for the JSON filter `pattern`."""
    tokens = _tokens(pattern)
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        _Parser(tokens, {}).any_of()  # still refuse a pattern this module cannot read
        return False
    parser = _Parser(tokens, event)
    result = parser.any_of()
    if parser.at != len(tokens):
        raise ValueError(f"cannot read {' '.join(tokens[parser.at:])!r} in {pattern!r}")
    return result
