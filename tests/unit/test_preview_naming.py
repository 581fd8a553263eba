"""A preview's names: unambiguous against production, other previews and other apps."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import validate_new_app_name
from otterstack_hooks.rules.compose.model import ComposeModel
from otterstack_hooks.rules.preview.naming import (
    PreviewNames,
    check_domain_free,
    check_ready,
    parse_preview_domain,
    preview_plan,
    preview_slug,
    selects,
    slug_limit,
)
from otterstack_hooks.rules.release_plan import ReleasePlan, plan_release, state_project
from otterstack_hooks.rules.swarm.stack import APP_LABEL, PREVIEW_LABEL

D = "preview.example.com"


def test_the_names_of_a_preview():
    names = PreviewNames("shop", "feature-x")
    assert names.project("r12") == "shop_feature-x-r12"
    assert names.state_project == "shop_feature-x-state"
    assert names.resource("data") == "shop.feature-x_data"
    assert names.network("back") == "shop.feature-x_back"
    on_swarm = PreviewNames("shop", "feature-x", swarm=True)  # no `.` in an overlay's name
    assert on_swarm.network("back") == "shop-_feature-x_back"
    assert on_swarm.resource("data") == "shop.feature-x_data"  # a volume may have one
    assert names.labels == {APP_LABEL: "shop", PREVIEW_LABEL: "feature-x"}
    assert names.host(D) == "feature-x.preview.example.com"
    assert names.service_host("api", D) == "api-feature-x.preview.example.com"
    assert names.service_host("Web_Admin", D).startswith("web-admin-")
    assert names.owns_project("shop_feature-x-r3") and names.owns_project("shop_feature-x-state")
    assert not names.owns_project("shop-r3") and not names.owns_project("shop_feature-x-y-r3")


def test_a_long_app_name_gets_shorter_slugs_and_every_project_stays_a_project_name():
    app = "a" * 40
    assert slug_limit("shop") == 24 and slug_limit(app) == 13
    slug = preview_slug(app, "feature/a-long-branch-name")
    assert len(slug) == 13
    assert len(PreviewNames(app, slug).project("r9999999")) == 63


@pytest.mark.parametrize("slug", ["", "-x", "x_y", "a--b", "x" * 25, "Feature"])
def test_a_slug_read_back_from_the_state_is_checked(slug):
    with pytest.raises(OtterError, match="not a slug OtterStack made"):
        PreviewNames("shop", slug)


def test_what_is_a_preview_is_read_from_labels_never_from_names():
    names = PreviewNames("shop", "x")
    assert selects(names.labels, "shop", "x")
    assert not selects(names.labels, "shop", None)  # not production's
    assert selects({APP_LABEL: "shop"}, "shop", None)
    # app `shop-pv-x`, or `shop_x` spelled in a name: nothing of shop's preview x
    assert not selects({APP_LABEL: "shop-pv-x"}, "shop", "x")
    assert not selects({APP_LABEL: "shop"}, "shop", "x")


apps = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True).filter(
    lambda a: _new(a))
keys = st.from_regex(r"[a-zA-Z0-9._-]{1,12}", fullmatch=True)
releases = st.integers(1, 9_999_999).map(lambda n: f"r{n}")
branches = st.text(max_size=40) | st.from_regex(r"[a-z0-9][a-z0-9/_.-]{0,30}", fullmatch=True)


def _new(app: str) -> bool:
    try:
        validate_new_app_name(app)
    except OtterError:
        return False
    return True


def _preview_names(app: str, branch: str, release: str, key: str, service: str
                   ) -> dict[str, set[str]]:
    """Per Docker namespace: compose projects, volumes and networks, images (and so the
    containers, `<image>-<n>`)."""
    names = PreviewNames(app, preview_slug(app, branch))
    on_swarm = PreviewNames(app, names.slug, swarm=True)
    projects = {names.project(release), names.state_project}
    return {"projects": projects,
            "resources": {names.resource(key), names.network(key), on_swarm.network(key)},
            "images": {f"{project}-{service}" for project in projects}}


def _production_names(app: str, release: str, key: str, service: str) -> dict[str, set[str]]:
    projects = {f"{app}-{release}", state_project(app)}
    return {"projects": projects, "resources": {f"{app}_{key}"},
            "images": {f"{project}-{service}" for project in projects}}


def _shared(one: dict[str, set[str]], two: dict[str, set[str]]) -> dict[str, set[str]]:
    return {kind: one[kind] & two[kind] for kind in one if one[kind] & two[kind]}


@given(apps, branches, releases, keys, keys, apps, releases, keys, keys)
def test_no_preview_name_is_ever_a_production_name(app, branch, release, key, service,
                                                   other, other_release, other_key,
                                                   other_service):
    """Of any app, `other` too (`shop-pv-x` and all): projects `<app>-r<N>` and
    `<app>-state`, volumes and networks `<app>_<key>`, images `<project>-<service>`; a
    preview's networks in both forms (one host's, a Swarm's)."""
    assert not _shared(_preview_names(app, branch, release, key, service),
                       _production_names(other, other_release, other_key, other_service))


