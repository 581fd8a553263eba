"""A release's labels for its preview's hosts: production's hosts are never published."""

from dataclasses import replace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.preview.naming import PreviewNames
from otterstack_hooks.rules.preview.routing import (
    preview_hosts,
    preview_routing,
    preview_urls,
    rewrite_rule,
)
from otterstack_hooks.rules.traefik.hosts import host_problems
from otterstack_hooks.rules.traefik.labels import rewrite_project_labels
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo
from otterstack_hooks.rules.traefik.rule_parser import may_overlap
from otterstack_hooks.rules.traefik.rule_rewrite import render
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax, Finding, rule_problems

D = "preview.example.com"
H = f"x.{D}"
NAMES = PreviewNames("shop", "x")


@pytest.mark.parametrize(("rule", "rewritten"), [
    ("Host(`shop.example.com`)", f"Host(`{H}`)"),
    ("Host(`shop.example.com`) && PathPrefix(`/api`)", f"Host(`{H}`) && PathPrefix(`/api`)"),
    ("Host(`a.example`) || Host(`b.example`)", f"Host(`{H}`)"),
    ("PathPrefix(`/`)", f"Host(`{H}`) && PathPrefix(`/`)"),
    ("HostRegexp(`^.+\\.example\\.com$`)", f"Host(`{H}`)"),
    ("Host(`a.example`) && !Host(`admin.a.example`)", f"Host(`{H}`)"),
    ("(Host(`a`) && Path(`/x`)) || (Host(`b`) && Path(`/y`))",
     f"Host(`{H}`) && (Path(`/x`) || Path(`/y`))"),
    # a host under `!` no longer excludes anything: the rule only ever widens at its host
    ("!(Host(`a`) && Path(`/x`))", f"Host(`{H}`)"),
    ("!Host(`a`) && Path(`/x`)", f"Host(`{H}`) && Path(`/x`)"),
    ("Host(`a`, `b`) && Method(`GET`)", f"Host(`{H}`) && Method(`GET`)"),  # rule syntax v2
    ("HostHeader(`a`) && Headers(`X-A`, `1`)", f"Host(`{H}`) && Headers(`X-A`, `1`)"),
    ("Host(`a`) || PathPrefix(`/`)", f"Host(`{H}`)"),  # any host before: any path now
    ("ClientIP(`10.0.0.0/8`) && !PathPrefix(`/admin`)",
     f"Host(`{H}`) && ClientIP(`10.0.0.0/8`) && !PathPrefix(`/admin`)"),
])
def test_rules_are_served_at_the_previews_host_only(rule, rewritten):
    assert rewrite_rule(rule, H) == rewritten


def test_a_rule_traefik_could_not_read_is_refused_naming_the_label():
    with pytest.raises(ValueError):
        rewrite_rule("Host(`a`", H)
    services = {"web": {"traefik.enable": "true", "traefik.http.routers.site.rule": "Host(`a`"}}
    with pytest.raises(OtterError, match=r"compose service 'web', label "
                       r"'traefik.http.routers.site.rule': a preview cannot serve this rule"):
        preview_routing(services, NAMES, D)


SHOP = {
    "web": {
        "traefik.enable": "true",
        "traefik.http.routers.site.rule": "Host(`shop.example.com`)",
        "traefik.http.routers.site.entrypoints": "websecure",
        "traefik.http.routers.site.tls.certresolver": "le",
        "traefik.http.routers.site.tls.options": "modern@file",
        "traefik.http.routers.site.tls.domains[0].main": "example.com",
        "traefik.http.routers.site.tls.domains[0].sans": "*.example.com",
        "traefik.http.routers.plain.entrypoints": "web",  # no rule: Traefik's defaultRule
        "traefik.http.services.site.loadbalancer.server.port": "8000",
        "traefik.tcp.routers.pg.rule": "HostSNI(`*`)",
        "traefik.tcp.services.pg.loadbalancer.server.port": "5432",
        "com.example.team": "shop",
    },
    "api": {
        "traefik.enable": "true",
        "traefik.http.routers.api.rule": "Host(`api.shop.example.com`) && PathPrefix(`/v1`)",
    },
    "worker": {"traefik.http.routers.w.rule": "Host(`shop.example.com`)"},  # not routed
}


