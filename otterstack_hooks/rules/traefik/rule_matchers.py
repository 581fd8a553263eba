"""Traefik's rule matchers (pure): which exist in each rule syntax for HTTP and TCP routers,
how they may be spelled, and which arguments each takes, checked as Traefik checks them when
it loads a router. A matcher Traefik refuses disables the whole router.

Read from Traefik 3.7's source: pkg/muxer/http/matcher.go (v3) and matcher_v2.go (v2),
pkg/muxer/tcp/matcher.go and matcher_v2.go, pkg/rules/parser.go (names and empty arguments),
and for v2's `{name:pattern}` templates the gorilla/mux fork Traefik uses (regexp.go, route.go).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from otterstack_hooks.rules.traefik.go_regexp import regexp_error

ACME_TLS_ALPN = "acme-tls/1"  # Traefik keeps it for its own TLS challenge
_SNI_V3 = re.compile(r"(\*\.)?[A-Za-z0-9_.\-:]+")  # `^(\*\.)?[[:word:]\.\-\:]+$`
_SNI_V2 = re.compile(r"[A-Za-z0-9_.\-:]+")
_GO_META = frozenset("\\.+*?()|[]{}^$")


class RuleSyntax(StrEnum):
    """Traefik's two rule languages: v3's, its default, and v2's, kept for migrations
    (`core.defaultRuleSyntax`, or a router's `ruleSyntax` label)."""

    V2 = "v2"
    V3 = "v3"


DEFAULT_RULE_SYNTAX = RuleSyntax.V3

Check = Callable[[tuple[str, ...]], str | None]


def _fine(args: tuple[str, ...]) -> str | None:
    return None


@dataclass(frozen=True)
class MatcherSpec:
    """One matcher of one syntax: Traefik's name, how many arguments it takes (empty: any
    number, v2's matchers mostly), and what it requires of them."""

    name: str
    counts: tuple[int, ...] = ()
    check: Check = _fine

    @property
    def spellings(self) -> tuple[str, ...]:
        """Traefik registers each name as written, in lower case, in upper case and title
        case (`HostRegexp`, `hostregexp`, `HOSTREGEXP`, `Hostregexp`), and no other way."""
        lower = self.name.lower()
        return tuple(dict.fromkeys((self.name, lower, self.name.upper(), lower.capitalize())))


def _each(check: Callable[[str], str | None]) -> Check:
    """A check of every argument; the first problem."""
    return lambda args: next((found for arg in args if (found := check(arg))), None)


def _all(*checks: Check) -> Check:
    return lambda args: next((found for check in checks if (found := check(args))), None)


def _ascii(value: str) -> str | None:
    if value.isascii():
        return None
    try:
        hint = f": write {value.encode('idna').decode()!r} (its ASCII form)"
    except UnicodeError:
        hint = ""
    return f"{value!r} has non-ASCII characters, which Traefik refuses{hint}"


def _path(value: str) -> str | None:
    return None if value.startswith("/") else f"the path {value!r} does not start with '/'"


def _regexp(value: str) -> str | None:
    found = regexp_error(value)
    return f"{value!r} is not a regular expression Go accepts ({found})" if found else None


def _ip(value: str) -> str | None:
    """Go's net.ParseIP, else net.ParseCIDR (no zone, a decimal prefix length)."""
    address, slash, bits = value.partition("/")
    try:
        parsed = ipaddress.ip_address(address) if "%" not in address else None
    except ValueError:
        parsed = None
    ok = parsed is not None and (not slash or (
        bits.isascii() and bits.isdigit() and int(bits) <= parsed.max_prefixlen))
    return None if ok else f"{value!r} is not an IP address or a CIDR range"


def _sni(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value == "*" or pattern.fullmatch(value):
            return None
        return f"{value!r} is not a host name HostSNI takes"
    return check


def _alpn(value: str) -> str | None:
    return f"ALPN {ACME_TLS_ALPN!r} is Traefik's own" if value == ACME_TLS_ALPN else None


def _value_regexp(args: tuple[str, ...]) -> str | None:
    """Header/Query regexps: the second argument, when there is one."""
    return _regexp(args[1]) if len(args) == 2 else None


def _pairs(args: tuple[str, ...]) -> str | None:
    return None if len(args) % 2 == 0 else (
        f"it takes name/value pairs, this rule gives it {len(args)} arguments")


def _pair_regexps(args: tuple[str, ...]) -> str | None:
    return next((found for value in args[1::2] if (found := _regexp(value))), None)


# --- v2 templates (gorilla/mux): `/users/{id:[0-9]+}`, `{sub:[a-z]+}.example.com` -------------

def quote_meta(text: str) -> str:
    """Go's regexp.QuoteMeta."""
    return "".join(f"\\{c}" if c in _GO_META else c for c in text)


def template_parts(template: str) -> list[tuple[str, str, str | None]] | None:
    """(text before, variable name, its pattern or None) for each `{name:pattern}` or `{name}`
    of a v2 template, then (the text after the last, '', None); None when its braces do not
    balance (first-level braces delimit a variable; a pattern may hold `{3}` itself)."""
    parts: list[tuple[str, str, str | None]] = []
    level, start, end = 0, 0, 0
    for index, char in enumerate(template):
        if char == "{":
            level += 1
            if level == 1:
                start = index
        elif char == "}":
            level -= 1
            if level == 0:
                name, colon, pattern = template[start + 1:index].partition(":")
                parts.append((template[end:start], name, pattern if colon else None))
                end = index + 1
            elif level < 0:
                return None
    if level != 0:
        return None
    return [*parts, (template[end:], "", None)]


def template_error(template: str, kind: str) -> str | None:
    """Why gorilla/mux refuses a v2 template of `kind` (host, path, prefix or query), as
    newRouteRegexp: balanced braces, a name and a pattern per variable, each pattern and the
    whole expression compiled by Go."""
    if kind in ("path", "prefix") and template and not template.startswith("/"):
        return f"the path {template!r} does not start with '/'"
    parts = template_parts(template)
    if parts is None:
        return f"{template!r} has unbalanced braces"
    default = {"host": "[^.]+", "query": ".*"}.get(kind, "[^/]+")
    whole = "(?i)^" if kind == "host" else "^"
    for number, (before, name, pattern) in enumerate(parts[:-1]):
        if not name or pattern == "":
            return f"{template!r} has a variable without a name or a pattern"
        found = regexp_error(f"^{pattern or default}$")
        if found:
            return f"the pattern of {{{name}}} in {template!r} is not one Go accepts ({found})"
        whole += f"{quote_meta(before)}(?P<v{number}>{pattern or default})"
    whole += quote_meta(parts[-1][0])
    if kind == "query" and template.partition("=")[2] == "":
        whole += default
    found = regexp_error(whole + ("" if kind == "prefix" else "$"))
    return f"{template!r} does not make a regular expression Go accepts ({found})" \
        if found else None


def _template(kind: str) -> Callable[[str], str | None]:
    return lambda value: template_error(value, kind)


def query_pairs_v2(args: tuple[str, ...]) -> list[str]:
    """v2's Query splits each argument at its first '=' and reads the result as pairs:
    `Query(`a=1`, `b=2`)` and even `Query(`a`, `1`)` are key `a`, value `1`."""
    return [part for arg in args for part in arg.split("=", 1)]


def _query_v2(args: tuple[str, ...]) -> str | None:
    flat = query_pairs_v2(args)
    if len(flat) % 2:
        return f"each argument must be key=value ({', '.join(repr(a) for a in args)})"
    seen: set[str] = set()
    for key, value in zip(flat[::2], flat[1::2], strict=True):
        template = f"{key}={value}"
        found = template_error(template, "query")
        if found:
            return found
        names = {name for _, name, _ in (template_parts(template) or [])[:-1]}
        if names & seen:
            return f"the variable {sorted(names & seen)[0]!r} is used twice"
        seen |= names
    return None


_HTTP_V3 = (
    MatcherSpec("ClientIP", (1,), _each(_ip)),
    MatcherSpec("Method", (1,)),
    MatcherSpec("Host", (1,), _each(_ascii)),
    MatcherSpec("HostRegexp", (1,), _each(lambda v: _ascii(v) or _regexp(v))),
    MatcherSpec("Path", (1,), _each(_path)),
    MatcherSpec("PathRegexp", (1,), _each(_regexp)),
    MatcherSpec("PathPrefix", (1,), _each(_path)),
    MatcherSpec("Header", (2,)),
    MatcherSpec("HeaderRegexp", (2,), _value_regexp),
    MatcherSpec("Query", (1, 2)),
    MatcherSpec("QueryRegexp", (1, 2), _value_regexp),
)
_HTTP_V2 = (
    MatcherSpec("Host", (), _each(_ascii)),
    MatcherSpec("HostHeader", (), _each(_ascii)),
    MatcherSpec("HostRegexp", (), _each(lambda v: _ascii(v) or template_error(v, "host"))),
    MatcherSpec("ClientIP", (), _each(_ip)),
    MatcherSpec("Path", (), _each(_template("path"))),
    MatcherSpec("PathPrefix", (), _each(_template("prefix"))),
    MatcherSpec("Method", ()),
    MatcherSpec("Headers", (), _pairs),
    MatcherSpec("HeadersRegexp", (), _all(_pairs, _pair_regexps)),
    MatcherSpec("Query", (), _query_v2),
)
_TCP_V3 = (
    MatcherSpec("ALPN", (1,), _each(_alpn)),
    MatcherSpec("ClientIP", (1,), _each(_ip)),
    MatcherSpec("HostSNI", (1,), _each(_sni(_SNI_V3))),
    MatcherSpec("HostSNIRegexp", (1,), _each(lambda v: _ascii(v) or _regexp(v))),
)
_TCP_V2 = (
    MatcherSpec("ALPN", (), _each(_alpn)),
    MatcherSpec("ClientIP", (), _each(_ip)),
    MatcherSpec("HostSNI", (), _each(_sni(_SNI_V2))),
    MatcherSpec("HostSNIRegexp", (), _each(lambda v: _ascii(v) or _sni_template(v))),
)


def _sni_template(value: str) -> str | None:
    """v2's HostSNIRegexp (Traefik's preparePattern): like a host template, but only the
    whole expression is compiled."""
    parts = template_parts(value)
    if parts is None:
        return f"{value!r} has unbalanced braces"
    whole = "(?i)^"
    for number, (before, name, pattern) in enumerate(parts[:-1]):
        if not name or pattern == "":
            return f"{value!r} has a variable without a name or a pattern"
        whole += f"{quote_meta(before)}(?P<v{number}>{pattern or '[^.]+'})"
    found = regexp_error(whole + quote_meta(parts[-1][0]) + "$")
    return f"{value!r} does not make a regular expression Go accepts ({found})" \
        if found else None


MATCHERS: dict[tuple[str, RuleSyntax], dict[str, MatcherSpec]] = {
    (protocol, syntax): {spec.name.lower(): spec for spec in specs}
    for protocol, syntax, specs in (
        ("http", RuleSyntax.V3, _HTTP_V3), ("http", RuleSyntax.V2, _HTTP_V2),
        ("tcp", RuleSyntax.V3, _TCP_V3), ("tcp", RuleSyntax.V2, _TCP_V2))
}


def _counts(counts: tuple[int, ...]) -> str:
    words = " or ".join(str(n) for n in counts)
    return f"{words} argument{'s' if counts != (1,) else ''}"


def matcher_problem(protocol: str, syntax: RuleSyntax, name: str, spelled: str,
                    args: tuple[str, ...]) -> str | None:
    """Why Traefik (`syntax`, `protocol` router) refuses the matcher `spelled(args...)`;
    None if it loads it. `name` is `spelled` in lower case."""
    spec = MATCHERS[(protocol, syntax)].get(name)
    if spec is None:
        known = ", ".join(s.name for s in MATCHERS[(protocol, syntax)].values())
        return f"{spelled} is not a matcher of {protocol} rules in syntax {syntax} ({known})"
    if spelled not in spec.spellings:
        return (f"Traefik knows {spec.name} only spelled {', '.join(spec.spellings)}, "
                f"not {spelled}")
    if not args or any(not arg for arg in args):
        return f"{spec.name} takes no empty argument"
    if spec.counts and len(args) not in spec.counts:
        return (f"{spec.name} takes {_counts(spec.counts)} in syntax {syntax}, this rule gives "
                f"it {len(args)}")
    found = spec.check(args)
    return f"{spec.name}: {found}" if found else None
