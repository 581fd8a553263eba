"""Tests for release-unique Traefik labels: examples first, then properties over random projects."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from otterstack_hooks.rules.preview.naming import PreviewNames
from otterstack_hooks.rules.preview.slug import is_slug
from otterstack_hooks.rules.traefik.label_keys import LabelError
from otterstack_hooks.rules.traefik.labels import RouterInfo, rewrite_project_labels
from otterstack_hooks.rules.traefik.priority import PRIORITY_SCALE, Incumbent
from otterstack_hooks.rules.traefik.release_names import original_name
from otterstack_hooks.rules.traefik.rule_parser import host_rules, may_overlap

BASE = 1  # the release number: the minor key of every priority


def prio(major: int, sequence: int = BASE) -> int:
    """Traefik's own rank (user priority or rule length) as the major key."""
    return major * PRIORITY_SCALE + sequence

ID_KEY = "traefik.http.middlewares.otterstack-id~r1.headers.customresponseheaders"
DEFINITION = re.compile(r"traefik\.(http|tcp|udp)\.(routers|services|middlewares)\.([^.]+)\.(.+)")


def rewrite(services: dict[str, dict[str, str]], **kwargs: object) -> dict[str, dict[str, str]]:
    """Rewrite for release r1 and return only the labels."""
    return rewrite_project_labels(services, "r1", BASE, **kwargs)[0]


# --- examples -------------------------------------------------------------------------------


def test_router_named_differently_from_its_service_gets_that_service() -> None:
    out = rewrite(
        {
            "web": {
                "traefik.enable": "true",
                "traefik.http.routers.site.rule": "Host(`app.example`)",
                "traefik.http.services.backend.loadbalancer.server.port": "8080",
            }
        },
        id_header=None,
    )
    assert out["web"] == {
        "traefik.enable": "true",
        "traefik.http.routers.site~r1.rule": "Host(`app.example`)",
        "traefik.http.services.backend~r1.loadbalancer.server.port": "8080",
        "traefik.http.routers.site~r1.service": "backend~r1",
        "traefik.http.routers.site~r1.priority": str(prio(len("Host(`app.example`)"))),
    }


def test_two_routers_on_one_service_keep_their_relative_priorities() -> None:
    out, infos = rewrite_project_labels(
        {
            "web": {
                "traefik.enable": "true",
                "traefik.http.routers.site.rule": "Host(`app.example`)",
                "traefik.http.routers.api.rule": "Host(`app.example`) && PathPrefix(`/api`)",
                "traefik.http.routers.api.service": "backend",
                "traefik.http.services.backend.loadbalancer.server.port": "8080",
            }
        },
        "r1",
        BASE,
    )
    labels = out["web"]
    assert labels["traefik.http.routers.site~r1.service"] == "backend~r1"
    assert labels["traefik.http.routers.api~r1.service"] == "backend~r1"
    site = int(labels["traefik.http.routers.site~r1.priority"])
    api = int(labels["traefik.http.routers.api~r1.priority"])
    assert prio(1) < site < api < prio(10_000)
    assert [(i.original, i.name, i.priority) for i in infos] == [
        ("api", "api~r1", api),
        ("site", "site~r1", site),
    ]


def test_middleware_defined_on_one_service_is_renamed_where_another_uses_it() -> None:
    out = rewrite(
        {
            "auth": {
                "traefik.enable": "true",
                "traefik.http.middlewares.login.forwardauth.address": "http://auth:4181",
            },
            "web": {
                "traefik.enable": "true",
                "traefik.http.routers.web.rule": "Host(`app.example`)",
                "traefik.http.routers.web.middlewares": "login , compress",
                "traefik.http.middlewares.compress.compress": "true",
            },
        }
    )
    assert "traefik.http.middlewares.login~r1.forwardauth.address" in out["auth"]
    assert (
        out["web"]["traefik.http.routers.web~r1.middlewares"]
        == "otterstack-id~r1,login~r1,compress~r1"
    )


def test_provider_and_undefined_references_are_left_alone() -> None:
    out = rewrite(
        {
            "web": {
                "traefik.enable": "true",
                "traefik.http.routers.web.rule": "Host(`app.example`)",
                "traefik.http.routers.web.service": "api@internal",
                "traefik.http.routers.web.middlewares": "auth@file,shared,gzip@docker",
                "traefik.http.middlewares.gzip.compress": "true",
            }
        },
        id_header=None,
    )
    labels = out["web"]
    assert labels["traefik.http.routers.web~r1.service"] == "api@internal"
    # gzip@docker is this project's own gzip, which is renamed with the release
    assert labels["traefik.http.routers.web~r1.middlewares"] == "auth@file,shared,gzip~r1@docker"


def test_chain_and_errors_references_are_renamed() -> None:
    out = rewrite(
        {
            "web": {
                "traefik.enable": "true",
                "traefik.http.routers.web.rule": "Host(`app.example`)",
                "traefik.http.routers.web.middlewares": "secure",
                "traefik.http.routers.web.service": "app",
                "traefik.http.services.app.loadbalancer.server.port": "80",
                "traefik.http.services.pages.loadbalancer.server.port": "8080",
                "traefik.http.middlewares.secure.chain.middlewares": "headers,auth@file,oops",
                "traefik.http.middlewares.headers.headers.framedeny": "true",
                "traefik.http.middlewares.oops.errors.service": "pages",
                "traefik.http.middlewares.oops.errors.status": "500-599",
            }
        }
    )
    labels = out["web"]
    assert labels["traefik.http.middlewares.secure~r1.chain.middlewares"] == (
        "headers~r1,auth@file,oops~r1"
    )
    assert labels["traefik.http.middlewares.oops~r1.errors.service"] == "pages~r1"
    assert labels["traefik.http.middlewares.oops~r1.errors.status"] == "500-599"


