"""Routing rules and whether Traefik 3.7 loads them, for the rule-syntax check
(rules/traefik/rule_syntax.py).

One table serves twice: tests/unit/test_rule_syntax.py checks that OtterStack refuses exactly
the rules marked refused, and tests/integration/test_rule_syntax.py loads every one of them
into a real Traefik (file provider, each router with its own `ruleSyntax`) and checks that
Traefik disables exactly those. Every matcher of each syntax, for HTTP and TCP routers, with
good and bad arguments; the expression syntax; and regular expressions where Go and Python
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleCase:
    protocol: str  # http or tcp
    syntax: str  # v2 or v3: the router's ruleSyntax
    rule: str
    loads: bool  # whether Traefik loads the router (else it disables it)


def _cases(protocol: str, syntax: str, loads: bool, *rules: str) -> list[RuleCase]:
    return [RuleCase(protocol, syntax, rule, loads) for rule in rules]


HTTP_V3_LOADS = _cases(
    "http", "v3", True,
    "ClientIP(`10.0.0.1`)", "ClientIP(`10.0.0.0/8`)", "ClientIP(`::1`)",
    "ClientIP(`fe80::/10`)", "ClientIP(`10.0.0.0/024`)", "ClientIP(`::ffff:10.0.0.1`)",
    "Method(`GET`)", "Method(`whatever`)",
    "Host(`example.com`)", "Host(`*.example.com`)", "Host(`EXAMPLE.com`)",
    "HostRegexp(`^[a-z]+\\.example\\.com$`)", "HostRegexp(`{sub:[a-z]+}.example.com`)",
    "Path(`/a`)", "Path(`/{id:[0-9]+}`)",
    "PathRegexp(`^/api/[0-9]+`)", "PathPrefix(`/api`)", "PathPrefix(`/{id:[0-9]+}`)",
    "Header(`X-Key`, `v`)", "HeaderRegexp(`X-Key`, `^a.*`)",
    "Query(`a`)", "Query(`a`, `b`)", "Query(`a=b`)",
    "QueryRegexp(`a`)", "QueryRegexp(`a`, `^[0-9]+$`)",
    # spellings Traefik registers: as written, lower, upper and title case
    "host(`a.test`)", "HOST(`a.test`)", "Pathprefix(`/a`)", "hostregexp(`^a$`)",
    "CLIENTIP(`10.0.0.1`)",
    # the expression
    "!Host(`a.test`)", "Host(`a.test`) && !(Path(`/a`) || Path(`/b`))",
    "(Host(`a.test`))", 'Host("a.test")', 'Host("a\\x2etest")', "Host(`a.test`,)",
    "Host(`a.test`) &&\nPath(`/`)", "Host(`a.test`) /* note */ && Path(`/`)",
    "Host(`a.test`) // note", "  Host(`a.test`)  \n",
)
HTTP_V3_DISABLED = _cases(
    "http", "v3", False,
    "ClientIP(`10.0.0.256`)", "ClientIP(`10.0.0.0/33`)", "ClientIP(`010.0.0.1`)",
    "ClientIP(`fe80::1%eth0`)", "ClientIP(`10.0.0.1`, `10.0.0.2`)", "ClientIP(`a`)",
    "Method(`GET`, `POST`)", "Method(``)",
    "Host(`example.com`, `www.example.com`)", "Host(`bücher.de`)", "Host(``)", "Host()",
    "HostRegexp(`(?=x)a`)", "HostRegexp(`[a-`)", "HostRegexp(`^a$`, `^b$`)",
    "HostRegexp(`^ü$`)",
    "Path(`a`)", "Path(`/a`, `/b`)",
    "PathRegexp(`(?<=a)b`)", "PathRegexp(`^/a(`)", "PathPrefix(`api`)",
    "PathPrefix(`/a`, `/b`)",
    "Header(`X-Key`)", "Header(`X-Key`, `a`, `b`)", "HeaderRegexp(`X-Key`, `(?!a)`)",
    "HeaderRegexp(`X-Key`)", "Query(`a`, `b`, `c`)", "QueryRegexp(`a`, `a{1001}`)",
    # v2's matchers
    "Headers(`X-Key`, `v`)", "HeadersRegexp(`X-Key`, `v`)", "HostHeader(`a.test`)",
    # TCP's
    "HostSNI(`a.test`)",
    # spellings it does not register
    "pathPrefix(`/a`)", "HostREGEXP(`^a$`)", "Unknown(`a`)",
    # the expression
    "Host(`a.test`) && (Path(`/`)", "Host(`a.test`) &&", "Host(`a.test`) & Path(`/`)",
    "Host(a)", "Host(`a` `b`)", "Host(`a.test`) Host(`b.test`)", "Host(1)", "Host('a')",
    'Host("a\\.test")', "Host(`a.test`)\n&& Path(`/`)", "Host(`a.test`) /* open",
    "Host(`a.test`) ;", "Host(`a.test`) == Path(`/`)", "Host(\u00a0`a.test`)",
    # written for v2 (the refusal offers the rewrite, which must load too)
    "Host(`a.test`) && (Headers(`X`,`1`) || PathPrefix(`/{id:[0-9]+}`, `/b`))",
    "!Host(`a.test`,`b.test`)", "Path(`/u/{id:[0-9]+}/{name}`, `/v`)",
    "HostRegexp(`{sub:a|b}.Example.com`, `x.test`) && Query(`id={id:[0-9]+}`, `on=`)",
    "Headers(`X-A`, `1`, `X-B`, `2`) && HeadersRegexp(`X-C`, `^a`)",
    "Method(`GET`,`POST`) && Host(`a.test`)", "ClientIP(`10.0.0.1`, `10.0.0.0/8`)",
)
HTTP_V2_LOADS = _cases(
    "http", "v2", True,
    "Host(`example.com`, `www.example.com`)", "HostHeader(`a.test`)",
    "HostRegexp(`{sub:[a-z]+}.example.com`)", "HostRegexp(`{sub}.example.com`)",
    "HostRegexp(`^a$`)", "HostRegexp(`{sub:[a-z]{2,3}}.example.com`)",
    "ClientIP(`10.0.0.1`, `10.0.0.0/8`)",
    "Path(`/a/{id:[0-9]+}`)", "Path(`/a`, `/b`)", "PathPrefix(`/a/{id}`)",
    "Method(`GET`, `POST`)",
    "Headers(`X-Key`, `v`)", "Headers(`X-A`, `1`, `X-B`, `2`)",
    "HeadersRegexp(`X-Key`, `^a`)",
    "Query(`a=b`)", "Query(`a=b`, `c=d`)", "Query(`a`, `b`)", "Query(`id={id:[0-9]+}`)",
    "Query(`a=`)", "Query(`a=b=c`)",
    "host(`a.test`, `b.test`)",
)
HTTP_V2_DISABLED = _cases(
    "http", "v2", False,
    "HostRegexp(`{sub:[a-z]+.example.com`)", "HostRegexp(`{:[a-z]+}.example.com`)",
    "HostRegexp(`{sub:}.example.com`)", "HostRegexp(`{sub:(}.example.com`)",
    "Host(`bücher.de`)", "ClientIP(`10.0.0.1`, `nope`)",
    "Path(`a`)", "Path(`/{id:[0-9}`)", "PathPrefix(`/a}`)", "PathPrefix(`/{id:*}`)",
    "Headers(`X-Key`)", "Headers(`X-A`, `1`, `X-B`)", "HeadersRegexp(`X-Key`, `(?=a)`)",
    "Query(`a`)", "Query(`a=b`, `c`)", "Query(`a={x}`, `b={x}`)", "Query(`a={x:(}`)",
    # v3's matchers
    "Header(`X-Key`, `v`)", "HeaderRegexp(`X-Key`, `v`)", "PathRegexp(`^/a`)",
    "QueryRegexp(`a`, `b`)",
    # written for v3
    "Header(`X`, `1`) && Query(`a`, `b`)", "HeaderRegexp(`X`, `^a`) || !Host(`a.test`)",
)
TCP_V3_LOADS = _cases(
    "tcp", "v3", True,
    "HostSNI(`a.example.com`)", "HostSNI(`*`)", "HostSNI(`*.example.com`)",
    "HostSNI(`10.0.0.1`)", "HostSNIRegexp(`^.+\\.example\\.com$`)",
    "ALPN(`h2`)", "ClientIP(`10.0.0.0/8`)", "HostSNI(`a.test`) && ALPN(`h2`)",
    "hostsni(`a.test`)",
)
TCP_V3_DISABLED = _cases(
    "tcp", "v3", False,
    "HostSNI(`a.test`, `b.test`)", "HostSNI(`a b`)", "HostSNI(`ex@mple.test`)",
    "HostSNIRegexp(`(`)", "HostSNIRegexp(`{sub:[a-z]+}.example.com`, `x`)",
    "ALPN(`acme-tls/1`)", "ALPN(`h2`, `http/1.1`)", "ClientIP(`10.0.0.0/40`)",
    "Host(`a.test`)", "HostSNI(`a.test`) && Path(`/`)",
    "HostSNIRegexp(`{sub:[a-z]+}.example.com`, `b.test`)",
)
TCP_V2_LOADS = _cases(
    "tcp", "v2", True,
    "HostSNI(`a.test`, `b.test`)", "HostSNI(`*`)",
    "HostSNIRegexp(`{sub:[a-z]+}.example.com`)", "HostSNIRegexp(`{sub}.example.com`)",
    "ALPN(`h2`, `http/1.1`)", "ClientIP(`10.0.0.1`, `10.0.0.2`)",
)
TCP_V2_DISABLED = _cases(
    "tcp", "v2", False,
    "HostSNI(`*.example.com`)", "HostSNIRegexp(`{sub:[a-z]+.example.com`)",
    "HostSNIRegexp(`{sub:(}.example.com`)", "ALPN(`h2`, `acme-tls/1`)",
    "ClientIP(`nope`)",
)

# Regular expressions (as PathRegexp, v3) where Python's `re` and Go's parser disagree, or
# where Go's rules are its own.
REGEXP_LOADS = _cases("http", "v3", True, *(f"PathRegexp(`{p}`)" for p in (
    "\\pL", "\\p{Greek}", "\\PL", "\\p{^Greek}", "\\pl", "\\p{greek}", "\\z", "\\A",
    "(?<name>x)", "(?P<name>x)", "^*", "a(?i)b", "(?i)", "(?)", "(?i-s:a)", "\\Q.*\\E",
    "[[:alpha:]]", "[[:^digit:]]", "\\x{10FFFF}", "\\x41", "\\0", "\\012", "a{2,5}",
    "a{,5}", "a{1000}", "(a{10}){100}", "[]a]", "[a-]", "\\_", "\\-", "a{01}", "[\\d-z]",
    "x{2}y*", "(?U)a+", "[\\x00-\\x{10FFFF}]", "\\Q\\E",
)))
REGEXP_DISABLED = _cases("http", "v3", False, *(f"PathRegexp(`{p}`)" for p in (
    "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "\\1", "(a)\\1", "\\Z", "a**", "a*+", "a++",
    "a{1001}", "a{2}{3}", "(a{100}){100}", "{2}", "*a", "(?P=n)", "(?#c)", "(?x)a", "\\C",
    "[z-a]", "[[:foo:]]", "\\pX", "\\p{}", "a\\p", "a\\", "(", ")", "[a", "\\x4", "\\x{}",
    "\\x{110000}", "(?i", "(?-)", "(?<>a)", "(?P<a-b>x)", "\\8", "\\u1234", "a|*", "(*)",
    "\\e", "(?--i)", "[a-\\d]", "a{2}*", "\\Q\\E*",
)))

ALL = (HTTP_V3_LOADS + HTTP_V3_DISABLED + HTTP_V2_LOADS + HTTP_V2_DISABLED + TCP_V3_LOADS
       + TCP_V3_DISABLED + TCP_V2_LOADS + TCP_V2_DISABLED + REGEXP_LOADS + REGEXP_DISABLED)
