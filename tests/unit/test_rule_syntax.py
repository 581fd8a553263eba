"""Rules Traefik would refuse are refused before anything starts (rules/traefik/rule_syntax.py):
the table of testsupport/rule_cases.py (which the integration test loads into a real Traefik), the
messages and their fixes, the syntax each router is read in, and the bounds."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from fakes import ROUTED, World
from hypothesis import given, settings
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import parse_config
from otterstack_hooks.rules.traefik.go_regexp import regexp_error
from otterstack_hooks.rules.traefik.rule_matchers import RuleSyntax
from otterstack_hooks.rules.traefik.rule_parser import MAX_RULE_MATCHERS, parse_rule
from otterstack_hooks.rules.traefik.rule_rewrite import render, translate
from otterstack_hooks.rules.traefik.rule_syntax import (
    DefaultSyntax,
    Finding,
    check_rules,
    rule_problems,
)
from otterstack_hooks.rules.traefik.static_config import configured_rule_syntax
from testsupport.rule_cases import ALL, RuleCase

V3, V2 = DefaultSyntax(RuleSyntax.V3), DefaultSyntax(RuleSyntax.V2, "core.defaultRuleSyntax")


def labels(rule: str, protocol: str = "http", syntax: str | None = None,
           router: str = "site") -> dict[str, str]:
    found = {"traefik.enable": "true", f"traefik.{protocol}.routers.{router}.rule": rule}
    if syntax is not None:
        found[f"traefik.{protocol}.routers.{router}.ruleSyntax"] = syntax
    return found


def refusals(rule: str, default: DefaultSyntax = V3, **kw: str) -> list[str]:
    return [p.text for p in rule_problems({"web": labels(rule, **kw)}, default)
            if p.finding == Finding.REFUSED]


def notes(rule: str, default: DefaultSyntax = V3, **kw: str) -> list[str]:
    return [p.text for p in rule_problems({"web": labels(rule, **kw)}, default)
            if p.finding == Finding.NOTE]


@pytest.mark.parametrize("case", ALL, ids=lambda c: f"{c.protocol}-{c.syntax}-{c.rule!r}")
def test_what_traefik_disables_is_refused_and_what_it_loads_is_accepted(case: RuleCase):
    found = refusals(case.rule, protocol=case.protocol, syntax=case.syntax)
    assert (not found) == case.loads, found


def test_the_v2_multi_host_rule_on_a_v3_traefik_is_refused_with_both_fixes():
    [text] = refusals("Host(`example.com`,`www.example.com`)")
    assert text.startswith("compose service 'web', label 'traefik.http.routers.site.rule': "
                           "Traefik would disable http router 'site': Host takes 1 argument "
                           "in syntax v3, this rule gives it 2")
    assert "(rule Host(`example.com`,`www.example.com`), read in syntax v3" in text
    assert "write it as v3, Host(`example.com`) || Host(`www.example.com`)" in text
    assert "add the label traefik.http.routers.site.ruleSyntax=v2" in text
    assert refusals("Host(`example.com`,`www.example.com`)", syntax="v2") == []


def test_the_syntax_is_the_routers_label_else_traefiks_default():
    v3_rule, v2_rule = "Header(`X-Key`, `1`)", "Headers(`X-Key`, `1`)"
    assert refusals(v2_rule, V2) == [] and refusals(v3_rule) == []
    [text] = refusals(v3_rule, V2)
    assert "read in syntax v2: core.defaultRuleSyntax" in text
    assert "write it as v2, Headers(`X-Key`, `1`)" in text
    assert "add the label traefik.http.routers.site.ruleSyntax=v3" in text
    assert refusals(v3_rule, V2, syntax="v3") == []
    # a label that says v2 over a rule written for v3, on a v3 Traefik: drop the label
    [text] = refusals(v3_rule, syntax="v2")
    assert "read in syntax v2: its label traefik.http.routers.site.ruleSyntax=v2" in text
    assert "remove its label traefik.http.routers.site.ruleSyntax" in text


def test_a_rule_syntax_traefik_does_not_know_is_read_as_v3_and_said():
    [text] = refusals("Host(`a.test`, `b.test`)", syntax="V2")
    assert "ruleSyntax='V2', a syntax Traefik does not know, so it reads v3" in text


@pytest.mark.parametrize("rule, rewrite", [
    ("Host(`a`) && (Headers(`X`,`1`) || PathPrefix(`/{id:[0-9]+}`))",
     "Host(`a`) && (Header(`X`, `1`) || PathRegexp(`^/[0-9]+`))"),
    ("Method(`GET`,`POST`) && Host(`a`)", "(Method(`GET`) || Method(`POST`)) && Host(`a`)"),
    ("!Host(`a`,`b`)", "!(Host(`a`) || Host(`b`))"),
    ("HostHeader(`a`)", "Host(`a`)"),
    ("Path(`/u/{id:[0-9]+}/{name}`, `/v`)", "PathRegexp(`^/u/[0-9]+/[^/]+$`) || Path(`/v`)"),
    ("HostRegexp(`{sub:[a-z]+}.example.com`, `www.example.com`) && Path(`/`, `/x`)",
     "(HostRegexp(`^[a-z]+\\.example\\.com$`) || Host(`www.example.com`)) && "
     "(Path(`/`) || Path(`/x`))"),
    ("HostRegexp(`{sub:a|b}.Example.com`, `x.test`) && Query(`id={id:[0-9]+}`, `on=`)",
     "(HostRegexp(`(?i)^(?:a|b)\\.Example\\.com$`) || Host(`x.test`)) && "
     "QueryRegexp(`id`, `^[0-9]+$`) && QueryRegexp(`on`, `.*`)"),
    ("Headers(`X-A`, `1`, `X-B`, `2`) && HeadersRegexp(`X-C`, `^a`)",
     "Header(`X-A`, `1`) && Header(`X-B`, `2`) && HeaderRegexp(`X-C`, `^a`)"),
])
def test_a_v2_rule_is_rewritten_for_v3_with_the_same_meaning(rule, rewrite):
    [text] = refusals(rule)
    assert f"write it as v3, {rewrite};" in text
    assert refusals(rewrite) == []


def test_tcp_rules_are_checked_and_rewritten_too():
    [text] = refusals("HostSNI(`a.test`,`b.test`)", protocol="tcp")
    assert "tcp router 'site'" in text
    assert "write it as v3, HostSNI(`a.test`) || HostSNI(`b.test`)" in text
    [text] = refusals("HostSNI(`*.a.test`)", V2, protocol="tcp")
    assert "add the label traefik.tcp.routers.site.ruleSyntax=v3 to keep it" in text


def test_without_an_equivalent_only_the_label_is_offered():
    [text] = refusals("PathRegexp(`^/a`)", V2)
    assert "add the label traefik.http.routers.site.ruleSyntax=v3 to keep it as written" in text
    assert "write it as" not in text


@pytest.mark.parametrize("rule, said, fix", [
    ("hostRegexp(`^a$`)", "Traefik knows HostRegexp only spelled HostRegexp, hostregexp, "
     "HOSTREGEXP, Hostregexp, not hostRegexp", "Write it as HostRegexp(`^a$`)"),
    ("PathRegexp(`(?=a)`)", "invalid or unsupported Perl syntax: `(?=`", "Fix the rule"),
    ("Host(`a`) && (Path(`/`)", "can't parse rule", ""),
    ("Host(`a`)\n&& Path(`/`)", "a line break after ')' ends it", ""),
    ('Host("a\\.b")', "is not an escape Go knows (write the string in `...`)", ""),
    ("Host(`bücher.de`)", "write 'xn--bcher-kva.de' (its ASCII form)", ""),
    ("ClientIP(`10.0.0.0/33`)", "'10.0.0.0/33' is not an IP address or a CIDR range", ""),
    ("Nope(`a`)", "Nope is not a matcher of http rules in syntax v3 (ClientIP, Method,", ""),
])
def test_a_rule_wrong_in_both_syntaxes_says_why(rule, said, fix):
    [text] = refusals(rule)
    assert said in text and fix in text
    assert "ruleSyntax=v2" not in text


def test_v2_forms_that_v3_loads_but_reads_differently_get_a_note():
    [note] = notes("PathPrefix(`/{id:[0-9]+}`)")
    assert "PathPrefix(`/{id:[0-9]+}`) is written for syntax v2" in note
    assert "write it as PathRegexp(`^/[0-9]+`)" in note
    [note] = notes("Query(`a=b`)")
    assert "a key named 'a=b'" in note and "write it as Query(`a`, `b`)" in note
    assert notes("HostRegexp(`^[a-z]{3}\\.example\\.com$`)") == []  # a count, not a variable
    assert notes("PathPrefix(`/{id:[0-9]+}`)", syntax="v2") == []


def test_only_routed_services_and_non_empty_http_and_tcp_rules_are_read():
    services = {
        "off": {"traefik.http.routers.a.rule": "Host(`a`,`b`)"},
        "empty": {"traefik.enable": "true", "traefik.http.routers.b.rule": ""},
        "udp": {"traefik.enable": "true", "traefik.udp.routers.c.entrypoints": "dns"},
        "mixed": {"traefik.enable": "TRUE", "traefik.HTTP.Routers.Site.Rule": "Host(`a`,`b`)"},
    }
    [problem] = rule_problems(services, V3)
    assert (problem.service, problem.router) == ("mixed", "Site")
    assert "label 'traefik.HTTP.Routers.Site.Rule'" in problem.text


def test_check_rules_names_the_first_and_counts_the_others():
    model = parse_config({"services": {
        "one": {"image": "a", "labels": labels("Host(`a`,`b`)", router="r1")},
        "two": {"image": "b", "labels": {**labels("Headers(`X`, `1`)", router="r2"),
                                         **labels("PathPrefix(`/{x}`)", router="r3")}},
    }}, "app-r1")
    with pytest.raises(OtterError) as refused:
        check_rules(model, "app", V3)
    assert "router 'r1'" in str(refused.value) and str(refused.value).endswith(
        "; and 1 more: r2 (two)")
    ok = parse_config({"services": {"two": {"image": "b", "labels": labels(
        "PathPrefix(`/{x}`)", router="r3")}}}, "app-r1")
    assert len(check_rules(ok, "app", V3)) == 1  # a note, no refusal


def test_the_check_is_bounded_like_the_probes():
    chain = " && ".join(f"Host(`h{i}`,`g{i}`)" for i in range(MAX_RULE_MATCHERS + 1))
    started = time.monotonic()
    assert refusals(chain) == []  # too complex to judge here: Traefik's API reports it
    assert refusals("(" * 5000 + "Host(`a`)" + ")" * 5000) == []
    assert time.monotonic() - started < 1
    long = "PathRegexp(`" + "(a|b)*" * 20000 + "`)"
    started = time.monotonic()
    assert refusals(long) == []
    assert time.monotonic() - started < 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_judged_without_crashing(text):
    regexp_error(text)
    try:
        parse_rule(text)
    except ValueError:
        pass
    rule_problems({"web": labels(text)}, V3)


@pytest.mark.parametrize("case", [c for c in ALL if c.loads], ids=lambda c: c.rule)
def test_every_rule_traefik_loads_reads_back_the_same_after_rendering(case: RuleCase):
    tree = parse_rule(case.rule)
    assert parse_rule(render(tree)) == tree
    same = translate(tree, case.protocol, RuleSyntax(case.syntax), RuleSyntax(case.syntax))
    assert same is not None and parse_rule(render(same)) == tree


# --- the default syntax, as Traefik's container shows it ------------------------------------

@pytest.mark.parametrize("args, env, config, syntax, where", [
    ([], [], None, "v3", "the default of Traefik edge"),
    (["--core.defaultRuleSyntax=v2"], [], None, "v2", "(command line)"),
    (["traefik", "--CORE.DEFAULTRULESYNTAX", "v2"], [], None, "v2", "(command line)"),
    (["--ping"], ["TRAEFIK_CORE_DEFAULTRULESYNTAX=v2"], None, "v3", "the default"),
    ([], ["TRAEFIK_CORE_DEFAULTRULESYNTAX=v2"], None, "v2", "(environment)"),
    (["--core.defaultRuleSyntax=v2"], [], ("/etc/traefik/traefik.yml", "core:\n  "
     "defaultRuleSyntax: v2\n"), "v2", "(static config file /etc/traefik/traefik.yml)"),
    ([], [], ("/etc/traefik/traefik.toml", "[core]\ndefaultRuleSyntax = \"v2\"\n"), "v2",
     "traefik.toml"),
    (["--core.defaultRuleSyntax=v2"], [], ("/etc/traefik/traefik.yml", "log: {}\n"), "v3",
     "the default"),
    ([], [], ("/etc/traefik/traefik.yml", None), "v3", "the default"),
    ([], [], ("/etc/traefik/traefik.yml", "core: [\n"), "v3", "the default"),
])
def test_the_default_rule_syntax_is_read_from_traefiks_one_source(args, env, config, syntax,
                                                                  where):
    found = configured_rule_syntax(args, env, config, "edge")
    assert found.syntax == syntax and where in found.where


def test_a_deploy_is_refused_before_anything_starts_against_the_traefik_it_finds(tmp_path):
    world = World(tmp_path)
    multi = ROUTED.replace("Host(`app.test`)", "Host(`app.test`,`www.app.test`)")
    outcome = world.push(multi)
    assert not outcome.ok and "Host takes 1 argument in syntax v3" in outcome.message
    assert world.runtime.commands("build", "up") == []
    world.router.info = replace(world.router.info, rule_syntax=V2)
    assert world.push(multi).ok
    world.router.present = False  # no Traefik: read as v3, as pre-receive does
    assert not world.push(multi).ok
