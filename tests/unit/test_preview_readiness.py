"""The doctor's judgement of a previews setup (rules/preview/readiness.py): each problem found
and named with its fix, from facts given as arguments."""

import pytest

from otterstack_hooks.rules.preview import readiness
from otterstack_hooks.rules.preview.slug import MAX_SLUG, branch_slug

D = "preview.example.com"
NAME = f"otterstack-check-1a2b3c4d.{D}"


def test_the_probe_label_is_no_previews_main_host():
    label = readiness.probe_label("1a2b3c4d")
    assert label == "otterstack-check-1a2b3c4d"
    assert len(label) > MAX_SLUG and branch_slug(label) != label  # longer than any slug


def test_a_domain_must_be_set_and_no_other_apps():
    assert readiness.judge_domain("shop", D, {"shop": D, "blog": "b.example.com"}).ok
    unset = readiness.judge_domain("shop", "", {"shop": ""})
    assert not unset.ok and not unset.warning
    assert "have no domain to answer under" in unset.detail
    assert unset.fix.startswith("`otterstack config shop preview_domain preview.example.com`")
    taken = readiness.judge_domain("shop", D, {"shop": D, "blog": D})
    assert not taken.ok and taken.detail == f"preview_domain {D} is already app blog's"
    assert f"otterstack config shop preview_domain shop.{D}" in taken.fix


def test_a_name_under_the_domain_that_does_not_resolve_is_a_warning_naming_the_record():
    found = readiness.judge_wildcard(D, NAME, (), f"{NAME} does not resolve (Name or service "
                                     "not known)", [], {"shop.example.com": ("203.0.113.7",)})
    assert (found.ok, found.warning) == (False, True)
    assert found.detail.startswith(f"{NAME} does not resolve (Name or service not known): ")
    assert found.fix == (f"create a wildcard DNS record *.{D} (A/AAAA, or a CNAME) pointing "
                         "at this server, as production's shop.example.com (203.0.113.7) does")


@pytest.mark.parametrize(("local", "production", "ok", "says"), [
    (["192.0.2.10"], {}, True, "192.0.2.10, this host"),
    ([], {"shop.example.com": ("192.0.2.10",)}, True,
     "as production's shop.example.com (served here) does"),
    ([], {"shop.example.com": ("198.51.100.1",)}, False, "no address of this host nor of "
     "production"),
    ([], {}, False, "no address of this host: previews may be served elsewhere"),
])
def test_a_name_that_resolves_here_or_where_production_is_served_is_fine(local, production,
                                                                        ok, says):
    found = readiness.judge_wildcard(D, NAME, ("192.0.2.10",), "", local, production)
    assert found.ok is ok and found.warning is not ok and says in found.detail
    if not ok:
        assert found.fix.startswith(f"point a wildcard DNS record *.{D}")


def test_router_tls_reads_tls_and_resolvers_from_labels():
    assert readiness.router_tls({"web": {"traefik.http.routers.a.rule": "Host(`x`)"}}) == (
        False, ())
    assert readiness.router_tls({"web": {"traefik.http.routers.a.tls": "false"}}) == (
        False, ())
    assert readiness.router_tls({
        "web": {"traefik.http.routers.a.tls": "true"},
        "api": {"traefik.http.routers.b.tls.certresolver": "le"},
        "db": {"traefik.tcp.routers.c.tls.certresolver": "other"}}) == (True, ("le",))


def test_the_certificate_hint_follows_the_routers_tls():
    assert readiness.certificate_hint(D, False, ()) is None
    resolver = readiness.certificate_hint(D, True, ("le",))
    assert resolver.ok and "certificate resolver le" in resolver.detail
    assert "50 certificates per registered domain a week" in resolver.detail
    assert f"wildcard certificate for *.{D}, by a DNS-01 challenge" in resolver.detail
    plain = readiness.certificate_hint(D, True, ())
    assert plain.ok and f"a certificate for *.{D}" in plain.detail


def test_apps_whose_routers_may_match_any_host_are_a_warning():
    assert readiness.judge_hosts_settings([]).ok
    found = readiness.judge_hosts_settings(["shop", "blog"])
    assert (found.ok, found.warning) == (False, True)
    assert found.detail.startswith("blog, shop have no hosts setting")
    assert found.fix.startswith("`otterstack config blog hosts NAMES`")
