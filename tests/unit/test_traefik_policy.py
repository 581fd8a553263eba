"""Traefik labels that reach beyond the app (rules/traefik/policy.py): a route to an `@internal`
service needs `traefik-internal`, a TCP rule that matches every name `tcp-catch-all`; each is
a compose policy refusal naming the service, the label, its value and the token."""

import pytest
from fakes import ROUTED, World
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.rules.compose.access import Access
from otterstack_hooks.rules.compose.policy import explain, refusals, uses
from otterstack_hooks.rules.traefik.policy import catch_all, label_refusals

CHECKOUT = "/data/apps/a/releases/r3"


def config(labels: dict[str, str], deploy: dict[str, str] | None = None) -> dict:
    service: dict = {"image": "busybox", "labels": labels}
    if deploy is not None:
        service["deploy"] = {"labels": deploy}
    return {"services": {"web": service}}


INTERNAL = [
    "traefik.http.routers.dash.service",
    "traefik.tcp.routers.dash.service",
    "traefik.HTTP.Routers.Dash.Service",  # Traefik reads keys in any case
    "traefik.http.services.mix.weighted.services[0].name",
    "traefik.http.services.mix.mirroring.service",
    "traefik.http.services.mix.mirroring.mirrors[1].name",
    "traefik.http.services.mix.failover.fallback",
    "traefik.http.middlewares.oops.errors.service",
]


@pytest.mark.parametrize("key", INTERNAL)
@pytest.mark.parametrize("value", ["api@internal", "dashboard@internal", "ping@internal",
                                   "prometheus@internal", "noop@internal", "API@Internal"])
def test_a_route_to_an_internal_service_needs_traefik_internal(key, value):
    found = refusals(config({"traefik.enable": "true", key: value}), CHECKOUT)
    assert [(r.service, r.key, r.detail, r.access) for r in found] == [
        ("web", key, value, Access.TRAEFIK_INTERNAL)]
    message = explain("shop", found)
    assert f"service 'web': {key} {value} gives the container a route to Traefik's own" in message
    assert "`otterstack config shop allow traefik-internal`" in message
    allowed = frozenset({Access.TRAEFIK_INTERNAL})
    assert refusals(config({key: value}), CHECKOUT, allowed) == []


@pytest.mark.parametrize(("key", "value"), [
    ("traefik.http.routers.site.service", "site"),
    ("traefik.http.routers.site.service", "site@docker"),
    ("traefik.http.routers.site.service", "static@file"),
    ("traefik.http.routers.site.middlewares", "dashboard_redirect@internal"),  # out of scope
    ("traefik.http.routers.site.rule", "Host(`internal.test`) && Path(`/api@internal`)"),
    ("traefik.http.services.s.loadbalancer.server.url", "http://api@internal"),
    ("com.example.note", "api@internal"),
])
def test_other_labels_that_mention_internal_pass(key, value):
    assert refusals(config({key: value}), CHECKOUT) == []


def test_labels_count_on_every_service_and_in_deploy_labels():
    """Traefik with exposedbydefault=true reads a service without traefik.enable, and its
    swarm provider reads deploy.labels; a label repeated there is named once."""
    key = "traefik.http.routers.dash.service"
    off = refusals(config({"traefik.enable": "false", key: "api@internal"}), CHECKOUT)
    assert [r.access for r in off] == [Access.TRAEFIK_INTERNAL]
    swarm = refusals(config({}, {key: "api@internal"}), CHECKOUT)
    assert [(r.key, r.access) for r in swarm] == [(f"deploy.labels.{key}",
                                                   Access.TRAEFIK_INTERNAL)]
    both = refusals(config({key: "api@internal"}, {key: "api@internal"}), CHECKOUT)
    assert [r.key for r in both] == [key]
    differ = refusals(config({key: "site"}, {key: "api@internal"}), CHECKOUT)
    assert [r.key for r in differ] == [f"deploy.labels.{key}"]


def test_labels_of_the_built_image_count_unless_a_container_label_overrides_them():
    """`build.labels` become the image's labels, which its containers inherit: Traefik reads
    them where the service's own labels do not set the same key."""
    key = "traefik.tcp.routers.pg.rule"
    built = {"services": {"web": {"build": {"context": CHECKOUT, "labels": {
        key: "HostSNI(`*`)"}}}}}
    found = refusals(built, CHECKOUT)
    assert [(r.key, r.access) for r in found] == [(f"build.labels.{key}",
                                                   Access.TCP_CATCH_ALL)]
    built["services"]["web"]["labels"] = {key: "HostSNI(`db.test`)"}
    assert refusals(built, CHECKOUT) == []


CATCH_ALL = [
    ("HostSNI(`*`)", "HostSNI(`*`)"),
    ("HostSNI(`*`) && ClientIP(`10.0.0.0/8`)", "HostSNI(`*`) && ClientIP(`10.0.0.0/8`)"),
    ("ClientIP(`10.0.0.0/8`)", "ClientIP(`10.0.0.0/8`)"),
    ("ALPN(`h2`)", "ALPN(`h2`)"),
    ("HostSNIRegexp(`^.+$`)", "HostSNIRegexp(`^.+$`)"),
    ("!HostSNI(`a.test`)", "!HostSNI(`a.test`)"),
    ("HostSNI(`a.test`) || HostSNI(`*`)", "(its alternative HostSNI(`*`))"),
    ("HostSNI(`a.test`) || ALPN(`h2`)", "(its alternative ALPN(`h2`))"),
    ("HostSNI(`a.test`, `*`)", "HostSNI(`a.test`, `*`)"),  # v2: any of its arguments
    ("hostsni(`*`)", "hostsni(`*`)"),
    (" || ".join(f"(HostSNI(`h{n}.test`) || ALPN(`a{n}`))" for n in range(3))
     + " && " + " && ".join(f"(ALPN(`x{n}`) || ALPN(`y{n}`))" for n in range(9)),
     "too complex to tell which names it matches"),
]


