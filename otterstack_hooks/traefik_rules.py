"""Traefik's rule language (pure): the bounded parser, the requests a probe derives from a
rule, and whether two routers' rules may overlap.

Rules come from users' labels and are parsed under the deploy lock, so the work is bounded
(MAX_ALTERNATIVES, MAX_RULE_DEPTH, MAX_RULE_MATCHERS): past a bound the rule is RuleTooComplex
and the router is confirmed through Traefik's API only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class RuleTooComplex(ValueError):
    """A rule whose expansion into alternatives would pass MAX_ALTERNATIVES: we do not derive
    probe requests from it (Traefik's API still confirms the router)."""


_TOKEN = re.compile(r'\s*(?:(&&|\|\||[!(),])|([A-Za-z]+)|`([^`]*)`|"((?:[^"\\]|\\.)*)")')
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class _Matcher:
    """`Name(args...)` with the name lower-cased (Traefik matches names case-insensitively)."""

    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class _Not:
    operand: _Node


@dataclass(frozen=True)
class _Binary:
    operator: str
    left: _Node
    right: _Node


_Node = _Matcher | _Not | _Binary
_Literal = tuple[bool, _Matcher]


MAX_ALTERNATIVES = 256  # conjunctions of the expanded rule; 2**n for n `(a || b) && ...`
MAX_RULE_DEPTH = 100  # nesting of parentheses and `!`
MAX_RULE_MATCHERS = 128  # a long `a && b && ...` chain is as deep as it is long


def host_rules(rule: str) -> list[tuple[str, str]]:
    """(host, path_prefix) pairs a real request can use to reach a router with this rule.

    Only Host, Path and PathPrefix constrain the result; other matchers are assumed
    satisfiable. Hosts are lower-cased. Raises ValueError if the rule can't be parsed, and
    RuleTooComplex (bounded work, under the deploy lock) if it expands too far.
    """
    pairs = (
        (host, path)
        for conjunction in _dnf(_RuleParser(rule).parse())
        for host in _hosts(conjunction)
        for path in _paths(conjunction)
    )
    return list(dict.fromkeys(pairs))


def _tokenize(rule: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: kind is 'op', 'name' or 'string'."""
    tokens: list[tuple[str, str]] = []
    position, end = 0, len(rule.rstrip())
    while position < end:
        match = _TOKEN.match(rule, position)
        if match is None:
            raise ValueError(f"can't parse rule {rule!r} at offset {position}")
        operator, name, raw, quoted = match.groups()
        if operator is not None:
            tokens.append(("op", operator))
        elif name is not None:
            tokens.append(("name", name))
        else:
            tokens.append(("string", raw if raw is not None else _ESCAPE.sub(r"\1", quoted)))
        position = match.end()
    return tokens


class _RuleParser:
    """Recursive descent: `||` binds loosest, then `&&`, then `!` and parentheses."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.tokens = _tokenize(rule)
        self.position = 0
        self.depth = 0
        if sum(kind == "name" for kind, _ in self.tokens) > MAX_RULE_MATCHERS:
            raise RuleTooComplex(f"rule has more than {MAX_RULE_MATCHERS} matchers")

    def parse(self) -> _Node:
        node = self._or()
        if self.position != len(self.tokens):
            raise self._error()
        return node

    def _or(self) -> _Node:
        node = self._and()
        while self._accept("||"):
            node = _Binary("||", node, self._and())
        return node

    def _and(self) -> _Node:
        node = self._unary()
        while self._accept("&&"):
            node = _Binary("&&", node, self._unary())
        return node

    def _unary(self) -> _Node:
        self.depth += 1
        if self.depth > MAX_RULE_DEPTH:
            raise RuleTooComplex(f"rule nests deeper than {MAX_RULE_DEPTH}")
        try:
            return self._operand()
        finally:
            self.depth -= 1

    def _operand(self) -> _Node:
        if self._accept("!"):
            return _Not(self._unary())
        if self._accept("("):
            node = self._or()
            self._expect(")")
            return node
        name = self._take("name")
        self._expect("(")
        args = [self._take("string")]
        while self._accept(","):
            args.append(self._take("string"))
        self._expect(")")
        return _Matcher(name.lower(), tuple(args))

    def _accept(self, operator: str) -> bool:
        if self.tokens[self.position : self.position + 1] == [("op", operator)]:
            self.position += 1
            return True
        return False

    def _expect(self, operator: str) -> None:
        if not self._accept(operator):
            raise self._error()

    def _take(self, kind: str) -> str:
        if self.position >= len(self.tokens) or self.tokens[self.position][0] != kind:
            raise self._error()
        self.position += 1
        return self.tokens[self.position - 1][1]

    def _error(self) -> ValueError:
        return ValueError(f"can't parse rule {self.rule!r} at token {self.position + 1}")


def _dnf(node: _Node, positive: bool = True) -> list[list[_Literal]]:
    """The rule as alternatives (OR) of conjunctions (AND) of possibly negated matchers."""
    if isinstance(node, _Matcher):
        return [[(positive, node)]]
    if isinstance(node, _Not):
        return _dnf(node.operand, not positive)
    left, right = _dnf(node.left, positive), _dnf(node.right, positive)
    conjunctive = (node.operator == "&&") == positive
    if (len(left) * len(right) if conjunctive else len(left) + len(right)) > MAX_ALTERNATIVES:
        raise RuleTooComplex(f"rule expands to more than {MAX_ALTERNATIVES} alternatives")
    if conjunctive:
        return [a + b for a in left for b in right]
    return left + right


def _hosts(conjunction: list[_Literal]) -> list[str]:
    """Hosts every Host matcher of the conjunction accepts; none if there is no Host."""
    allowed: list[str] | None = None
    excluded: set[str] = set()
    for positive, matcher in conjunction:
        if matcher.name != "host":
            continue
        hosts = [host.lower() for host in matcher.args]
        if not positive:
            excluded.update(hosts)
        else:
            allowed = hosts if allowed is None else [host for host in allowed if host in hosts]
    return [host for host in dict.fromkeys(allowed or []) if host not in excluded]


def _paths(conjunction: list[_Literal]) -> list[str]:
    """Paths named by Path/PathPrefix (default "/") that satisfy every path matcher."""
    constraints = [(p, m) for p, m in conjunction if m.name in ("path", "pathprefix")]
    candidates = [arg for positive, m in constraints if positive for arg in m.args] or ["/"]
    return [
        path
        for path in dict.fromkeys(candidates)
        if all(_path_matches(matcher, path) == positive for positive, matcher in constraints)
    ]


def _path_matches(matcher: _Matcher, path: str) -> bool:
    """Whether a request for `path` satisfies a Path or PathPrefix matcher."""
    if matcher.name == "path":
        return path in matcher.args
    return any(path.startswith(prefix) for prefix in matcher.args)


def may_overlap(protocol: str, rule: str | None, entrypoints: list[str] | tuple[str, ...],
                other_rule: str | None, other_entrypoints: list[str] | tuple[str, ...]) -> bool:
    """Whether some request could match both routers (conservative: True when unsure).

    Routers on disjoint entrypoints never meet (no entrypoints means all of them). HTTP rules
    meet unless both constrain the Host to disjoint sets; anything else may always meet.
    """
    if entrypoints and other_entrypoints and not set(entrypoints) & set(other_entrypoints):
        return False
    if protocol != "http":
        return True
    hosts, other_hosts = _host_set(rule), _host_set(other_rule)
    return hosts is None or other_hosts is None or bool(hosts & other_hosts)


def _host_set(rule: str | None) -> set[str] | None:
    """Every host a rule can match, or None when some alternative matches any host."""
    if not rule:
        return None
    try:
        conjunctions = _dnf(_RuleParser(rule).parse())
    except ValueError:
        return None
    hosts: set[str] = set()
    for conjunction in conjunctions:
        if not any(positive and matcher.name == "host" for positive, matcher in conjunction):
            return None
        hosts.update(_hosts(conjunction))
    return hosts
