"""When previews go, when a new one may come, and a preview's variables."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.preview.lifecycle import (
    DAY,
    LivePreview,
    age,
    check_hosts_free,
    check_limit,
    check_slug_free,
    stale,
)
from otterstack_hooks.rules.preview.variables import check_shareable, preview_environment

NOW = 1_800_000_000.0
SHA = "3f2a9c1" + "0" * 33


def live(branch: str, days_ago: float, slug: str = "") -> LivePreview:
    return LivePreview(branch, slug or branch, SHA, NOW - days_ago * DAY,
                       f"https://{slug or branch}.preview.example.com/")


def test_stale_previews_are_those_without_a_push_for_the_ttl():
    previews = [live("a", 1), live("b", 7), live("c", 30), live("d", 6.99)]
    assert [p.branch for p in stale(previews, NOW, 7)] == ["c", "b"]
    assert stale(previews, NOW, 31) == []


@given(st.lists(st.floats(0, 100 * DAY), max_size=8), st.integers(1, 60))
def test_stale_is_exactly_the_previews_at_least_ttl_old(ages, ttl):
    previews = [LivePreview(f"b{i}", f"b{i}", SHA, NOW - a) for i, a in enumerate(ages)]
    gone = stale(previews, NOW, ttl)
    assert {p.branch for p in gone} == {p.branch for p in previews
                                        if NOW - p.pushed_at >= ttl * DAY}
    assert [p.pushed_at for p in gone] == sorted(p.pushed_at for p in gone)


def test_at_the_limit_a_new_branch_is_refused_with_the_live_ones_and_the_fix():
    previews = [live("old", 5), live("new", 0.5)]
    check_limit("shop", "new", previews, 2, NOW)  # a push to a live preview replaces it
    check_limit("shop", "third", previews, 3, NOW)
    with pytest.raises(OtterError) as caught:
        check_limit("shop", "third", previews, 2, NOW)
    assert str(caught.value) == (
        "preview of third refused: shop has 2 live previews, its preview_limit: new "
        "(3f2a9c1, 12 h, https://new.preview.example.com/); old (3f2a9c1, 5 d, "
        "https://old.preview.example.com/). Remove one with `git push <remote> :<branch>` or "
        "`otterstack previews shop remove <branch>`, then push again; or an admin raises the "
        "limit: `otterstack config shop preview_limit 3`")


def test_a_branch_whose_slug_another_branch_has_is_refused():
    previews = [live("Feature/X", 1, slug="feature-x-12345678")]
    check_slug_free("shop", "Feature/X", "feature-x-12345678", previews)
    with pytest.raises(OtterError, match=r"its name feature-x-12345678 is already the preview "
                       r"of branch Feature/X of shop.*otterstack previews shop remove Feature/X"):
        check_slug_free("shop", "feature/x", "feature-x-12345678", previews)


def test_a_host_another_preview_answers_at_is_refused():
    check_hosts_free({"x.d": "web"}, {"y.d": "the preview of branch y"})
    with pytest.raises(OtterError, match=r"service api would answer at api-x.d, where the "
                       r"preview of branch api-x answers already"):
        check_hosts_free({"x.d": "web", "api-x.d": "api"},
                         {"api-x.d": "the preview of branch api-x"})


def test_branch_names_in_refusals_are_printable():
    with pytest.raises(OtterError) as caught:
        check_limit("shop", "x\x1b[31m", [live("y\n", 1, slug="y-12345678")], 1, NOW)
    assert str(caught.value).isprintable()


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"), (7200, "2 h"), (DAY, "1 d"),
    (-5, "0 s")])
def test_age(seconds, text):
    assert age(seconds) == text


def test_a_preview_gets_its_own_variables_and_only_the_shared_ones_of_production():
    production = {"DB_PASSWORD": "prod-secret", "API_BASE": "https://api.example.com",
                  "FLAG": "on"}
    preview = {"FLAG": "off", "DB_PASSWORD": "preview-pw"}
    assert preview_environment(production, preview, ["API_BASE", "FLAG", "GONE"]) == {
        "API_BASE": "https://api.example.com", "FLAG": "off", "DB_PASSWORD": "preview-pw"}
    assert preview_environment(production, {}, []) == {}


@given(st.dictionaries(st.sampled_from("ABCDE"), st.text(max_size=3)),
       st.dictionaries(st.sampled_from("ABCDE"), st.text(max_size=3)),
       st.sets(st.sampled_from("ABCDE")))
def test_no_production_value_reaches_a_preview_unless_shared(production, preview, shared):
    env = preview_environment(production, preview, shared)
    for key, value in env.items():
        assert value == preview[key] if key in preview else (
            key in shared and value == production[key])


def test_only_a_variable_production_has_can_be_shared():
    check_shareable(["A"], {"A": "1"}, "shop")
    with pytest.raises(OtterError, match="shop has no production variable B to share"):
        check_shareable(["A", "B"], {"A": "1"}, "shop")