@given(apps, branches, releases, keys, keys, apps, branches, releases, keys, keys)
def test_two_previews_never_share_a_name(app, branch, release, key, service,
                                         other, other_branch, other_release, other_key,
                                         other_service):
    one = PreviewNames(app, preview_slug(app, branch))
    two = PreviewNames(other, preview_slug(other, other_branch))
    assume(one != two)
    assert not _shared(_preview_names(app, branch, release, key, service),
                       _preview_names(other, other_branch, other_release, other_key,
                                      other_service))


@given(apps, branches, releases, st.integers(1, 9_999_999).map(lambda n: f"r{n}"))
def test_a_project_is_owned_by_exactly_its_preview(app, branch, release, other_release):
    names = PreviewNames(app, preview_slug(app, branch))
    assert names.owns_project(names.project(release))
    assert not names.owns_project(f"{app}-{other_release}")


@pytest.mark.parametrize(("text", "domain"), [
    ("Preview.Example.COM.", "preview.example.com"), ("", ""), (" ", ""),
    ("shop.preview.example.com", "shop.preview.example.com")])
def test_the_preview_domain_setting(text, domain):
    assert parse_preview_domain(text) == domain


@pytest.mark.parametrize("text", ["*.example.com", "example", "a_b.example.com",
                                  "bücher.example", "a..b", "-a.example.com",
                                  "x" * 64 + ".example.com", "a," + D])
def test_a_preview_domain_that_is_no_dns_name_is_refused(text):
    with pytest.raises(OtterError, match="preview_domain takes a DNS name"):
        parse_preview_domain(text)


def test_two_apps_never_share_a_preview_domain():
    check_domain_free("shop", D, {"shop": D, "blog": "blog." + D})
    with pytest.raises(OtterError, match=r"preview_domain preview.example.com is already "
                       r"app blog's.*`otterstack config shop preview_domain shop.preview"):
        check_domain_free("shop", D, {"blog": D})


def test_a_preview_needs_the_switch_and_a_domain():
    check_ready("shop", True, D)
    with pytest.raises(OtterError, match="`otterstack config shop previews on`"):
        check_ready("shop", False, D)
    with pytest.raises(OtterError, match="`otterstack config shop preview_domain "):
        check_ready("shop", True, "")


def _model(volumes, networks) -> ComposeModel:
    from otterstack_hooks.rules.compose.model import parse_config
    return parse_config({"services": {"web": {"image": "x", "labels": {}}},
                         "volumes": volumes, "networks": networks}, "shop-r3")


def test_every_volume_and_network_is_the_previews_own():
    model = _model({"data": {"name": "shop-r3_data"}, "mine": {"name": "shop_data"}},
                   {"default": {"name": "shop-r3_default"},
                    "edge": {"name": "otterstack", "external": True}})
    names = PreviewNames("shop", "x")
    plan = preview_plan(plan_release(model, "shop", "shop-r3"), model, names,
                        frozenset({"otterstack"}))
    assert plan.volumes == {"data": "shop.x_data", "mine": "shop.x_mine"}
    assert plan.networks == {"default": "shop.x_default"}
    assert isinstance(plan, ReleasePlan) and plan.release_services == ("web",)


@pytest.mark.parametrize(("kind", "spec"), [
    ("volumes", {"name": "shop_data", "external": True}),
    ("volumes", {"external": True}),
    ("networks", {"name": "shop_default", "external": True})])
def test_an_external_volume_or_network_is_refused(kind, spec):
    model = _model({"d": spec} if kind == "volumes" else {},
                   {"d": spec} if kind == "networks" else {})
    with pytest.raises(OtterError, match=rf"{kind}.d is external .*Remove `external`"):
        preview_plan(plan_release(model, "shop", "shop-r3"), model, PreviewNames("shop", "x"),
                     frozenset({"otterstack"}))


@pytest.mark.parametrize(("spec", "refusal"), [
    ({"container_name": "shop-db"}, "service db sets container_name: shop-db; a preview"),
    ({"ports": [{"target": 5432, "published": "5432"}]},
     "service db publishes host port.*Route it through Traefik")])
def test_a_singleton_that_holds_a_host_wide_name_or_port_is_refused(spec, refusal):
    from otterstack_hooks.rules.compose.model import parse_config
    config = {"services": {"web": {"image": "x", "labels": {"traefik.enable": "true"}},
                           "db": {"image": "pg", "volumes": [
                               {"type": "volume", "source": "data", "target": "/d"}],
                                  **spec}},
              "volumes": {"data": {}}}
    model = parse_config(config, "shop-r3")
    plan = plan_release(model, "shop", "shop-r3")
    assert plan.singletons == ("db",)  # production runs it once, with that name or port
    with pytest.raises(OtterError, match=refusal):
        preview_plan(plan, model, PreviewNames("shop", "x"))
