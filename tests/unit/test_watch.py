"""The watch's rules: when a release that serves is failing its users, and what is said."""

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.core.vocabulary import WatchStatus
from otterstack_hooks.rules.health import ContainerSnapshot
from otterstack_hooks.rules.traefik.metrics import Counts, Series, parse_scrape
from otterstack_hooks.rules.watch import (
    Baseline,
    Sample,
    WatchRules,
    baseline,
    container_problem,
    judge,
    percent,
    rolled_back_text,
    rules_for,
    too_many_errors,
    why_not_watched,
)

WEB = "web-shop-r7@docker"
OLD = "web-shop-r6@docker"
RULES = WatchRules()  # 60 s, 20 requests, 5 %, 3x the baseline, last 10 s


def scrape(service: str = WEB, requests: int = 0, errors: int = 0) -> dict[Series, int]:
    """Counters as Traefik keeps them: the 5xx and the rest apart."""
    return {Series(service, "200"): requests - errors, Series(service, "500"): errors}


def at(seconds: float, requests: int, errors: int = 0, service: str = WEB) -> Sample:
    return Sample(seconds, scrape(service, requests, errors))


def clean(release: str = "r6", requests: int = 1000, errors: int = 3) -> Baseline:
    return Baseline(release, Counts(requests, errors), "in the 4 min before the switch")


def test_a_release_answering_500_fails_with_the_numbers():
    verdict = judge([Sample(0), at(1.0, 340, 212)], {WEB}, clean(), RULES, "r7")
    assert verdict.status == WatchStatus.FAILED
    assert verdict.seen == Counts(340, 212)
    assert rolled_back_text(verdict.reason) == (
        "rolled back by watch: 212 of 340 requests answered 5xx (baseline 0.3 %)")


def test_too_few_requests_prove_nothing():
    verdict = judge([Sample(0), at(1.0, 19, 19)], {WEB}, clean(), RULES, "r7")
    assert verdict.status == WatchStatus.WATCHING
    assert verdict.reason == "watching r7 under real traffic: 19 requests, 19 errors"


def test_a_release_as_bad_as_the_one_before_passes():
    """An app that always answers 10 % 5xx is not rolled back for doing it again."""
    verdict = judge([Sample(0), at(30, 1000, 100), at(61, 2000, 200)], {WEB},
                    clean(requests=5000, errors=500), RULES, "r7")
    assert verdict.status == WatchStatus.PASSED
    assert verdict.reason == "watched: 2,000 requests, 200 errors"


def test_a_few_times_worse_than_the_one_before_fails():
    verdict = judge([Sample(0), at(5, 1000, 310)], {WEB}, clean(requests=1000, errors=100),
                    RULES, "r7")
    assert verdict.status == WatchStatus.FAILED
    assert verdict.reason == "310 of 1,000 requests answered 5xx (baseline 10.0 %)"


def test_without_a_baseline_only_the_limit_counts():
    verdict = judge([Sample(0), at(2, 100, 6)], {WEB}, None, RULES, "r1")
    assert verdict.reason == "6 of 100 requests answered 5xx (no baseline)"


def test_a_baseline_from_too_few_requests_is_no_baseline():
    """r6 answered 4 requests, 2 of them 5xx: 50 % must not let r7 answer 100 % 5xx."""
    verdict = judge([Sample(0), at(2, 100, 100)], {WEB}, clean(requests=4, errors=2), RULES,
                    "r7")
    assert verdict.status == WatchStatus.FAILED
    assert verdict.reason.endswith(
        "(no baseline: r6 answered 4 requests in the 4 min before the switch)")


def test_a_release_that_breaks_late_is_caught_by_the_short_window():
    """40 s of good answers, then every answer 5xx: 2 % over the whole watch, 100 % lately."""
    samples = [Sample(0), at(40, 10_000, 0), at(50, 10_200, 200)]
    verdict = judge(samples, {WEB}, clean(), RULES, "r7")
    assert verdict.status == WatchStatus.FAILED
    assert verdict.reason == ("200 of 200 requests in the last 10 s answered 5xx "
                              "(baseline 0.3 %)")


