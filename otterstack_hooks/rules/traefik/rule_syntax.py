"""Routing rules the user's Traefik would refuse, found before anything starts (pure).

Traefik checks a router's rule only when it loads the router: a matcher its rule syntax does
not have, a wrong number of arguments, a regular expression Go cannot compile, an expression
its parser cannot read. The router is then disabled, and a deploy finds out after the release
was built, started and found healthy (the proof waits for a router that never comes). Files
written for Traefik v2 (``Host(`a`,`b`)``, `Headers`, `{id:[0-9]+}` in a path) are common, and
Traefik v3 reads rules as v3 unless told otherwise. So every HTTP and TCP rule of a routed
service is checked here, in pre-receive and before the release starts, against the syntax
Traefik will read it in: the router's `ruleSyntax` label, else Traefik's
`core.defaultRuleSyntax` (v3 unless configured). A refusal names the service, the label, the
rule and the fix: the rule rewritten for that syntax where it means the same, or the label
that keeps it as written.

Bounded like the probes: a rule past traefik_rules' bounds is left to Traefik.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import ComposeModel, is_routed
from otterstack_hooks.rules.traefik.rule_matchers import (
    DEFAULT_RULE_SYNTAX,
    RuleSyntax,
    matcher_problem,
    template_parts,
)
from otterstack_hooks.rules.traefik.rule_parser import (
    Matcher,
    Node,
    Not,
    RuleTooComplex,
    parse_rule,
)
from otterstack_hooks.rules.traefik.rule_rewrite import render, translate

_ROUTER_LABEL = re.compile(r"traefik\.(http|tcp)\.routers\.([^.]+)\.(rule|rulesyntax)",
                           re.IGNORECASE)
_V2_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_V2_TEMPLATES = frozenset({"host", "path", "pathprefix", "hostregexp", "hostsniregexp"})


@dataclass(frozen=True)
class DefaultSyntax:
    """The rule syntax Traefik reads a router in when the router does not say, and where
    that was found (for the message)."""

    syntax: RuleSyntax = DEFAULT_RULE_SYNTAX
    where: str = "Traefik's default"


class Finding(StrEnum):
    REFUSED = "refused"  # Traefik would disable the router
    NOTE = "note"  # Traefik loads it, but it is v2's form, which v3 reads differently


@dataclass(frozen=True)
class RuleProblem:
    """One rule of one router, and what the pusher is told about it."""

    finding: Finding
    service: str
    router: str
    key: str
    text: str


@dataclass(frozen=True)
class _Router:
    service: str
    protocol: str
    name: str
    key: str  # the rule's label key, as written
    rule: str
    syntax_key: str | None
    syntax_value: str | None


def check_rules(model: ComposeModel, app: str, default: DefaultSyntax) -> list[str]:
    """Refuse (OtterError) a release with a rule Traefik would refuse; the notes to show
    for rules it loads but that read differently in v3 than in v2."""
    found = rule_problems({s.name: s.labels for s in model.services.values()}, default)
    refused = [p for p in found if p.finding == Finding.REFUSED]
    if refused:
        more = [f"{p.router} ({p.service})" for p in refused[1:]]
        tail = f"; and {len(more)} more: {', '.join(more)}" if more else ""
        raise OtterError(f"{refused[0].text}{tail}")
    return [p.text for p in found if p.finding == Finding.NOTE]


def rule_problems(services: Mapping[str, Mapping[str, str]], default: DefaultSyntax
                  ) -> list[RuleProblem]:
    """Every problem of the routed services' HTTP and TCP rules, in label order."""
    found: list[RuleProblem] = []
    for router in _routers(services):
        problem = _judge(router, default)
        if problem is not None:
            found.append(problem)
    return found


def _routers(services: Mapping[str, Mapping[str, str]]) -> Iterator[_Router]:
    """Each router with a non-empty rule (an empty one gets Traefik's default rule)."""
    for service, labels in services.items():
        if not is_routed(dict(labels)):
            continue
        rules: dict[tuple[str, str], tuple[str, str]] = {}
        syntaxes: dict[tuple[str, str], tuple[str, str]] = {}
        for key, value in labels.items():
            match = _ROUTER_LABEL.fullmatch(key)
            if match:
                where = rules if match[3].lower() == "rule" else syntaxes
                where[(match[1].lower(), match[2])] = (key, value)
        for (protocol, name), (key, rule) in rules.items():
            if rule:
                syntax_key, syntax_value = syntaxes.get((protocol, name), (None, None))
                yield _Router(service, protocol, name, key, rule, syntax_key, syntax_value)


def _syntax(router: _Router, default: DefaultSyntax) -> tuple[RuleSyntax, str]:
    """The syntax Traefik reads this router's rule in, and why (Traefik reads a ruleSyntax
    it does not know as v3; an empty one is no label)."""
    value = router.syntax_value
    if not value:
        return default.syntax, default.where
    if value in (RuleSyntax.V2, RuleSyntax.V3):
        return RuleSyntax(value), f"its label {router.syntax_key}={value}"
    return RuleSyntax.V3, (f"its label {router.syntax_key}={value!r}, a syntax Traefik does "
                           "not know, so it reads v3")