def test_a_release_as_its_preview_serves_it():
    routing = preview_routing(SHOP, NAMES, D)
    assert routing.hosts == {"web": H, "api": f"api-x.{D}"}  # the shortest host is the main
    assert routing.labels["web"] == {
        "traefik.enable": "true",
        "traefik.http.routers.site.rule": f"Host(`{H}`)",
        "traefik.http.routers.site.entrypoints": "websecure",
        "traefik.http.routers.site.tls.certresolver": "le",
        "traefik.http.routers.site.tls.options": "modern@file",
        "traefik.http.routers.plain.entrypoints": "web",
        "traefik.http.routers.plain.rule": f"Host(`{H}`)",
        "traefik.http.services.site.loadbalancer.server.port": "8000",
        "com.example.team": "shop",
    }
    assert routing.labels["api"]["traefik.http.routers.api.rule"] == \
        f"Host(`api-x.{D}`) && PathPrefix(`/v1`)"
    assert routing.labels["worker"] == {}
    assert routing.notes == (
        "web: tls.domains[0].main of http router 'site' (it names production's domains) is "
        "not published in a preview",
        "web: tls.domains[0].sans of http router 'site' (it names production's domains) is "
        "not published in a preview",
        "web: tcp router 'pg' (only HTTP routers are) is not published in a preview",
        "web: tcp service 'pg' (only HTTP routers are) is not published in a preview")


def test_then_renamed_for_its_project_like_any_release():
    routing = preview_routing(SHOP, NAMES, D)
    labels, routers = rewrite_project_labels(routing.labels, NAMES.project("r3"), 3)
    assert {r.name: r.rule for r in routers} == {
        "api~shop_x-r3": f"Host(`api-x.{D}`) && PathPrefix(`/v1`)",
        "plain~shop_x-r3": f"Host(`{H}`)", "site~shop_x-r3": f"Host(`{H}`)"}
    assert labels["web"]["traefik.http.routers.site~shop_x-r3.service"] == "site~shop_x-r3"


TRAEFIK = TraefikInfo("traefik", "http://127.0.0.1:1", "edge", {"web": 80, "websecure": 443})


@pytest.mark.parametrize(("tls_entrypoints", "api_labels", "urls"), [
    # TLS in the labels only: web's router has tls.certresolver, api's none
    ((), {}, (f"https://{H}/", f"http://api-x.{D}/")),
    # TLS set on the entrypoint api's router is on (entrypoints.websecure.http.tls)
    (("websecure",), {"traefik.http.routers.api.entrypoints": "websecure"},
     (f"https://{H}/", f"https://api-x.{D}/")),
    # ... and on no entrypoint of its own: it is on every one (the API's aside)
    (("websecure",), {}, (f"https://{H}/", f"https://api-x.{D}/")),
    (("traefik",), {}, (f"https://{H}/", f"http://api-x.{D}/")),
    # an entrypoint with TLS that api's router is not on
    (("websecure",), {"traefik.http.routers.api.entrypoints": "web"},
     (f"https://{H}/", f"http://api-x.{D}/")),
])
def test_a_previews_url_is_https_where_its_routers_use_tls_by_label_or_entrypoint(
        tls_entrypoints, api_labels, urls):
    routing = preview_routing({**SHOP, "api": {**SHOP["api"], **api_labels}}, NAMES, D)
    _, routers = rewrite_project_labels(routing.labels, NAMES.project("r3"), 3)
    info = replace(TRAEFIK, tls_entrypoints=frozenset(tls_entrypoints))
    assert preview_urls(routing.hosts, routers, info) == urls


def test_without_hosts_the_first_routed_service_by_name_is_the_main_one():
    services = {"b": {"traefik.enable": "true"}, "a": {"traefik.enable": "TRUE"},
                "c": {"traefik.enable": "false"}}
    assert preview_hosts(services, NAMES, D) == {"a": H, "b": f"b-x.{D}"}
    assert preview_hosts({"c": {}}, NAMES, D) == {}