def test_the_watch_passes_when_its_window_ends():
    verdict = judge([Sample(0), at(59.9, 500, 1)], {WEB}, clean(), RULES, "r7")
    assert verdict.status == WatchStatus.WATCHING
    verdict = judge([Sample(0), at(60, 500, 1)], {WEB}, clean(), RULES, "r7")
    assert verdict.status == WatchStatus.PASSED
    assert verdict.reason == "watched: 500 requests, 1 errors"


def test_a_traefik_restart_loses_nothing_counted_before_it():
    """The 200 counter went from 300 back to 10: 300 before the reset, 10 after; the 500
    counter (new since the restart) counted 30."""
    verdict = judge([Sample(0), at(10, 300), at(20, 40, 30)], {WEB}, clean(), RULES, "r7")
    assert verdict.seen == Counts(340, 30)


def test_other_services_are_not_the_releases():
    sample = Sample(5, {**scrape(WEB, 100), **scrape(OLD, 900, 900),
                        **scrape("web-other-r7@docker", 50, 50)})
    assert judge([Sample(0), sample], {WEB}, clean(), RULES, "r7").seen == Counts(100, 0)


def test_a_container_problem_fails_at_once():
    verdict = judge([Sample(0), at(1, 3)], {WEB}, clean(), RULES, "r7",
                    problem="container shop-r7-web-1 of service web turned unhealthy")
    assert verdict.status == WatchStatus.FAILED
    assert verdict.reason == "container shop-r7-web-1 of service web turned unhealthy"


def test_judge_needs_the_switch_sample():
    with pytest.raises(ValueError):
        judge([], {WEB}, None, RULES, "r7")


def test_the_baseline_is_the_minutes_before_the_switch_if_they_had_traffic():
    at_deploy = scrape(OLD, 10_000, 1_000)  # a bad morning, long before this deploy
    at_switch = scrape(OLD, 10_400, 1_001)
    found = baseline("r6", at_deploy, at_switch, {OLD}, 4, 20)
    assert found.counts == Counts(400, 1)
    assert found.describe(20) == "baseline 0.2 %"


def test_a_quiet_deploy_takes_the_replaced_releases_whole_time():
    found = baseline("r6", scrape(OLD, 1000, 10), scrape(OLD, 1005, 10), {OLD}, 1, 20)
    assert found.counts == Counts(1005, 10)
    assert found.why == "in its whole time in traffic"


@example(20, 1, 1000, 0)  # exactly 5 %: passes
@example(100, 15, 100, 5)  # exactly 3x the baseline: passes
@example(100, 16, 100, 5)  # just above both: fails
@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(1, 10_000),
       st.integers(0, 10_000))
def test_never_failed_at_or_below_the_limit_nor_below_the_baseline(requests, errors,
                                                                     base_requests,
                                                                     base_errors):
    errors, base_errors = min(errors, requests), min(base_errors, base_requests)
    base = clean(requests=base_requests, errors=base_errors)
    failed = too_many_errors(Counts(requests, errors), base, RULES)
    # in whole numbers: errors/requests > 5/100  <=>  100 * errors > 5 * requests
    above_limit = 100 * errors > 5 * requests
    above_base = errors * base_requests > 3 * base_errors * requests
    if requests < RULES.min_requests or not above_limit:
        assert not failed
    if base_requests >= RULES.min_requests and not above_base:
        assert not failed
    if (requests >= RULES.min_requests and above_limit
            and (base_requests < RULES.min_requests or above_base)):
        assert failed


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=30))
def test_the_counts_seen_are_the_sum_of_what_each_scrape_added(steps):
    """Without a reset, what was seen is the last counter's value (the first had none)."""
    samples, requests, errors = [Sample(0)], 0, 0
    for index, (more, bad) in enumerate(steps, 1):
        requests, errors = requests + more + bad, errors + bad
        samples.append(at(index, requests, errors))
    assert judge(samples, {WEB}, None, WatchRules(min_requests=10**9), "r7").seen == Counts(
        requests, errors)


def snap(cid: str, restarts: int = 0, status: str = "running", health: str | None = "healthy",
         routed: bool = True) -> ContainerSnapshot:
    return ContainerSnapshot(id=cid, name=f"shop-r7-{cid}", service="web", status=status,
                             health=health, restart_count=restarts, exit_code=137,
                             running_for=10, routed=routed)