def test_weighted_service_members_are_renamed() -> None:
    out = rewrite(
        {
            "web": {
                "traefik.enable": "true",
                "traefik.http.routers.web.rule": "Host(`app.example`)",
                "traefik.http.routers.web.service": "split",
                "traefik.http.services.split.weighted.services[0].name": "blue",
                "traefik.http.services.split.weighted.services[1].name": "green@file",
                "traefik.http.services.blue.loadbalancer.server.port": "80",
            }
        }
    )
    labels = out["web"]
    assert labels["traefik.http.services.split~r1.weighted.services[0].name"] == "blue~r1"
    assert labels["traefik.http.services.split~r1.weighted.services[1].name"] == "green@file"


def test_router_without_any_service_gets_an_explicit_default_service() -> None:
    out, infos = rewrite_project_labels(
        {
            "web": {
                "traefik.enable": "true",
                "traefik.http.routers.site.rule": "Host(`app.example`)",
                "traefik.http.routers.site.entrypoints": "web, websecure",
                "traefik.http.routers.site.tls.certresolver": "le",
            }
        },
        "r1",
        BASE,
    )
    labels = out["web"]
    assert labels["traefik.http.routers.site~r1.service"] == "web~r1"
    assert labels["traefik.http.services.web~r1.loadbalancer.passhostheader"] == "true"
    assert labels["traefik.http.routers.site~r1.middlewares"] == "otterstack-id~r1"
    assert labels[f"{ID_KEY}.X-Otterstack-Release"] == "r1"
    assert infos == [
        RouterInfo(
            protocol="http",
            original="site",
            name="site~r1",
            service="web",
            rule="Host(`app.example`)",
            entrypoints=("web", "websecure"),
            priority=prio(len("Host(`app.example`)")),
            tls=True,
        )
    ]


def test_option_spelling_is_kept_and_not_duplicated() -> None:
    out = rewrite(
        {
            "web": {
                "traefik.enable": "true",
                "traefik.HTTP.Routers.site.Rule": "Host(`a`)",
                "traefik.HTTP.Routers.site.Priority": "5",
                "traefik.HTTP.Routers.site.Service": "app",
                "traefik.HTTP.Routers.site.Middlewares": "gzip",
                "traefik.http.middlewares.gzip.compress": "true",
                "traefik.http.services.app.loadbalancer.server.port": "80",
            }
        }
    )
    assert {key: value for key, value in out["web"].items() if "routers" in key.lower()} == {
        "traefik.HTTP.Routers.site~r1.Rule": "Host(`a`)",
        "traefik.HTTP.Routers.site~r1.Priority": str(prio(5)),
        "traefik.HTTP.Routers.site~r1.Service": "app~r1",
        "traefik.HTTP.Routers.site~r1.Middlewares": "otterstack-id~r1,gzip~r1",
    }


def test_user_priority_and_custom_id_header() -> None:
    out = rewrite(
        {
            "web": {
                "traefik.enable": "true",
                "traefik.http.routers.web.rule": "Host(`app.example`)",
                "traefik.http.routers.web.priority": "42",
            }
        },
        id_header="X-Release",
    )
    assert out["web"]["traefik.http.routers.web~r1.priority"] == str(prio(42))
    assert out["web"][f"{ID_KEY}.X-Release"] == "r1"


def test_tcp_and_udp_routers() -> None:
    out, infos = rewrite_project_labels(
        {
            "db": {
                "traefik.enable": "true",
                "traefik.tcp.routers.pg.rule": "HostSNI(`*`)",
                "traefik.tcp.routers.pg.middlewares": "lan",
                "traefik.tcp.middlewares.lan.ipallowlist.sourcerange": "10.0.0.0/8",
                "traefik.tcp.services.pg.loadbalancer.server.port": "5432",
                "traefik.udp.routers.dns.entrypoints": "dns",
                "traefik.udp.services.dns.loadbalancer.server.port": "53",
                "traefik.udp.middlewares.x.y": "z",
            }
        },
        "r1",
        BASE,
    )
    labels = out["db"]
    assert labels["traefik.tcp.routers.pg~r1.service"] == "pg~r1"
    assert labels["traefik.tcp.routers.pg~r1.priority"] == str(prio(len("HostSNI(`*`)")))
    assert labels["traefik.tcp.routers.pg~r1.middlewares"] == "lan~r1"
    assert labels["traefik.udp.routers.dns~r1.service"] == "dns~r1"
    assert labels["traefik.udp.middlewares.x.y"] == "z"
    assert not any(key.startswith("traefik.udp.routers.dns~r1.priority") for key in labels)
    assert not any("otterstack-id" in key for key in labels)
    assert [(i.protocol, i.priority) for i in infos] == [("tcp", prio(12)), ("udp", 0)]


def test_non_traefik_and_global_traefik_labels_are_kept_byte_for_byte() -> None:
    labels = {
        "traefik.enable": "TRUE",
        "traefik.docker.network": "proxy",
        "traefik.tags": "a, b",
        "com.example.note": "  spaced , value ",
        "traefik.http.routers.web.rule": "Host(`app.example`)",
    }
    out = rewrite({"web": labels})["web"]
    for key in ("traefik.enable", "traefik.docker.network", "traefik.tags", "com.example.note"):
        assert out[key] == labels[key]


