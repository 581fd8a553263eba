"""Names on Traefik's shared network: the policy's allow-list and the release alias.

The attack: app `shop` forward-auths to its routed `authelia`, which Traefik asks by the
release's alias. Another app's routed service named like that alias, or giving it as an
alias or hostname, would answer too (Docker's DNS round-robins), and get a share of shop's
auth requests with the users' cookies.
"""

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from otterstack_hooks.rules.compose.access import Access
from otterstack_hooks.rules.compose.dns_names import (
    PLAIN_NAME,
    dns_name_refusals,
    release_alias,
)
from otterstack_hooks.rules.compose.policy import explain, refusals
from otterstack_hooks.rules.preview.naming import PreviewNames, preview_slug
from otterstack_hooks.rules.release_plan import state_project

EDGE = frozenset({"traefik"})
ROUTED = {"traefik.enable": "true"}


def _config(services: dict, networks: dict | None = None) -> dict:
    nets = {"default": {"name": "b-r1_default"}, "front": {"name": "traefik", "external": True},
            **(networks or {})}
    return {"name": "b-r1", "services": services, "networks": nets}


def _found(config: dict) -> list[tuple[str, str]]:
    return [(r.service, r.key) for r in dns_name_refusals(config, EDGE)]


def test_a_routed_service_named_like_another_apps_alias_is_refused():
    config = _config({"shop-r7__authelia": {"labels": ROUTED, "networks": {"default": None}}})
    assert _found(config) == [("shop-r7__authelia", "its name")]
    message = explain("b", refusals(config, "/c", app="b", edge=EDGE))
    assert message.startswith("service 'shop-r7__authelia': its name shop-r7__authelia on "
                              "Traefik's network, where another app's container could have "
                              "the same name (a service there is named with letters, digits, "
                              "inner dashes and single underscores: rename it, e.g. "
                              "shop-r7-authelia)")
    assert "`otterstack config b allow shared-names`" in message


def test_aliases_hostname_and_container_name_on_traefiks_network_are_refused():
    config = _config({
        "web": {"labels": ROUTED, "hostname": "shop-r7__authelia",
                "container_name": "shop-r7__authelia",
                "networks": {"front": {"aliases": ["shop-r7__authelia"]}}},
    })
    assert _found(config) == [("web", "container_name"), ("web", "hostname"),
                              ("web", "networks.front.aliases")]


def test_a_service_joining_traefiks_network_by_name_is_held_to_the_same_rules():
    """Not routed, but on the shared network under its own key: its names are there too."""
    config = _config({"cache": {"networks": {"front": {"aliases": ["auth"]}}}})
    assert _found(config) == [("cache", "networks.front.aliases")]


def test_what_stays_allowed():
    """The app's own networks take any alias; a hostname equal to the service's name is
    that name; a service off Traefik's network may be named anyhow; without a Traefik no
    service joins a shared network."""
    config = _config({
        "web": {"labels": ROUTED, "hostname": "Web",
                "networks": {"default": {"aliases": ["api.internal", "x__y"]}}},
        "db_main": {"container_name": "b-db", "hostname": "db.local",
                    "networks": {"default": None}},
    })
    assert _found(config) == []
    assert _found(_config({"web_app": {"labels": ROUTED}})) == []  # as real files name them
    routed_oddly = _config({"web__app": {"labels": ROUTED}})
    assert dns_name_refusals(routed_oddly, frozenset()) == []
    assert all(r.access is Access.SHARED_NAMES
               for r in dns_name_refusals(routed_oddly, EDGE))


def test_the_alias_is_the_projects_then_the_service_lower_case():
    assert release_alias("Authelia", "shop-r7") == "shop-r7__authelia"
    assert release_alias("web", "shop_feat-x-r3") == "shop_feat-x-r3__web"


# -- property: no other app's compose file gives a name equal to one of this app's aliases

apps = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
releases = st.integers(1, 9_999_999).map(lambda n: f"r{n}")
branches = st.from_regex(r"[a-zA-Z0-9/_.-]{1,30}", fullmatch=True)
names = st.from_regex(r"[a-zA-Z0-9._-]{1,20}", fullmatch=True)
plain = st.from_regex(PLAIN_NAME.pattern, fullmatch=True).filter(lambda n: len(n) <= 20)
hexes = st.text("0123456789abcdef", min_size=12, max_size=12)


def _projects(app: str, branch: str | None, release: str) -> set[str]:
    """An app's compose projects (Swarm: stacks): production's and one preview's."""
    if branch is None:
        return {f"{app}-{release}", state_project(app)}
    preview = PreviewNames(app, preview_slug(app, branch))
    return {preview.project(release), preview.state_project}


def _dns_names(config: dict, project: str, short_id: str) -> set[str]:
    """Every name a container of `config`'s services has on Traefik's networks, deployed
    as `project`, by Docker's rules (daemon/container_operations.go buildEndpointDNSNames:
    container name, aliases, short id, hostname; libnetwork service_common.go: a Swarm
    service's `<stack>_<service>`, `tasks.` of it and of each alias, its task names), with
    the release alias OtterStack gives a routed one; lower case, as Docker compares."""
    shared = {k for k, spec in config["networks"].items() if spec.get("name") in EDGE}
    out = {short_id}
    for name, svc in config["services"].items():
        joined = [k for k in svc.get("networks") or {} if k in shared]
        routed = svc.get("labels") == ROUTED
        if not (routed or joined):
            continue
        aliases = [name, release_alias(name, project)] if routed else [name]
        for key in joined:
            aliases += (svc["networks"][key] or {}).get("aliases") or []
        full = f"{project}_{name}"
        out |= {svc.get("container_name") or f"{project}-{name}-1",
                f"{project}-{name}-run-{short_id}", svc.get("hostname") or short_id,
                full, f"tasks.{full}", f"{full}.1.{short_id}",
                *aliases, *(f"tasks.{alias}" for alias in aliases)}
    return {n.lower() for n in out}


@st.composite
def other_apps_files(draw, target: str) -> dict:
    """A compose file of another app: names drawn freely, or made to look like `target`."""
    lookalike = st.sampled_from([target, target.upper(), f"tasks.{target}",
                                 target.replace("__", "_"), f"{target}.x"])
    free = lookalike | plain | names
    services = {}
    for _ in range(draw(st.integers(1, 2))):
        svc: dict = {"labels": draw(st.sampled_from([ROUTED, {}])),
                     "networks": {draw(st.sampled_from(["front", "default"])): (
                         {"aliases": draw(st.lists(free, max_size=1))})}}
        for key in ("hostname", "container_name"):
            if draw(st.integers(0, 2)) == 0:
                svc[key] = draw(free)
        services[draw(free)] = svc
    return _config(services)


@settings(max_examples=300)
@given(apps, st.none() | branches, releases, plain, apps, st.none() | branches, releases,
       hexes, st.data())
def test_no_other_app_answers_to_a_release_alias(app, branch, release, service, other,
                                                 other_branch, other_release, short_id,
                                                 data):
    assume(app != other)
    for project in _projects(app, branch, release):
        alias = release_alias(service, project)
        config = data.draw(other_apps_files(alias))
        if dns_name_refusals(config, EDGE):
            continue  # refused: nothing of it runs
        for other_project in _projects(other, other_branch, other_release):
            theirs = _dns_names(config, other_project, short_id)
            # the name, and what a search domain makes of it when it is not found
            assert alias not in theirs
            assert not any(name.startswith(f"{alias}.") for name in theirs)