def test_container_problems():
    switch = [snap("web-1", restarts=1), snap("worker-1", routed=False)]
    assert container_problem(switch, switch) is None
    assert container_problem(switch, [snap("web-1", restarts=2)]) == (
        "container shop-r7-web-1 of service web restarted (last exit code 137)")
    assert container_problem(switch, [snap("web-1", 1, health="unhealthy")]) == (
        "container shop-r7-web-1 of service web turned unhealthy")
    assert container_problem(switch, [snap("web-1", 1, status="exited")]) == (
        "container shop-r7-web-1 of service web exited with code 137")
    assert container_problem(switch, []) == "container shop-r7-web-1 of service web is gone"
    # a worker is not routed: the counts do not see it, nor does the watch
    assert container_problem(switch, [snap("web-1", 1), snap("worker-1", 5, "exited",
                                                             routed=False)]) is None


def test_why_a_release_is_not_watched():
    args = dict(release="r7", replaced="r6", kept=True, rules=RULES, asked="", routing=True,
                services={WEB}, metrics_problem=None)
    assert why_not_watched(**args) is None
    assert why_not_watched(**{**args, "release": "r1", "replaced": None}) == (
        "not watched: r1 replaced no release, so there is none to go back to")
    assert why_not_watched(**{**args, "rules": WatchRules(seconds=0)}) == (
        "not watched: watch_seconds is 0, or retire_after is (no release is kept to roll "
        "back to at once)")
    assert why_not_watched(**{**args, "asked": "the push asked for no-watch"}) == (
        "not watched: the push asked for no-watch")
    assert "traefik_routing is off" in why_not_watched(**{**args, "routing": False})
    assert why_not_watched(**{**args, "kept": False}) == (
        "not watched: r6 is not kept for an instant rollback, so there is none to go back to "
        "at once")
    assert why_not_watched(**{**args, "services": set()}) == (
        "r7 has no routed HTTP service: nothing to watch")
    assert why_not_watched(**{**args, "metrics_problem": "Traefik serves no /metrics"}) == (
        "not watched: Traefik serves no /metrics; `otterstack doctor` says how to turn on "
        "Traefik's Prometheus metrics")


@pytest.mark.parametrize(("part", "whole", "shown"), [
    (3, 1000, "0.3 %"), (0, 10, "0.0 %"), (1, 100_000, "< 0.1 %"), (212, 340, "62.4 %"),
    (1, 0, "n/a")])
def test_percent(part, whole, shown):
    assert percent(part, whole) == shown


def test_the_rules_come_from_the_apps_settings(tmp_path):
    state = State(tmp_path / "state.db")
    app = state.upsert_app("shop", "/r", watch_seconds=90, watch_min_requests=50,
                           watch_max_error_ratio=2)
    assert rules_for(app) == WatchRules(seconds=90, min_requests=50,
                                        max_error_ratio=Fraction(2, 100))
    # no longer than the replaced release is kept: a rollback after that needs a start
    app = state.upsert_app("shop", "/r", retire_after=30)
    assert rules_for(app).seconds == 30
    assert rules_for(state.upsert_app("shop", "/r", retire_after=0)).seconds == 0


def test_recorded_scrapes_of_a_release_answering_500():
    """Real Traefik scrapes (tests/unit/data/traefik_metrics): r6 served 50 requests, then r7
    answered 30 with 500."""
    data = Path(__file__).parent / "data" / "traefik_metrics"
    before = parse_scrape((data / "1-r6-serving.prom").read_text())
    failing = parse_scrape((data / "2-r7-failing.prom").read_text())
    base = baseline("r6", None, before, {"web-shop-r6@file"}, 0, 20)
    verdict = judge([Sample(0), Sample(1.0, failing)], {"web-shop-r7@file"}, base, RULES, "r7")
    assert verdict.status == WatchStatus.FAILED
    assert rolled_back_text(verdict.reason) == (
        "rolled back by watch: 30 of 30 requests answered 5xx (baseline 0.0 %)")