@pytest.mark.parametrize("enable", [None, "false", "no", "0"])
def test_services_not_enabled_for_traefik_are_unchanged(enable: str | None) -> None:
    labels = {"traefik.http.routers.web.rule": "Host(`a`)", "traefik.http.routers.": "x"}
    if enable is not None:
        labels["traefik.enable"] = enable
    out, infos = rewrite_project_labels({"web": labels, "plain": {}}, "r1", BASE)
    assert out == {"web": labels, "plain": {}}
    assert infos == []


@pytest.mark.parametrize("enable", ["true", "True", "TRUE", "1", "t"])
def test_enable_values_traefik_reads_as_true_route_the_service(enable: str) -> None:
    out = rewrite({"web": {"traefik.enable": enable, "traefik.http.routers.w.rule": "Host(`a`)"}})
    assert "traefik.http.routers.w~r1.rule" in out["web"]


def test_same_input_gives_same_output_and_input_is_not_modified() -> None:
    services = {
        "web": {"traefik.enable": "true", "traefik.http.routers.w.rule": "Host(`a`)"},
        "api": {"traefik.enable": "true", "traefik.http.routers.a.rule": "Host(`b`)"},
    }
    snapshot = {name: dict(labels) for name, labels in services.items()}
    first = rewrite_project_labels(services, "r1", BASE)
    assert rewrite_project_labels(services, "r1", BASE) == first
    assert services == snapshot


def _enabled(**labels: str) -> dict[str, dict[str, str]]:
    return {"web": {"traefik.enable": "true", **labels}}


@pytest.mark.parametrize(
    ("labels", "key"),
    [
        ({"traefik.http.routers.": "x"}, "traefik.http.routers."),
        ({"traefik.http.routers.web": "x"}, "traefik.http.routers.web"),
        ({"traefik.http.routers.web.": "x"}, "traefik.http.routers.web."),
        ({"traefik.http.routers": "x"}, "traefik.http.routers"),
        ({"traefik.http.routers.we$b.rule": "Host(`a`)"}, "traefik.http.routers.we$b.rule"),
        ({"traefik.tcp.services..loadbalancer.server.port": "1"}, "traefik.tcp.services.."),
        (
            {"traefik.http.routers.w.rule": "Host(`a`)", "traefik.http.routers.w.priority": "x"},
            "traefik.http.routers.w.priority",
        ),
        (
            {"traefik.http.routers.w.rule": "Host(`a`)", "traefik.http.routers.w.priority": "-1"},
            "traefik.http.routers.w.priority",
        ),
        (
            {
                "traefik.http.routers.w.rule": "Host(`a`)",
                "traefik.http.routers.w.priority": "9223372036",
            },
            "traefik.http.routers.w.priority",
        ),
        (
            {
                "traefik.http.routers.w.rule": "Host(`a`)",
                "traefik.http.services.a.loadbalancer.server.port": "1",
                "traefik.http.services.b.loadbalancer.server.port": "2",
            },
            "traefik.http.routers.w.service",
        ),
        ({"traefik.tcp.routers.t.rule": "HostSNI(`*`)"}, "traefik.tcp.routers.t.service"),
        ({"traefik.udp.routers.u.entrypoints": "dns"}, "traefik.udp.routers.u.service"),
        (
            {"traefik.http.middlewares.otterstack-id.headers.framedeny": "true"},
            "traefik.http.middlewares.otterstack-id.headers.framedeny",
        ),
    ],
)
def test_label_errors_name_the_service_and_the_key(labels: dict[str, str], key: str) -> None:
    with pytest.raises(LabelError) as error:
        rewrite_project_labels(_enabled(**labels), "r1", BASE)
    assert "'web'" in str(error.value)
    assert key in str(error.value)


def test_default_service_name_clashing_with_a_defined_service_is_an_error() -> None:
    services = {
        "web": {"traefik.enable": "true", "traefik.http.routers.site.rule": "Host(`a`)"},
        "api": {
            "traefik.enable": "true",
            "traefik.http.services.web.loadbalancer.server.port": "80",
        },
    }
    with pytest.raises(LabelError, match="traefik.http.routers.site.service"):
        rewrite_project_labels(services, "r1", BASE)


def test_priority_beyond_traefiks_maximum_is_an_error() -> None:
    services = _enabled(**{"traefik.tcp.routers.t.service": "x"})
    highest = Incumbent("tcp", "t-r0", None, (), 2**63 - 1 - 1000 - 1)
    rewrite_project_labels(services, "r1", 1, incumbents=(highest,))
    with pytest.raises(LabelError, match="maximum"):
        too_high = Incumbent("tcp", "t-r0", None, (), 2**63 - 1 - 1000)
        rewrite_project_labels(services, "r1", 1, incumbents=(too_high,))


def test_docker_references_to_own_definitions_follow_the_rename() -> None:
    """`authelia@docker` names this release's own middleware: Traefik disabled the router
    ("middleware authelia@docker does not exist") while the reference kept the old name."""
    out = rewrite(
        {
            "auth": {
                "traefik.enable": "true",
                "traefik.http.routers.auth.rule": "Host(`auth.example`)",
                "traefik.http.middlewares.authelia.forwardAuth.address": "http://auth:9091/",
                "traefik.http.services.auth.loadbalancer.server.port": "9091",
            },
            "app": {
                "traefik.enable": "true",
                "traefik.http.routers.app.rule": "Host(`app.example`)",
                "traefik.http.routers.app.middlewares": "authelia@docker,secure@file,other@docker",
                "traefik.http.routers.app.service": "auth@docker",
                "traefik.http.middlewares.chain.chain.middlewares": "authelia@docker",
            },
        },
        id_header=None,
    )
    app = out["app"]
    assert app["traefik.http.routers.app~r1.middlewares"] == (
        "authelia~r1@docker,secure@file,other@docker"
    )
    assert app["traefik.http.routers.app~r1.service"] == "auth~r1@docker"
    assert app["traefik.http.middlewares.chain~r1.chain.middlewares"] == "authelia~r1@docker"


