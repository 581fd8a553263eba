"""The hosts an app's routers may match (rules/traefik/hosts.py): the `hosts` setting's patterns,
the rules refused under it with the router, label, rule and setting named, and what passes;
and the check before a deploy starts, on fake ports."""

import pytest
from fakes import ROUTED, World
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import parse_config
from otterstack_hooks.rules.traefik.hosts import check_hosts, host_problems, parse_hosts, within
from otterstack_hooks.usecases.rollback import Rollback

HOSTS = "shop.example.com,*.shop.example.com"
PATTERNS = tuple(HOSTS.split(","))


def problems(rule: str, protocol: str = "http") -> list[str]:
    labels = {f"traefik.{protocol}.routers.site.rule": rule}
    return [p.why for p in host_problems("web", labels, PATTERNS)]


@pytest.mark.parametrize(("name", "inside"), [
    ("shop.example.com", True),
    ("SHOP.Example.com", True),  # Traefik compares hosts in lower case
    ("shop.example.com.", True),  # and ignores a trailing dot
    ("www.shop.example.com", True),
    ("a.b.shop.example.com", True),
    ("*.shop.example.com", True),  # a HostSNI wildcard under an allowed one
    ("*.api.shop.example.com", True),
    ("example.com", False),
    ("blog.example.com", False),
    ("evilshop.example.com", False),
    ("shop.example.com.evil.test", False),
    ("*.example.com", False),
    ("shop.example.com:8000", False),  # not a name: never judged inside
    ("{sub:[a-z]+}.shop.example.com", False),  # a v2 template is not judged
    ("bücher.shop.example.com", False),
    ("", False),
])
def test_a_name_is_within_when_equal_to_or_under_a_pattern(name, inside):
    assert within(name, PATTERNS) is inside


def test_a_plain_pattern_allows_only_itself():
    assert within("shop.example.com", ("shop.example.com",))
    assert not within("www.shop.example.com", ("shop.example.com",))
    assert not within("*.shop.example.com", ("shop.example.com",))
    assert not within("shop.example.com", ("*.shop.example.com",))


@pytest.mark.parametrize("rule", [
    "Host(`shop.example.com`)",
    "Host(`shop.example.com`) || Host(`www.shop.example.com`)",
    "Host(`shop.example.com`) && PathPrefix(`/api`)",
    "(Host(`shop.example.com`) || Host(`a.shop.example.com`)) && !Path(`/admin`)",
    "Host(`shop.example.com`) && HostRegexp(`^.+$`)",  # the Host limits the request
    "Host(`shop.example.com`) && Host(`blog.example.com`)",  # matches nothing at all
    "Host(`shop.example.com`, `api.shop.example.com`)",  # v2: several names
    "HostHeader(`shop.example.com`)",  # v2's other name for Host
    "Host(`SHOP.example.com.`)",
])
def test_rules_within_the_setting_pass(rule):
    assert problems(rule) == []


@pytest.mark.parametrize(("rule", "why"), [
    ("Host(`blog.example.com`)", "may match blog.example.com"),
    ("Host(`shop.example.com`) || Host(`blog.example.com`)",
     "may match blog.example.com in its alternative Host(`blog.example.com`)"),
    ("Host(`shop.example.com`, `blog.example.com`)", "may match blog.example.com"),
    ("PathPrefix(`/`)", "can match any host: no Host matcher"),
    ("HostRegexp(`^shop\\.example\\.com$`)",
     "no Host matcher (a regular expression is not judged)"),
    ("Host(`shop.example.com`) || PathPrefix(`/`)",
     "can match any host: no Host matcher in its alternative PathPrefix(`/`)"),
    ("!Host(`blog.example.com`)", "can match any host"),
    ("Host(`shop.example.com:8000`)", "may match shop.example.com:8000"),
    ("Host(`{sub:[a-z]+}.example.com`)", "may match {sub:[a-z]+}.example.com"),
    ("Host(`shop.example.com`", "has a rule OtterStack cannot read"),
    (" && ".join(f"(Host(`h{n}.shop.example.com`) || PathPrefix(`/{n}`))" for n in range(9)),
     "too complex to tell which hosts it matches"),
])
def test_rules_that_may_leave_the_setting_are_refused(rule, why):
    [found] = problems(rule)
    assert why in found


@pytest.mark.parametrize(("rule", "refused"), [
    ("HostSNI(`db.shop.example.com`)", False),
    ("HostSNI(`*.shop.example.com`)", False),
    ("HostSNI(`*`)", False),  # every name: the tcp-catch-all token's to decide
    ("HostSNI(`*`) || HostSNI(`db.shop.example.com`)", False),
    ("HostSNI(`blog.example.com`)", True),
    ("HostSNI(`*.example.com`)", True),
    ("HostSNI(`db.shop.example.com`) || HostSNI(`blog.example.com`)", True),
])
def test_tcp_routers_name_only_hosts_within_the_setting(rule, refused):
    assert bool(problems(rule, "tcp")) is refused