def _judge(router: _Router, default: DefaultSyntax) -> RuleProblem | None:
    syntax, where = _syntax(router, default)
    head = f"compose service {router.service!r}, label {router.key!r}"
    try:
        tree = parse_rule(router.rule)
    except RuleTooComplex:
        return None  # bounded: Traefik judges it, and its API says so
    except ValueError as exc:
        return RuleProblem(Finding.REFUSED, router.service, router.name, router.key,
                           f"{head}: Traefik would disable {router.protocol} router "
                           f"{router.name!r}: {exc}")
    problems = _problems(tree, router.protocol, syntax)
    if not problems:
        note = _v2_leftover(tree, router, syntax)
        return None if note is None else RuleProblem(
            Finding.NOTE, router.service, router.name, router.key, f"{head}: {note}")
    text = (f"{head}: Traefik would disable {router.protocol} router {router.name!r}: "
            f"{problems[0]} (rule {router.rule}, read in syntax {syntax}: {where}). "
            f"{_fix(tree, router, syntax, default)}")
    return RuleProblem(Finding.REFUSED, router.service, router.name, router.key, text)


def _matchers(node: Node) -> Iterator[Matcher]:
    if isinstance(node, Matcher):
        yield node
    elif isinstance(node, Not):
        yield from _matchers(node.operand)
    else:
        yield from _matchers(node.left)
        yield from _matchers(node.right)


def _problems(tree: Node, protocol: str, syntax: RuleSyntax) -> list[str]:
    found = (matcher_problem(protocol, syntax, m.name, m.spelled, m.args)
             for m in _matchers(tree))
    return list(dict.fromkeys(problem for problem in found if problem))


def _rewrite(tree: Node, protocol: str, source: RuleSyntax, target: RuleSyntax
             ) -> str | None:
    """The rule read in `source`, written for `target`, if that means the same and Traefik
    loads it."""
    translated = translate(tree, protocol, source, target)
    if translated is None or _problems(translated, protocol, target):
        return None
    return render(translated)


def _fix(tree: Node, router: _Router, syntax: RuleSyntax, default: DefaultSyntax) -> str:
    """What to change: the rule rewritten for the syntax Traefik reads, else the router's
    `ruleSyntax` label for the syntax the rule was written in."""
    other = RuleSyntax.V2 if syntax == RuleSyntax.V3 else RuleSyntax.V3
    label = router.key[:-len("rule")] + "ruleSyntax"
    if _problems(tree, router.protocol, other):
        rewrite = _rewrite(tree, router.protocol, syntax, syntax)  # Traefik's spelling
        if rewrite is not None and rewrite != router.rule:
            return f"Write it as {rewrite}"
        return "Fix the rule (docs/traefik.md#rule-syntax lists each syntax's matchers)"
    if router.syntax_value:
        keep = (f"remove its label {router.syntax_key}" if default.syntax == other else
                f"set its label {router.syntax_key}={other}")
    else:
        keep = f"add the label {label}={other}"
    rewrite = _rewrite(tree, router.protocol, other, syntax)
    if rewrite is None:
        return (f"It is written for syntax {other}: {keep} to keep it as written (Traefik "
                f"deprecates ruleSyntax), or rewrite it with syntax {syntax}'s matchers")
    return (f"It is written for syntax {other}: write it as {syntax}, {rewrite}; or {keep} to "
            "keep it as written (Traefik deprecates ruleSyntax)")


def _v2_leftover(tree: Node, router: _Router, syntax: RuleSyntax) -> str | None:
    """A note for a rule Traefik v3 loads but reads differently than v2 did: a `{name}`
    template (v3 matches it as text) or `Query(`a=b`)` (v3: a key named `a=b`)."""
    if syntax != RuleSyntax.V3:
        return None
    leftover = next((m for m in _matchers(tree) if _v2_form(m)), None)
    if leftover is None or _problems(tree, router.protocol, RuleSyntax.V2):
        return None
    rewrite = _rewrite(tree, router.protocol, RuleSyntax.V2, RuleSyntax.V3)
    shown = render(leftover)
    advice = f"write it as {rewrite}" if rewrite else \
        f"add the label {router.key[:-len('rule')]}ruleSyntax=v2"
    reads = (f"a key named {leftover.args[0]!r}" if leftover.name == "query" else
             "its {...} as text, not as a variable")
    return (f"{router.protocol} router {router.name!r}: {shown} is written for syntax v2, "
            f"and Traefik reads it in v3 ({reads}), so it does not match what it matched in "
            f"v2: {advice}")


def _v2_form(matcher: Matcher) -> bool:
    if matcher.name == "query":
        return len(matcher.args) == 1 and "=" in matcher.args[0]
    if matcher.name not in _V2_TEMPLATES:
        return False
    for arg in matcher.args:
        parts = template_parts(arg)
        if parts and any(_V2_VARIABLE.fullmatch(name) for _, name, _ in parts[:-1]):
            return True
    return False