def test_forward_auth_to_a_routed_service_asks_this_release_only() -> None:
    """Every release's `authelia` answers to `authelia` on Traefik's network: forward-auth
    calls reached the stopping release and failed. The address names the release's own."""
    out = rewrite_project_labels(
        {
            "authelia": {
                "traefik.enable": "true",
                "traefik.http.routers.auth.rule": "Host(`auth.example`)",
                "traefik.http.middlewares.authelia.forwardAuth.address":
                    "http://authelia:9091/api/authz/forward-auth?rd=x",
                "traefik.http.middlewares.other.forwardauth.address": "https://sso.example/",
                "traefik.http.middlewares.db.forwardauth.address": "http://redis:6379/",
            },
            "redis": {"image": "redis"},
        },
        "shop-r7", 7, id_header=None,
    )[0]["authelia"]
    assert out["traefik.http.middlewares.authelia~shop-r7.forwardAuth.address"] == (
        "http://shop-r7__authelia:9091/api/authz/forward-auth?rd=x")
    assert out["traefik.http.middlewares.other~shop-r7.forwardauth.address"] == (
        "https://sso.example/")
    # redis is not routed, so not on Traefik's network: left as written
    assert out["traefik.http.middlewares.db~shop-r7.forwardauth.address"] == "http://redis:6379/"


def test_a_forward_auth_alias_longer_than_a_dns_label_is_refused() -> None:
    """Go's resolver (Traefik's) looks up no name part over 63 characters: every auth
    request would fail. The deploy fails first, naming the label and the fix."""
    project = "a" * 51 + "-r7"  # 64 characters with `__authelia`
    labels = {"traefik.enable": "true",
              "traefik.http.routers.auth.rule": "Host(`auth.example`)",
              "traefik.http.middlewares.sso.forwardauth.address": "http://authelia:9091/"}
    with pytest.raises(LabelError) as error:
        rewrite_project_labels({"authelia": labels}, project, 7, id_header=None)
    assert str(error.value) == (
        "compose service 'authelia', label 'traefik.http.middlewares.sso.forwardauth.address'"
        f": the address names service 'authelia', which this release calls "
        f"'{project}__authelia' on Traefik's network: longer than a DNS name part (63 "
        "characters), so Traefik could not look it up. Give the service a shorter name")
    assert rewrite_project_labels({"authelia": labels}, "a" * 50 + "-r7", 7, id_header=None)
    # credentials in the address: left as written, so nothing to look up by the alias
    labels["traefik.http.middlewares.sso.forwardauth.address"] = "http://u:p@authelia:9091/"
    out = rewrite_project_labels({"authelia": labels}, project, 7, id_header=None)[0]
    assert out["authelia"][f"traefik.http.middlewares.sso~{project}.forwardauth.address"] == (
        "http://u:p@authelia:9091/")


def test_internal_and_file_references_are_never_renamed() -> None:
    out = rewrite(
        _enabled(
            **{
                "traefik.http.routers.api.rule": "Host(`t.example`)",
                "traefik.http.routers.api.service": "api@internal",
                "traefik.http.routers.api.middlewares": "api@file",
                "traefik.http.services.api.loadbalancer.server.port": "80",
                "traefik.http.middlewares.api.headers.framedeny": "true",
            }
        ),
        id_header=None,
    )["web"]
    assert out["traefik.http.routers.api~r1.service"] == "api@internal"
    assert out["traefik.http.routers.api~r1.middlewares"] == "api@file"


def test_a_router_defined_differently_by_two_services_is_refused_before_start() -> None:
    services = {
        "one": {
            "traefik.enable": "true",
            "traefik.http.routers.site.rule": "Host(`a.example`)",
            "traefik.http.routers.site.service": "s",
            "traefik.http.services.s.loadbalancer.server.port": "80",
        },
        "two": {
            "traefik.enable": "true",
            "traefik.http.Routers.site.Rule": "Host(`b.example`)",
            "traefik.http.routers.site.service": "s",
            "traefik.http.services.s.loadbalancer.server.port": "8080",
        },
    }
    with pytest.raises(LabelError) as error:
        rewrite_project_labels(services, "r1", 1)
    text = str(error.value)
    assert "'two'" in text and "'one'" in text and "router 'site'" in text
    assert "Host(`a.example`)" in text and "Host(`b.example`)" in text


def test_identical_definitions_and_pooled_services_on_two_services_are_fine() -> None:
    same = {
        "traefik.enable": "true",
        "traefik.http.routers.site.rule": "Host(`a.example`)",
        "traefik.http.routers.site.service": "s",
    }
    services = {
        "one": {**same, "traefik.http.services.s.loadbalancer.server.port": "80"},
        "two": {**same, "traefik.http.services.s.loadbalancer.server.port": "8080"},
    }
    out, infos = rewrite_project_labels(services, "r1", 1)
    assert [i.priority for i in infos] == [prio(len("Host(`a.example`)"))] * 2


def test_middlewares_defined_differently_by_two_services_are_refused() -> None:
    services = {
        name: {
            "traefik.enable": "true",
            "traefik.http.middlewares.strip.stripprefix.prefixes": prefix,
        }
        for name, prefix in (("one", "/a"), ("two", "/b"))
    }
    with pytest.raises(LabelError, match="middleware 'strip'"):
        rewrite_project_labels(services, "r1", 1)


