"""Traefik's rule language (pure): the bounded parser, the requests a probe derives from a
rule, and whether two routers' rules may overlap.

Rules come from users' labels and are parsed under the deploy lock, so the work is bounded
(MAX_ALTERNATIVES, MAX_RULE_DEPTH, MAX_RULE_MATCHERS): past a bound the rule is RuleTooComplex
and the router is confirmed through Traefik's API only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class RuleTooComplex(ValueError):
    """A rule whose expansion into alternatives would pass MAX_ALTERNATIVES: we do not derive
    probe requests from it (Traefik's API still confirms the router)."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("&&", "||", "!", "(", ")", ",")
_SPACE = " \t\r\n"  # Go's whitespace; anything else outside a string is a syntax error
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                   "v": "\v", "\\": "\\", '"': '"'}
_HEX = "0123456789abcdefABCDEF"


@dataclass(frozen=True)
class Matcher:
    """`Name(args...)`: `name` lower-cased (the parts of OtterStack that read rules compare it
    that way), `spelled` as written (Traefik accepts only some spellings, see rule_syntax)."""

    name: str
    args: tuple[str, ...]
    spelled: str = field(default="", compare=False)


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Binary:
    operator: str
    left: Node
    right: Node


Node = Matcher | Not | Binary
_Literal = tuple[bool, Matcher]


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
        for conjunction in _dnf(parse_rule(rule))
        for host in _hosts(conjunction)
        for path in _paths(conjunction)
    )
    return list(dict.fromkeys(pairs))


def alternatives(rule: str) -> list[list[tuple[bool, Matcher]]]:
    """The rule as alternatives (OR) of conjunctions (AND) of (positive, matcher): a request
    matches the rule when it matches every literal of some alternative. Raises ValueError
    where Traefik's parser would fail, and RuleTooComplex past the bounds."""
    return _dnf(parse_rule(rule))


def parse_rule(rule: str) -> Node:
    """The rule's tree, as Traefik's parser (Go's own expression parser) reads it. Raises
    ValueError where Go's parser would fail, and RuleTooComplex past the bounds."""
    return _RuleParser(rule).parse()


def _tokenize(rule: str) -> list[tuple[str, str]]:
    """(kind, text) tokens, kind 'op', 'name' or 'string', read as Go reads an expression:
    Go's whitespace and comments, raw (backquoted) and interpreted (double-quoted) strings
    with Go's escapes. A line break after a name, a string or `)` ends the expression in Go
    (an automatic semicolon): only whitespace and comments may follow it."""
    tokens: list[tuple[str, str]] = []
    position, end, line_break = 0, len(rule), False
    while position < end:
        char = rule[position]
        if char in _SPACE:
            line_break |= char == "\n"
            position += 1
            continue
        if rule.startswith("//", position):
            newline = rule.find("\n", position)
            position = end if newline < 0 else newline
            continue
        if rule.startswith("/*", position):
            close = rule.find("*/", position + 2)
            if close < 0:
                raise ValueError(f"can't parse rule {rule!r}: a comment is not closed")
            line_break |= "\n" in rule[position:close]
            position = close + 2
            continue
        if line_break and tokens and (tokens[-1][0] != "op" or tokens[-1][1] == ")"):
            raise ValueError(f"can't parse rule {rule!r}: a line break after "
                             f"{tokens[-1][1]!r} ends it for Traefik (Go inserts a ';' "
                             "there): write the rule on one line, or break after && or ||")
        line_break = False
        operator = next((op for op in _OPERATORS if rule.startswith(op, position)), None)
        name = _NAME.match(rule, position)
        if operator is not None:
            tokens.append(("op", operator))
            position += len(operator)
        elif name is not None:
            tokens.append(("name", name.group()))
            position = name.end()
        elif char == "`":
            close = rule.find("`", position + 1)
            if close < 0:
                raise ValueError(f"can't parse rule {rule!r}: a `...` string is not closed")
            tokens.append(("string", rule[position + 1:close].replace("\r", "")))
            position = close + 1
        elif char == '"':
            value, position = _interpreted(rule, position)
            tokens.append(("string", value))
        else:
            raise ValueError(f"can't parse rule {rule!r} at offset {position}")
    return tokens