def model(labels: dict, deploy: dict | None = None):
    service = {"image": "busybox", "labels": labels, "deploy": {"labels": deploy or {}}}
    return parse_config({"services": {"web": service}}, "shop-r2")


def test_the_refusal_names_router_label_rule_and_how_to_change_the_setting():
    labels = {"traefik.http.routers.site.rule": "Host(`blog.example.com`)",
              "traefik.http.routers.other.rule": "PathPrefix(`/`)",
              "traefik.http.routers.ok.rule": "Host(`shop.example.com`)"}
    with pytest.raises(OtterError) as caught:
        check_hosts(model(labels), "shop", HOSTS)
    text = str(caught.value)
    assert text.startswith("compose service 'web', label 'traefik.http.routers.site.rule': "
                           "http router 'site' may match blog.example.com, and this app may "
                           "only serve hosts within shop.example.com, *.shop.example.com (its "
                           "`hosts` setting): rule Host(`blog.example.com`).")
    assert "`otterstack config shop hosts PATTERN,...`" in text
    assert text.endswith("; and 1 more: other (web)")


def test_an_empty_setting_checks_nothing():
    check_hosts(model({"traefik.http.routers.all.rule": "PathPrefix(`/`)"}), "shop", "")


def test_every_service_and_deploy_labels_count():
    check_hosts(model({"traefik.enable": "false"}, {
        "traefik.http.routers.s.rule": "Host(`shop.example.com`)"}), "shop", HOSTS)
    with pytest.raises(OtterError, match="label 'deploy.labels.traefik.http.routers.s.rule'"):
        check_hosts(model({"traefik.http.routers.s.rule": "Host(`shop.example.com`)"},
                          {"traefik.http.routers.s.rule": "Host(`blog.example.com`)"}),
                    "shop", HOSTS)
    with pytest.raises(OtterError, match="label 'traefik.HTTP.Routers.S.Rule'"):
        check_hosts(model({"traefik.HTTP.Routers.S.Rule": "Host(`blog.example.com`)"}),
                    "shop", HOSTS)


def test_labels_of_the_built_image_count():
    config = {"services": {"web": {"build": {"context": ".", "labels": {
        "traefik.http.routers.s.rule": "Host(`blog.example.com`)"}}}}}
    with pytest.raises(OtterError, match="label 'build.labels.traefik.http.routers.s.rule'"):
        check_hosts(parse_config(config, "shop-r2"), "shop", HOSTS)


def test_a_router_without_a_rule_is_left_to_traefiks_default_rule():
    check_hosts(model({"traefik.enable": "true", "traefik.http.routers.s.rule": "",
                       "traefik.http.services.s.loadbalancer.server.port": "80"}),
                "shop", HOSTS)


@given(st.lists(st.sampled_from(["a.test", "b.test", "x.a.test", "*.a.test"]), min_size=1,
                max_size=3),
       st.lists(st.lists(st.sampled_from(["a.test", "b.test", "x.a.test", "c.test"]),
                         min_size=1, max_size=2), min_size=1, max_size=3))
def test_a_rule_passes_exactly_when_every_host_it_names_is_within(patterns, branches):
    """Rules of `||` branches with one Host each: refused iff some branch's host is outside."""
    setting = parse_hosts(",".join(patterns))
    rule = " || ".join(f"Host(`{hosts[0]}`)" for hosts in branches)
    outside = any(not within(hosts[0], tuple(setting.split(","))) for hosts in branches)
    labels = {"traefik.http.routers.r.rule": rule}
    assert bool(host_problems("web", labels, tuple(setting.split(",")))) is outside


# the check before a deploy starts (prepare), on fake ports

def test_a_router_outside_the_setting_fails_the_deploy_before_anything_starts(tmp_path):
    world = World(tmp_path)
    assert world.push().ok  # Host(`app.test`), no setting
    world.store.set_app_setting("app", "hosts", "app.test")
    started = world.runtime.commands("build", "up", "pull")
    outcome = world.push(ROUTED.replace("app.test", "www.app.test"))
    assert not outcome.ok and "router 'web' may match www.app.test" in outcome.message
    assert "`otterstack config app hosts PATTERN,...`" in outcome.message
    assert world.runtime.commands("build", "up", "pull") == started  # nothing of r2 ran
    assert world.statuses() == {"r1": "active", "r2": "failed"}
    world.store.set_app_setting("app", "hosts", "app.test,*.app.test")
    assert world.push(ROUTED.replace("app.test", "www.app.test")).ok


def test_an_instant_rollback_to_a_release_outside_the_setting_goes_the_long_way(tmp_path):
    """The kept release's checked config is held to today's `hosts`: narrowed since it
    deployed, the switch back is refused, and the rollback with a start fails in prepare."""
    world = World(tmp_path)
    assert world.push().ok and world.push().ok
    world.store.set_app_setting("app", "hosts", "new.test")
    outcome = Rollback(world.ports()).run(world.app, None, False, "admin", None)
    text = world.output.getvalue()
    assert "r1 cannot switch back as it runs: compose service 'web'" in text
    assert "router 'web' may match app.test" in text
    assert not outcome.ok and world.statuses()["r2"] == "active"