def test_a_later_catch_all_of_another_app_never_outranks_a_host_rule() -> None:
    """App a on a Host rule, then app b on PathPrefix(`/`) deployed later: Traefik's own
    order (rule length) must hold between apps, whatever their release numbers, in both
    directions (a 14-byte `Host(`a.test`)` loses to the 15-byte catch-all in Traefik too)."""

    def router(rule: str, release: str, sequence: int) -> RouterInfo:
        labels = _enabled(**{"traefik.http.routers.x.rule": rule})
        return rewrite_project_labels(labels, release, sequence)[1][0]

    a = router("Host(`app-a.test`)", "a-r1", 1)
    b = router("PathPrefix(`/`)", "b-r9", 9)
    assert a.priority > b.priority
    assert router("Host(`a.test`)", "a-r10", 10).priority < b.priority
    user = rewrite_project_labels(
        _enabled(
            **{
                "traefik.http.routers.c.rule": "PathPrefix(`/`)",
                "traefik.http.routers.c.priority": "1000",
            }
        ),
        "c-r10",
        10,
    )[1][0]
    assert user.priority > a.priority  # an explicit user priority ranks as in Traefik


def test_a_shorter_rule_is_raised_just_above_the_router_it_replaces() -> None:
    """r1 `Host(a) && PathPrefix(/)` outranks r2 `Host(a)` by rule length: r2 could never be
    proven, so it is placed just above r1 (and said so)."""
    old = rewrite_project_labels(
        _enabled(**{"traefik.http.routers.w.rule": "Host(`a.test`) && PathPrefix(`/`)"}),
        "app-r1", 1,
    )[1][0]
    other_host = Incumbent("http", "z-app-r1", "Host(`z.test`)", (), prio(10_000, 1))
    other_entrypoint = Incumbent("http", "y-app-r1", None, ("websecure",), prio(10_000, 1))
    incumbents = (
        Incumbent("http", old.name, old.rule, old.entrypoints, old.priority, "w"),
        other_host,
        other_entrypoint,
    )
    new = rewrite_project_labels(
        _enabled(
            **{
                "traefik.http.routers.w.rule": "Host(`a.test`)",
                "traefik.http.routers.w.entrypoints": "web",
            }
        ),
        "app-r2", 2, incumbents=incumbents,
    )[1][0]
    assert new.priority == old.priority + 1
    assert new.raised_above == (old.name,)
    longer = rewrite_project_labels(
        _enabled(**{"traefik.http.routers.w.rule": "Host(`a.test`) && PathPrefix(`/api`)"}),
        "app-r2", 2, incumbents=incumbents[:1],
    )[1][0]
    assert longer.raised_above == () and longer.priority == prio(len(longer.rule or ""), 2)


def test_routers_the_user_ranked_higher_keep_their_rank_over_the_next_release() -> None:
    """admin (priority 10) and site (5) on one host: r2's site must not be raised above r1's
    admin, or it would tie with r2's admin and Traefik would pick either."""
    labels = _enabled(
        **{
            "traefik.http.routers.admin.rule": "Host(`a.test`) && PathPrefix(`/admin`)",
            "traefik.http.routers.admin.priority": "10",
            "traefik.http.routers.site.rule": "Host(`a.test`)",
            "traefik.http.routers.site.priority": "5",
            "traefik.http.services.s.loadbalancer.server.port": "80",
        }
    )
    first = rewrite_project_labels(labels, "app-r1", 1)[1]
    second = rewrite_project_labels(labels, "app-r2", 2, incumbents=_incumbents(first))[1]
    old, new = {i.original: i for i in first}, {i.original: i for i in second}
    assert new["site"].raised_above == () and new["admin"].raised_above == ()
    assert new["admin"].priority > new["site"].priority
    assert new["site"].priority > old["site"].priority
    assert new["admin"].priority > old["admin"].priority


def test_a_router_the_new_release_no_longer_has_is_outranked() -> None:
    gone = Incumbent("http", "api-app-r1@docker", "Host(`a.test`) && PathPrefix(`/api`)", (),
                     prio(40, 1), "api")
    site = rewrite_project_labels(
        _enabled(**{"traefik.http.routers.site.rule": "Host(`a.test`)"}), "app-r2", 2,
        incumbents=(gone,),
    )[1][0]
    assert site.priority == gone.priority + 1 and site.raised_above == (gone.name,)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("site~shop-r6", "site"),
        ("site-shop-r6", "site"),  # a release deployed before `~`
        ("a~b~shop-r6", "a~b"),
        ("shop-r6", "shop-r6"),
        ("site~shop-r7", "site~shop-r7"),
    ],
)
def test_original_name(name: str, expected: str) -> None:
    assert original_name(name, "shop-r6") == expected


@pytest.mark.parametrize(
    ("protocol", "rule", "entrypoints", "other", "other_entrypoints", "expected"),
    [
        ("http", "Host(`a`)", (), "Host(`b`)", (), False),
        ("http", "Host(`a`)", (), "Host(`A`) && Path(`/x`)", (), True),
        ("http", "Host(`a`) || Host(`b`)", (), "Host(`b`)", (), True),
        ("http", "Host(`a`)", (), "PathPrefix(`/`)", (), True),
        ("http", "Host(`a`)", (), "HostRegexp(`.+`)", (), True),
        ("http", "Host(`a`)", ("web",), "Host(`a`)", ("websecure",), False),
        ("http", "Host(`a`)", ("web",), "Host(`a`)", (), True),
        ("http", "not a rule", (), "Host(`b`)", (), True),
        ("tcp", "HostSNI(`a`)", (), "HostSNI(`b`)", (), True),
    ],
)
def test_may_overlap(
    protocol: str,
    rule: str,
    entrypoints: tuple[str, ...],
    other: str,
    other_entrypoints: tuple[str, ...],
    expected: bool,
) -> None:
    assert may_overlap(protocol, rule, entrypoints, other, other_entrypoints) is expected