@pytest.mark.parametrize(("rule", "shown"), CATCH_ALL)
def test_a_tcp_rule_that_matches_every_name_needs_tcp_catch_all(rule, shown):
    key = "traefik.tcp.routers.pg.rule"
    found = refusals(config({key: rule, "traefik.tcp.routers.pg.entrypoints": "pg"}),
                     CHECKOUT)
    assert [(r.service, r.key, r.access) for r in found] == [("web", key, Access.TCP_CATCH_ALL)]
    assert shown in found[0].detail
    message = explain("shop", found)
    assert "gives the container every TCP connection of the entrypoints it is on" in message
    assert "`otterstack config shop allow tcp-catch-all`" in message
    assert refusals(config({key: rule}), CHECKOUT, frozenset({Access.TCP_CATCH_ALL})) == []


@pytest.mark.parametrize("rule", [
    "HostSNI(`broker.test`)",
    "HostSNI(`*.broker.test`)",
    "HostSNI(`a.test`) || HostSNI(`b.test`)",
    "HostSNI(`a.test`) && ALPN(`mqtt`)",
    "HostSNI(`*`) && HostSNI(`a.test`)",  # the named host limits it
    "(HostSNI(`a.test`) || HostSNI(`b.test`)) && !ClientIP(`10.0.0.1`)",
    "HostSNI(`a.test`",  # Traefik disables it (rule_syntax says why), it routes nothing
    "",
])
def test_a_tcp_rule_that_names_its_hosts_passes(rule):
    assert catch_all(rule) is None
    assert refusals(config({"traefik.tcp.routers.pg.rule": rule}), CHECKOUT) == []


def test_an_http_rule_matching_every_host_is_not_a_tcp_catch_all():
    assert refusals(config({"traefik.http.routers.all.rule": "PathPrefix(`/`)"}),
                    CHECKOUT) == []


def test_several_refusals_join_one_message_with_the_other_tokens():
    labels = {"traefik.http.routers.dash.service": "api@internal",
              "traefik.tcp.routers.pg.rule": "HostSNI(`*`)"}
    found = refusals({"services": {"web": {"image": "x", "privileged": True,
                                           "labels": labels}}}, CHECKOUT)
    assert [r.access for r in found] == [Access.PRIVILEGED, Access.TRAEFIK_INTERNAL,
                                         Access.TCP_CATCH_ALL]
    assert ("`otterstack config shop allow privileged,tcp-catch-all,traefik-internal`"
            in explain("shop", found))


def test_an_app_from_before_the_policy_keeps_its_dashboard_router():
    """uses(): what a migrated app's active release uses is recorded as allowed."""
    used = uses(config({"traefik.http.routers.dash.service": "api@internal"}), CHECKOUT)
    assert used == {Access.TRAEFIK_INTERNAL}


NAMES = st.sampled_from(["a.test", "b.test", "*", "*.c.test"])
MATCHERS = st.one_of(
    NAMES.map(lambda n: ("HostSNI", n)),
    st.sampled_from([("ALPN", "h2"), ("ClientIP", "10.0.0.0/8"), ("HostSNIRegexp", ".+")]))


@given(st.lists(st.lists(st.tuples(st.booleans(), MATCHERS), min_size=1, max_size=3),
                min_size=1, max_size=3))
def test_a_rule_is_a_catch_all_exactly_when_an_alternative_names_no_host(alternatives):
    rule = " || ".join(
        "(" + " && ".join(f"{'' if positive else '!'}{name}(`{arg}`)"
                          for positive, (name, arg) in conjunction) + ")"
        for conjunction in alternatives)
    open_alternative = any(
        not any(positive and name == "HostSNI" and arg != "*"
                for positive, (name, arg) in conjunction)
        for conjunction in alternatives)
    assert (catch_all(rule) is not None) == open_alternative
    assert bool(label_refusals("web", {"traefik.tcp.routers.t.rule": rule})) == open_alternative


def test_a_deploy_of_a_dashboard_router_is_refused_until_allowed(tmp_path):
    """The check before a deploy starts (prepare, through policy_check), on fake ports."""
    world = World(tmp_path)
    world.store.set_app_setting("app", "allow", "")
    dashboard = ROUTED.replace(
        "      traefik.http.services.web.loadbalancer.server.port",
        "      traefik.http.routers.dash.rule: Host(`dash.app.test`)\n"
        "      traefik.http.routers.dash.service: api@internal\n"
        "      traefik.http.services.web.loadbalancer.server.port")
    outcome = world.push(dashboard)
    assert not outcome.ok
    assert ("service 'web': traefik.http.routers.dash.service api@internal gives the "
            "container a route to Traefik's own services") in outcome.message
    assert world.runtime.commands("build", "up", "pull") == []
    world.store.set_app_setting("app", "allow", "traefik-internal")
    assert world.push(dashboard).ok, world.output.getvalue()
