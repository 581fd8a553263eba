"""A rule written for one of Traefik's rule syntaxes, rewritten for the other (pure), for the
fix a refusal offers: v2's ``Host(`a`,`b`)`` is ``Host(`a`) || Host(`b`)`` in v3.

Only rewrites that mean the same are offered; where a matcher has no equivalent (v3's
PathRegexp in v2, a v2 template variable in a Query key), there is none, and the refusal
offers the router's `ruleSyntax` label instead.
"""

from __future__ import annotations

from collections.abc import Callable

from otterstack_hooks.rules.traefik.rule_matchers import (
    MATCHERS,
    RuleSyntax,
    query_pairs_v2,
    quote_meta,
    template_parts,
)
from otterstack_hooks.rules.traefik.rule_parser import Binary, Matcher, Node, Not

_Translate = Callable[[tuple[str, ...]], Node | None]


def render(node: Node) -> str:
    """The rule as text, with as few parentheses as `||` over `&&` over `!` allow."""
    return _render(node, "")


def render_alternative(conjunction: list[tuple[bool, Matcher]]) -> str:
    """One alternative of traefik_rules.alternatives as text: its literals joined by `&&`."""
    nodes: list[Node] = [m if positive else Not(m) for positive, m in conjunction]
    node = nodes[0]
    for other in nodes[1:]:
        node = Binary("&&", node, other)
    return render(node)


def _render(node: Node, context: str) -> str:
    if isinstance(node, Matcher):
        return f"{node.spelled or node.name}({', '.join(_literal(a) for a in node.args)})"
    if isinstance(node, Not):
        return "!" + _render(node.operand, "!")
    text = f"{_render(node.left, node.operator)} {node.operator} " \
           f"{_render(node.right, node.operator)}"
    needs = context == "!" or (context == "&&" and node.operator == "||")
    return f"({text})" if needs else text


def _literal(value: str) -> str:
    """`value` as Traefik's parser reads it back: backquoted, or a Go string if it must."""
    if "`" not in value and "\r" not in value:
        return f"`{value}`"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def translate(node: Node, protocol: str, source: RuleSyntax, target: RuleSyntax
              ) -> Node | None:
    """The rule, read in `source`, written for `target` with Traefik's own spelling of each
    matcher; None if some matcher has no equivalent there."""
    if isinstance(node, Matcher):
        rules = _RULES.get((protocol, source, target), {})
        if source == target:
            spec = MATCHERS[(protocol, target)].get(node.name)
            return None if spec is None else Matcher(node.name, node.args, spec.name)
        rule = rules.get(node.name)
        return None if rule is None else rule(node.args)
    if isinstance(node, Not):
        inner = translate(node.operand, protocol, source, target)
        return None if inner is None else Not(inner)
    left = translate(node.left, protocol, source, target)
    right = translate(node.right, protocol, source, target)
    return None if left is None or right is None else Binary(node.operator, left, right)


def _join(operator: str, nodes: list[Node | None]) -> Node | None:
    if not nodes or any(node is None for node in nodes):
        return None
    joined = nodes[0]
    for node in nodes[1:]:
        joined = Binary(operator, joined, node)  # type: ignore[arg-type]
    return joined


def _m(name: str, *args: str) -> Matcher:
    return Matcher(name.lower(), args, name)


def _each(name: str, operator: str = "||") -> _Translate:
    """One matcher per argument (v2's variadic matchers are alternatives)."""
    return lambda args: _join(operator, [_m(name, arg) for arg in args])


def _same(name: str, unless: Callable[[str], bool] = lambda arg: False) -> _Translate:
    """The same single-argument matcher, unless an argument means something else there."""
    return lambda args: None if any(unless(a) for a in args) else _m(name, *args)


def template_regexp(template: str, default: str) -> str | None:
    """A v2 template's meaning as a plain regular expression (unanchored); None for
    unbalanced braces."""
    parts = template_parts(template)
    if parts is None:
        return None
    pattern = ""
    for before, _, variable in parts[:-1]:
        inner = variable or default
        pattern += quote_meta(before) + (f"(?:{inner})" if "|" in inner else inner)
    return pattern + quote_meta(parts[-1][0])