def test_reserved_middleware_name_is_allowed_without_id_header() -> None:
    services = _enabled(**{"traefik.http.middlewares.otterstack-id.headers.framedeny": "true"})
    out = rewrite(services, id_header=None)
    assert "traefik.http.middlewares.otterstack-id~r1.headers.framedeny" in out["web"]


@pytest.mark.parametrize(("release", "id_header"), [("R1", "X-A"), ("r.1", "X-A"), ("r1", "X.A")])
def test_arguments_that_would_break_label_keys_are_rejected(release: str, id_header: str) -> None:
    with pytest.raises(ValueError, match=r"must match"):
        rewrite_project_labels({}, release, BASE, id_header)


# --- host_rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("Host(`app.example`)", [("app.example", "/")]),
        ('Host("App.Example") && PathPrefix("/api")', [("app.example", "/api")]),
        ("Host(`a`, `b`) && Path(`/x`)", [("a", "/x"), ("b", "/x")]),
        ("Host(`a`) || Host(`b`) && PathPrefix(`/p`)", [("a", "/"), ("b", "/p")]),
        ("(Host(`a`) || Host(`b`)) && PathPrefix(`/p`)", [("a", "/p"), ("b", "/p")]),
        ("Host(`a`) && Host(`b`)", []),
        ("Host(`a`, `b`) && !Host(`a`)", [("b", "/")]),
        ("Host(`a`) && PathPrefix(`/`) && PathPrefix(`/api`)", [("a", "/api")]),
        ("Host(`a`) && Path(`/x`) && PathPrefix(`/y`)", []),
        ("Host(`a`) && !PathPrefix(`/`)", []),
        ("Host(`a`) && Method(`GET`) && Header(`X-A`, `b`)", [("a", "/")]),
        ("Host(`a`) || PathPrefix(`/p`)", [("a", "/")]),
        ("!(!Host(`a`) || !PathPrefix(`/p`))", [("a", "/p")]),
        ("HostRegexp(`^.+\\.example$`)", []),
        ("HostSNI(`db.example`)", []),
        ("ClientIP(`10.0.0.0/8`)", []),
        ('PathPrefix("/a\\"b")', []),
        ("  Host(`a`)  ", [("a", "/")]),
    ],
)
def test_host_rules(rule: str, expected: list[tuple[str, str]]) -> None:
    assert host_rules(rule) == expected


@pytest.mark.parametrize("rule", ["", "Host(`a`", "Host(a)", "Host(`a`) &&", "Host(`a`) Host(`b`)"])
def test_host_rules_rejects_unparseable_rules(rule: str) -> None:
    with pytest.raises(ValueError, match="can't parse rule"):
        host_rules(rule)


HOSTS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}\.)?[a-z]{1,5}", fullmatch=True)
PATHS = st.from_regex(r"/[a-z0-9/_-]{0,10}", fullmatch=True)


@given(st.lists(st.tuples(HOSTS, PATHS), min_size=1, max_size=4, unique_by=lambda p: p[0]))
def test_host_rules_finds_every_alternative(pairs: list[tuple[str, str]]) -> None:
    rule = " || ".join(f"(Host(`{host}`) && PathPrefix(`{path}`))" for host, path in pairs)
    assert host_rules(rule) == pairs


# --- properties over generated projects -----------------------------------------------------

COMPOSE_NAMES = ["web", "api", "worker", "db", "cache"]
NAMES = st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True).filter(
    lambda name: name not in COMPOSE_NAMES and name != "otterstack-id"
)
EXTRA_KEYS = st.from_regex(r"[a-z][a-z0-9._-]{0,15}", fullmatch=True).filter(
    lambda key: not key.startswith("traefik.")
)


def _reference(draw: st.DrawFn, names: list[str]) -> str:
    """A name that may or may not be defined, sometimes pinned to another provider."""
    name = draw(st.sampled_from(names))
    return name + draw(st.sampled_from(["", "", "@file", "@docker"]))


def _references(draw: st.DrawFn, names: list[str]) -> str:
    """A comma-separated list of references, sometimes with spaces after the commas."""
    count = draw(st.integers(1, 3))
    return draw(st.sampled_from([",", ", "])).join(_reference(draw, names) for _ in range(count))


def _router_labels(
    draw: st.DrawFn, proto: str, name: str, names: list[str], own_services: int
) -> dict[str, str]:
    """Labels of one router; a service is given whenever leaving it out would be an error."""
    key = f"traefik.{proto}.routers.{name}"
    labels = {f"{key}.entrypoints": draw(st.sampled_from(["web", "web,websecure"]))}
    if proto == "http":
        labels[f"{key}.rule"] = f"Host(`{draw(HOSTS)}`)"
    if proto == "tcp":
        labels[f"{key}.rule"] = "HostSNI(`*`)"
    if proto != "http" or own_services > 1 or draw(st.booleans()):
        labels[f"{key}.service"] = _reference(draw, names)
    if proto != "udp" and draw(st.booleans()):
        labels[f"{key}.middlewares"] = _references(draw, names)
    if proto != "udp" and draw(st.booleans()):
        labels[f"{key}.priority"] = str(draw(st.integers(0, 9999)))
    if draw(st.booleans()):
        labels[f"{key}.tls"] = "true"
    return labels