# --- properties: whatever the rule, the preview's host only --------------------------------

hosts = st.sampled_from(["shop.example.com", "api.shop.example.com", "victim.example",
                         "x.preview.example.com.evil", H.upper()])
leaves = st.one_of(
    hosts.map(lambda h: f"Host(`{h}`)"),
    st.lists(hosts, min_size=1, max_size=2).map(
        lambda hs: "Host(" + ", ".join(f"`{h}`" for h in hs) + ")"),
    hosts.map(lambda h: f"HostHeader(`{h}`)"),
    st.just("HostRegexp(`.*`)"),
    st.sampled_from(["PathPrefix(`/`)", "Path(`/x`)", "Method(`GET`)",
                     "ClientIP(`10.0.0.0/8`)", "Header(`X-A`, `1`)"]))
rules = st.recursive(leaves, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(
        lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
    inner.map(lambda r: f"!({r})")), max_leaves=8)


@given(rules)
def test_no_rewritten_rule_can_match_another_host(rule):
    rewritten = rewrite_rule(rule, H)
    labels = {"traefik.http.routers.r.rule": rewritten}
    assert host_problems("web", labels, (H,)) == []  # every alternative names H, and only H
    for other in ("shop.example.com", "victim.example", "api.shop.example.com"):
        assert not may_overlap("http", rewritten, (), f"Host(`{other}`)", ())


@given(rules, st.sampled_from(["v3", "v2"]))
def test_a_rule_traefik_loads_stays_one_it_loads(rule, syntax):
    """In the rule syntax the router is read in: the rewrite keeps the other matchers as
    written and adds a one-argument Host, which both syntaxes take."""
    labels = {"traefik.enable": "true", "traefik.http.routers.r.rule": rule,
              "traefik.http.routers.r.ruleSyntax": syntax}

    def refused(services: dict[str, dict[str, str]]) -> list[str]:
        return [p.text for p in rule_problems(services, DefaultSyntax())
                if p.finding == Finding.REFUSED]

    assume(not refused({"web": labels}))
    assert refused(preview_routing({"web": labels}, NAMES, D).labels) == []


@given(rules)
def test_a_rewritten_rule_is_rewritten_to_itself(rule):
    once = rewrite_rule(rule, H)
    assert rewrite_rule(once, H) == once


KEYS = ["traefik.enable", "traefik.http.routers.a.rule", "traefik.http.routers.b.rule",
        "traefik.http.routers.a.tls", "traefik.tcp.routers.t.rule",
        "traefik.udp.routers.u.entrypoints", "traefik.http.routers.a.tls.domains[0].main"]
service_labels = st.lists(st.tuples(st.sampled_from(KEYS), rules), max_size=6).map(
    lambda pairs: {key: (rule if key.endswith(".rule") else "true") for key, rule in pairs})


@given(st.dictionaries(st.sampled_from(["web", "api", "Admin_UI", "x.y"]), service_labels,
                       max_size=4))
def test_every_router_of_a_preview_has_a_rule_for_its_own_host(services):
    routing = preview_routing(services, NAMES, D)
    assert len(set(routing.hosts.values())) == len(routing.hosts)
    for service, labels in routing.labels.items():
        assert not any(k.startswith(("traefik.tcp.", "traefik.udp.")) or "tls.domains" in k
                       for k in labels)
        rules_ = {k: v for k, v in labels.items() if k.endswith(".rule")}
        if service not in routing.hosts:
            assert not rules_
        for rule in rules_.values():
            assert host_problems(service, {"traefik.http.routers.r.rule": rule},
                                 (routing.hosts[service],)) == []


def test_render_is_the_one_renderer():
    """The rewritten rule is the rule parser's tree rendered by rule_rewrite.render."""
    from otterstack_hooks.rules.traefik.rule_parser import parse_rule
    rewritten = rewrite_rule("Path(`/x`) || Path(`/y`)", H)
    assert render(parse_rule(rewritten)) == rewritten