def _has_variable(template: str) -> bool:
    parts = template_parts(template)
    return parts is None or len(parts) > 1


def _v2_path(prefix: bool) -> _Translate:
    def rewrite(args: tuple[str, ...]) -> Node | None:
        nodes: list[Node | None] = []
        for arg in args:
            if not _has_variable(arg):
                nodes.append(_m("PathPrefix" if prefix else "Path", arg))
                continue
            pattern = template_regexp(arg, "[^/]+")
            nodes.append(None if pattern is None else
                         _m("PathRegexp", f"^{pattern}" + ("" if prefix else "$")))
        return _join("||", nodes)
    return rewrite


def _v2_host_regexp(plain: str, regexp: str) -> _Translate:
    def rewrite(args: tuple[str, ...]) -> Node | None:
        nodes: list[Node | None] = []
        for arg in args:
            pattern = template_regexp(arg, "[^.]+")
            # v2 matched hosts ignoring case; v3 sees them in lower case
            fold = "(?i)" if any(c.isupper() for c in arg) else ""
            nodes.append(_m(plain, arg) if not _has_variable(arg) else
                         None if pattern is None else _m(regexp, f"{fold}^{pattern}$"))
        return _join("||", nodes)
    return rewrite


def _v2_pairs(name: str) -> _Translate:
    return lambda args: _join("&&", [_m(name, k, v) for k, v in zip(args[::2], args[1::2],
                                                                    strict=False)])


def _v2_query(args: tuple[str, ...]) -> Node | None:
    flat = query_pairs_v2(args)
    nodes: list[Node | None] = []
    for key, value in zip(flat[::2], flat[1::2], strict=False):
        pattern = template_regexp(value, ".*")
        if _has_variable(key) or pattern is None:
            nodes.append(None)
        elif not value:  # v2: the key with any value
            nodes.append(_m("QueryRegexp", key, ".*"))
        elif not _has_variable(value):
            nodes.append(_m("Query", key, value))
        else:
            nodes.append(_m("QueryRegexp", key, f"^{pattern}$"))
    return _join("&&", nodes)


def _v3_query(args: tuple[str, ...]) -> Node | None:
    if len(args) != 2 or "=" in args[0] or any(_has_variable(a) for a in args):
        return None  # v2 has no "key with an empty value"
    return _m("Query", f"{args[0]}={args[1]}")


def _wildcard(arg: str) -> bool:
    return "*" in arg


_RULES: dict[tuple[str, RuleSyntax, RuleSyntax], dict[str, _Translate]] = {
    ("http", RuleSyntax.V2, RuleSyntax.V3): {
        "host": _each("Host"), "hostheader": _each("Host"),
        "hostregexp": _v2_host_regexp("Host", "HostRegexp"),
        "path": _v2_path(prefix=False), "pathprefix": _v2_path(prefix=True),
        "method": _each("Method"), "clientip": _each("ClientIP"),
        "headers": _v2_pairs("Header"), "headersregexp": _v2_pairs("HeaderRegexp"),
        "query": _v2_query,
    },
    ("http", RuleSyntax.V3, RuleSyntax.V2): {
        "host": _same("Host", _wildcard),
        "path": _same("Path", _has_variable), "pathprefix": _same("PathPrefix", _has_variable),
        "method": _same("Method"), "clientip": _same("ClientIP"),
        "header": _same("Headers"), "headerregexp": _same("HeadersRegexp"),
        "query": _v3_query,
    },
    ("tcp", RuleSyntax.V2, RuleSyntax.V3): {
        "hostsni": _each("HostSNI"),
        "hostsniregexp": _v2_host_regexp("HostSNI", "HostSNIRegexp"),
        "alpn": _each("ALPN"), "clientip": _each("ClientIP"),
    },
    ("tcp", RuleSyntax.V3, RuleSyntax.V2): {
        "hostsni": _same("HostSNI", lambda arg: arg != "*" and "*" in arg),
        "alpn": _same("ALPN"), "clientip": _same("ClientIP"),
    },
}