def _middleware_labels(draw: st.DrawFn, proto: str, name: str, names: list[str]) -> dict[str, str]:
    key = f"traefik.{proto}.middlewares.{name}"
    if proto == "tcp":
        return {f"{key}.ipallowlist.sourcerange": "10.0.0.0/8"}
    variant = draw(st.sampled_from(["chain", "errors", "stripprefix"]))
    if variant == "chain":
        return {f"{key}.chain.middlewares": _references(draw, names)}
    if variant == "errors":
        return {f"{key}.errors.service": _reference(draw, names), f"{key}.errors.status": "500"}
    return {f"{key}.stripprefix.prefixes": "/api"}


@st.composite
def projects(draw: st.DrawFn) -> dict[str, dict[str, str]]:
    """Compose services with routers, services and middlewares referring to each other."""
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    compose = draw(st.lists(st.sampled_from(COMPOSE_NAMES), min_size=1, max_size=4, unique=True))
    protos = st.sampled_from(["http", "tcp", "udp"])
    project = {}
    # A name defined on several compose services is defined identically (a router without a
    # service only once): different definitions are refused, tested separately.
    defined: dict[tuple[str, str, str], dict[str, str]] = {}
    for service in compose:
        labels = draw(st.dictionaries(EXTRA_KEYS, st.text(max_size=10), max_size=3))
        labels["traefik.enable"] = draw(st.sampled_from(["true", "True", "false"]))
        if draw(st.booleans()):
            labels["traefik.docker.network"] = "proxy"
        services = draw(
            st.lists(st.tuples(protos, st.sampled_from(names)), max_size=3, unique=True)
        )
        for proto, name in services:
            labels[f"traefik.{proto}.services.{name}.loadbalancer.server.port"] = "80"
        middlewares = st.tuples(st.sampled_from(["http", "tcp"]), st.sampled_from(names))
        for proto, name in draw(st.lists(middlewares, max_size=3, unique=True)):
            if (proto, "middlewares", name) not in defined:
                defined[proto, "middlewares", name] = _middleware_labels(draw, proto, name, names)
            labels.update(defined[proto, "middlewares", name])
        for proto, name in draw(st.lists(st.tuples(protos, st.sampled_from(names)), max_size=3)):
            own = sum(1 for p, _ in services if p == proto)
            router = defined.get((proto, "routers", name))
            if router is None:
                router = defined[proto, "routers", name] = _router_labels(
                    draw, proto, name, names, own
                )
            elif f"traefik.{proto}.routers.{name}.service" not in router:
                continue
            labels.update(router)
        project[service] = labels
    return project


def _routed(project: dict[str, dict[str, str]]) -> list[str]:
    return [s for s, labels in project.items() if labels.get("traefik.enable") != "false"]


def _definitions(labels: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(proto, kind, name, rest) of every definition label, found independently of the module."""
    matches = (DEFINITION.fullmatch(key) for key in labels)
    return [
        m.groups() for m in matches if m is not None and m.group(1, 2) != ("udp", "middlewares")
    ]


def _defined(project: dict[str, dict[str, str]], routed: list[str]) -> set[tuple[str, str, str]]:
    return {(p, k, n) for s in routed for p, k, n, _ in _definitions(project[s])}


def _references_in(labels: dict[str, str]) -> list[tuple[str, str, str]]:
    """(proto, kind, name) of every service/middleware reference in a service's labels."""
    refs = []
    for key, value in labels.items():
        match = DEFINITION.fullmatch(key)
        if match is None:
            continue
        proto, kind, _, rest = match.groups()
        if (kind, rest) in {("routers", "service"), ("middlewares", "errors.service")}:
            refs.append((proto, "services", value))
        if (kind, rest) in {("routers", "middlewares"), ("middlewares", "chain.middlewares")}:
            refs.extend((proto, "middlewares", name.strip()) for name in value.split(","))
    return refs


RELEASES = st.integers(0, 10_000).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(n + 1, n + 100_000))
)


def _incumbents(infos: list[RouterInfo]) -> tuple[Incumbent, ...]:
    return tuple(
        Incumbent(i.protocol, i.name, i.rule, i.entrypoints, i.priority, i.original)
        for i in infos
    )


@settings(max_examples=300)
@given(projects(), RELEASES)
def test_releases_never_share_names_and_later_ones_win(
    project: dict[str, dict[str, str]], releases: tuple[int, int]
) -> None:
    out1, infos1 = rewrite_project_labels(project, f"r{releases[0]}", releases[0])
    out2, infos2 = rewrite_project_labels(
        project, f"r{releases[1]}", releases[1], incumbents=_incumbents(infos1)
    )
    routed = _routed(project)
    assert _defined(out1, routed).isdisjoint(_defined(out2, routed))
    assert [(i.service, i.protocol, i.original) for i in infos1] == [
        (i.service, i.protocol, i.original) for i in infos2
    ]
    for first, second in zip(infos1, infos2, strict=True):
        assert first.name != second.name
        assert second.priority > first.priority or first.protocol == "udp"
    for new in infos2:
        for old in infos1:
            if old.original == new.original and old.protocol == new.protocol != "udp":
                assert new.priority > old.priority  # each router outranks its predecessor


