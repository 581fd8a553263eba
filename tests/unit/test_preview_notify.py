"""A preview's notifications, on fake ports (fakes.py): production's events with a `preview`
field naming it (null for production's), and `removed` when it goes, however it goes."""

import time

import pytest
from fakes import ROUTED, World

from otterstack_hooks.rules.preview.lifecycle import DAY, LivePreview
from otterstack_hooks.usecases.preview_removal import RemovePreview, preview_of
from otterstack_hooks.usecases.prune import Prune
from otterstack_hooks.usecases.remove_app import RemoveApp

HOOK = "https://hooks.example/deploy"


@pytest.fixture
def world(tmp_path) -> World:
    world = World(tmp_path)
    world.store.set_app_setting("app", "retire_after", 0)
    world.store.set_app_setting("app", "notify", HOOK)
    return world


def told(world: World) -> list[tuple[str, str, object]]:
    """(event, release, preview) of each event sent, in order; then forgotten."""
    sent = [(event["event"], event["release"], event["preview"])
            for _, event in world.notifier.sent]
    world.notifier.sent.clear()
    return sent


def test_a_previews_deploys_send_productions_events_naming_the_preview(world):
    world.push()
    assert told(world) == [("started", "r1", None), ("succeeded", "r1", None)]
    assert world.push_preview("feature-x").ok
    url = "http://feature-x.preview.test/"
    assert told(world) == [  # a first push's URL is known once its compose file is read
        ("started", "r2", {"branch": "feature-x", "slug": "feature-x", "url": ""}),
        ("succeeded", "r2", {"branch": "feature-x", "slug": "feature-x", "url": url})]
    assert world.push_preview("feature-x").ok
    assert [preview["url"] for _, _, preview in told(world)] == [url, url]


def test_a_failed_preview_deploy_sends_failed_naming_the_preview(world):
    world.push_preview("feature-x")
    world.runtime.fail["up"] = "starting the release failed"
    assert not world.push_preview("feature-x").ok
    [_, (kind, release, preview)] = told(world)[2:]
    assert (kind, release, preview["branch"]) == ("failed", "r2", "feature-x")


def test_removed_is_sent_when_a_preview_goes_by_command_or_branch_deletion(world):
    world.push_preview("feature-x")
    told(world)
    RemovePreview(world.ports()).run(world.app, preview_of(world.ports(), "app", "feature-x"),
                                     "branch feature-x deleted", "alice")
    [(target, event)] = world.notifier.sent
    assert target == HOOK
    assert {k: event[k] for k in ("event", "app", "release", "status", "reason", "pushed_by",
                                  "preview")} == {
        "event": "removed", "app": "app", "release": "r1", "status": "removed",
        "reason": "branch feature-x deleted", "pushed_by": "alice",
        "preview": {"branch": "feature-x", "slug": "feature-x",
                    "url": "http://feature-x.preview.test/"}}


def test_removed_is_sent_for_stale_previews_and_with_the_app(world):
    world.push()
    world.push_preview("old")
    week_ago = time.time() - 8 * DAY
    [old] = world.store.previews("app")
    world.store.put_preview("app", LivePreview(old.branch, old.slug, old.sha, week_ago,
                                               old.url, week_ago))
    told(world)
    Prune(world.ports()).run(world.app)
    [(kind, _, preview)] = told(world)
    assert (kind, preview["branch"]) == ("removed", "old")
    assert world.notifier.sent == []
    world.push_preview("feature-x")
    told(world)
    RemoveApp(world.ports()).run(world.app, volumes=False)
    assert [(kind, preview["slug"]) for kind, _, preview in told(world)] == [
        ("removed", "feature-x")]


def test_no_target_no_event_for_previews_either(world):
    world.store.set_app_setting("app", "notify", "")
    world.push_preview("feature-x", ROUTED)
    RemovePreview(world.ports()).run(world.app, preview_of(world.ports(), "app", "feature-x"),
                                     "asked")
    assert world.notifier.sent == []