def _interpreted(rule: str, start: int) -> tuple[str, int]:
    """A double-quoted Go string at `start`: its value and the offset after it. Go refuses a
    line break inside and any escape it does not know (`"\\."` too: write `\\.` in `...`)."""
    out: list[str] = []
    position = start + 1
    while position < len(rule) and rule[position] not in '"\n':
        char = rule[position]
        escape = rule[position + 1:position + 2]
        if char != "\\":
            out.append(char)
            position += 1
        elif escape and escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            position += 2
        else:
            value, size = _numeric_escape(rule, position)
            out.append(chr(value))
            position += size
    if position >= len(rule) or rule[position] != '"':
        raise ValueError(f"can't parse rule {rule!r}: a \"...\" string is not closed")
    return "".join(out), position + 1


def _numeric_escape(rule: str, position: int) -> tuple[int, int]:
    """Go's `\\ooo`, `\\xhh`, `\\uhhhh` and `\\Uhhhhhhhh` at `position`: the value and the
    escape's length. A byte (octal, hex) is kept as the code point of that value."""
    escape = rule[position + 1:position + 2]
    if escape and escape in "01234567":
        digits, base, limit = rule[position + 1:position + 4], 8, 255
        size = 3
    elif escape and escape in "xuU":
        size = {"x": 2, "u": 4, "U": 8}[escape]
        digits, base, limit = rule[position + 2:position + 2 + size], 16, (
            255 if escape == "x" else 0x10FFFF)
    else:
        digits, base, limit, size = "", 16, 0, 1
    allowed = "01234567" if base == 8 else _HEX
    value = int(digits, base) if len(digits) == size and all(c in allowed for c in digits) \
        else -1
    if not 0 <= value <= limit or 0xD800 <= value <= 0xDFFF:
        raise ValueError(f"can't parse rule {rule!r}: {rule[position:position + 2]!r} at offset "
                         f"{position} is not an escape Go knows (write the string in `...`)")
    return value, len(digits) + (1 if base == 8 else 2)


class _RuleParser:
    """Recursive descent: `||` binds loosest, then `&&`, then `!` and parentheses."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.tokens = _tokenize(rule)
        self.position = 0
        self.depth = 0
        if sum(kind == "name" for kind, _ in self.tokens) > MAX_RULE_MATCHERS:
            raise RuleTooComplex(f"rule has more than {MAX_RULE_MATCHERS} matchers")

    def parse(self) -> Node:
        node = self._or()
        if self.position != len(self.tokens):
            raise self._error()
        return node

    def _or(self) -> Node:
        node = self._and()
        while self._accept("||"):
            node = Binary("||", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._unary()
        while self._accept("&&"):
            node = Binary("&&", node, self._unary())
        return node

    def _unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_RULE_DEPTH:
            raise RuleTooComplex(f"rule nests deeper than {MAX_RULE_DEPTH}")
        try:
            return self._operand()
        finally:
            self.depth -= 1

    def _operand(self) -> Node:
        if self._accept("!"):
            return Not(self._unary())
        if self._accept("("):
            node = self._or()
            self._expect(")")
            return node
        name = self._take("name")
        self._expect("(")
        args: list[str] = []
        while not self._accept(")"):  # Go allows no argument, and a comma after the last
            args.append(self._take("string"))
            if not self._accept(","):
                self._expect(")")
                break
        return Matcher(name.lower(), tuple(args), name)

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


def _dnf(node: Node, positive: bool = True) -> list[list[_Literal]]:
    """The rule as alternatives (OR) of conjunctions (AND) of possibly negated matchers."""
    if isinstance(node, Matcher):
        return [[(positive, node)]]
    if isinstance(node, Not):
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


def _path_matches(matcher: Matcher, path: str) -> bool:
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
        conjunctions = _dnf(parse_rule(rule))
    except ValueError:
        return None
    hosts: set[str] = set()
    for conjunction in conjunctions:
        if not any(positive and matcher.name == "host" for positive, matcher in conjunction):
            return None
        hosts.update(_hosts(conjunction))
    return hosts