@settings(max_examples=200)
@given(
    st.integers(0, 100_000),
    st.integers(0, 100_000),
    st.integers(0, PRIORITY_SCALE - 1),
    st.integers(0, PRIORITY_SCALE - 1),
)
def test_between_apps_traefiks_own_order_holds_whatever_the_release_numbers(
    major_a: int, major_b: int, sequence_a: int, sequence_b: int
) -> None:
    def priority(major: int, sequence: int, name: str) -> int:
        labels = _enabled(
            **{
                "traefik.http.routers.w.rule": "Host(`a.test`)",
                "traefik.http.routers.w.priority": str(major),
            }
        )
        return rewrite_project_labels(labels, name, sequence)[1][0].priority

    a, b = priority(major_a, sequence_a, "a-r1"), priority(major_b, sequence_b, "b-r1")
    if major_a != major_b:
        assert (a > b) == (major_a > major_b)


@settings(max_examples=300)
@given(projects())
def test_only_definitions_change_and_references_resolve(
    project: dict[str, dict[str, str]],
) -> None:
    out, infos = rewrite_project_labels(project, "r7", 7)
    routed = _routed(project)
    assert out.keys() == project.keys()
    for service, labels in project.items():
        if service not in routed:
            assert out[service] == labels
        kept = {k: v for k, v in labels.items() if DEFINITION.fullmatch(k) is None}
        assert {k: v for k, v in out[service].items() if DEFINITION.fullmatch(k) is None} == kept
    defined_in, defined_out = _defined(project, routed), _defined(out, routed)
    assert all(name.endswith("~r7") for _, _, name in defined_out)
    for service in routed:
        for proto, kind, name in _references_in(out[service]):
            assert (
                "@" in name
                or (proto, kind, name) in defined_out
                or (proto, kind, name) not in defined_in
            ), (service, proto, kind, name)
    routers = {
        (s, p, n) for s in routed for p, k, n, _ in _definitions(project[s]) if k == "routers"
    }
    assert {(i.service, i.protocol, i.original) for i in infos} == routers


@settings(max_examples=200)
@given(projects())
def test_every_router_is_complete(project: dict[str, dict[str, str]]) -> None:
    out, infos = rewrite_project_labels(project, "r7", 7)
    for info in infos:
        labels = out[info.service]
        key = f"traefik.{info.protocol}.routers.{info.name}"
        if f"traefik.{info.protocol}.routers.{info.original}.service" not in project[info.service]:
            own = {
                n for p, k, n, _ in _definitions(labels) if (p, k) == (info.protocol, "services")
            }
            assert labels[f"{key}.service"] in own
            implicit = f"{info.service}-r7"
            assert own == {implicit} or implicit not in own
        if info.protocol == "udp":
            assert f"{key}.priority" not in labels
            continue
        assert labels[f"{key}.priority"] == str(info.priority)
        assert info.priority % PRIORITY_SCALE == 7
        assert info.priority // PRIORITY_SCALE == int(
            project[info.service].get(
                f"traefik.{info.protocol}.routers.{info.original}.priority",
                len(project[info.service].get(
                    f"traefik.{info.protocol}.routers.{info.original}.rule", "").encode())))
        if info.protocol == "http":
            assert labels[f"{key}.middlewares"].split(",")[0] == "otterstack-id~r7"


@given(projects())
def test_output_is_deterministic_and_independent_of_service_order(
    project: dict[str, dict[str, str]],
) -> None:
    result = rewrite_project_labels(project, "r3", 3)
    assert rewrite_project_labels(project, "r3", 3) == result
    reordered = dict(reversed(list(project.items())))
    assert rewrite_project_labels(reordered, "r3", 3) == result


SHORT_APPS = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
SHORT_SLUGS = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True).filter(is_slug)


@st.composite
def release_projects(draw: st.DrawFn) -> str:
    """The compose project of a release of some app: production's `<app>-r<N>` or a
    preview's `<app>_<slug>-r<N>` (naming.PreviewNames), short so that parts of two meet."""
    app, release = draw(SHORT_APPS), f"r{draw(st.integers(1, 12))}"
    slug = draw(st.none() | SHORT_SLUGS)
    return f"{app}-{release}" if slug is None else PreviewNames(app, slug).project(release)


def _one_router(name: str) -> dict[str, dict[str, str]]:
    return {"web": {"traefik.enable": "true",
                    f"traefik.http.routers.{name}.rule": "Host(`a.test`)",
                    f"traefik.http.services.{name}.loadbalancer.server.port": "80"}}


@settings(max_examples=500)
@given(release_projects(), release_projects(), NAMES, NAMES)
@example("a-r2", "x-a-r2", "shop-x", "shop")  # both were `shop-x-a-r2` before `~`
@example("shop_x-r2", "shop-r2", "a", "a-shop_x")
def test_two_releases_never_define_the_same_name(
    project_a: str, project_b: str, name_a: str, name_b: str
) -> None:
    """Names are the pusher's: whatever two pushers write, of two apps or two previews or
    one app's two releases, no renamed name of one is a renamed name of the other unless
    both the project and the name are the same; and each splits back into its own."""
    out_a, (info_a,) = rewrite_project_labels(_one_router(name_a), project_a, 2)
    out_b, (info_b,) = rewrite_project_labels(_one_router(name_b), project_b, 2)
    defined_a = {n for _, _, n in _defined(out_a, ["web"])} | {info_a.name}
    defined_b = {n for _, _, n in _defined(out_b, ["web"])} | {info_b.name}
    if project_a != project_b:
        assert defined_a.isdisjoint(defined_b)
    assert (info_a.name == info_b.name) == ((project_a, name_a) == (project_b, name_b))
    assert original_name(info_a.name, project_a) == name_a
    assert info_a.name.rpartition("~")[2] == project_a
