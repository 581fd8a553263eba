"""The watch after a switch, as pure rules: is the release that now serves failing its users?

For `watch_seconds` after a release is served, OtterStack scrapes Traefik's metrics and asks
`judge` after each scrape. The release fails when, with at least `min_requests` requests, its
share of 5xx answers is above both `max_error_ratio` and `baseline_factor` times the error
ratio the replaced release had before the switch (an app that always answers some 5xx is not
rolled back for doing what it always did); or when one of its routed containers restarts,
exits or turns unhealthy. The ratio is judged over everything since the switch and over the
last `recent_seconds` alone: a release that breaks after a minute of good answers must not
hide behind them. Design and numbers: docs/design/watch.md.

Pure: samples (seconds since the switch, counts per Traefik service) and container snapshots
in, a verdict with the words the pusher and `otterstack releases` show out.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from otterstack_hooks.core.records import App
from otterstack_hooks.core.vocabulary import WatchStatus
from otterstack_hooks.rules.health import ContainerSnapshot
from otterstack_hooks.rules.traefik.metrics import Counts, Scrape, increase, total


@dataclass(frozen=True)
class WatchRules:
    """The numbers of the decision (the app's watch_* settings; defaults as documented)."""

    seconds: float = 60.0  # how long after the switch; 0: no watch
    min_requests: int = 20  # fewer requests than this prove nothing either way
    # at or below this share of 5xx a release always passes (exact: no rounding decides)
    max_error_ratio: Fraction = Fraction(5, 100)
    baseline_factor: int = 3  # and at or below this many times the replaced release's
    recent_seconds: float = 10.0  # the short window judged besides the whole watch


def rules_for(app: App) -> WatchRules:
    """The app's settings as the rules. The watch ends with the replaced release's window
    (`retire_after`) if that is shorter: after it, that release is stopped and a rollback
    would need a start and a health wait, which is no answer to users seeing errors now."""
    return WatchRules(seconds=min(app.watch_seconds, app.retire_after),
                      min_requests=app.watch_min_requests,
                      max_error_ratio=Fraction(app.watch_max_error_ratio, 100))


# s a watch's last line may come after its window: a failed watch's rollback, its drain and
# stop (drain_timeout apart), then the line
FOLLOW_MARGIN = 60.0


def last_line_by(app: App, served_at: float) -> float:
    """When a watch's last line is due at the latest (Unix time): who follows the release log
    (the push, `logs -f`) waits no longer, even for a watch whose process died."""
    return served_at + rules_for(app).seconds + app.drain_timeout + FOLLOW_MARGIN


# what a release whose watch's process died keeps: no verdict was reached
INTERRUPTED_TEXT = ("watch ended without a verdict: its process stopped before its window "
                    "did (the server restarted, or it was killed)")


def watch_died(app: App, status: str, served_at: float, now: float) -> bool:
    """A watch still recorded as running after its last line was due (`last_line_by`): its
    process is gone, since a live one ends by then whatever happens (a verdict, a newer
    push, the window)."""
    return status == WatchStatus.WATCHING and now > last_line_by(app, served_at)


@dataclass(frozen=True)
class Sample:
    """One scrape: seconds since the switch, and Traefik's counters then."""

    at: float
    counts: Scrape = field(default_factory=dict)


@dataclass(frozen=True)
class Baseline:
    """The replaced release's requests and 5xx the comparison is made with; `why` says what
    they cover ("the 4 minutes before the switch", "its whole time in traffic")."""

    release: str
    counts: Counts
    why: str

    @property
    def ratio(self) -> float | None:
        return self.counts.ratio

    def describe(self, min_requests: int) -> str:
        """`baseline 0.3 %`, or why there is none: what a failure reason ends with."""
        if self.counts.requests < min_requests:
            return (f"no baseline: {self.release} answered {self.counts.requests:,} "
                    f"requests {self.why}")
        return f"baseline {percent(self.counts.errors, self.counts.requests)}"

    def explain(self, min_requests: int) -> str:
        """What the watch's first line says of it: the baseline and what it covers."""
        shown = self.describe(min_requests)
        if self.counts.requests < min_requests:
            return shown
        return f"{shown}: {self.counts.requests:,} requests of {self.release} {self.why}"

    def to_json(self) -> str:
        """As the release row keeps it (releases.watch_baseline)."""
        return json.dumps({"release": self.release, "requests": self.counts.requests,
                           "errors": self.counts.errors, "why": self.why}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Baseline | None:
        """The recorded baseline; None where none was recorded."""
        if not text:
            return None
        data = json.loads(text)
        return cls(data["release"], Counts(data["requests"], data["errors"]), data["why"])


@dataclass(frozen=True)
class Verdict:
    status: WatchStatus
    seen: Counts  # what the release answered since the switch
    reason: str  # failed: why, with its numbers; else the counts, as the pusher sees them


def baseline(release: str, at_deploy: Scrape | None, at_switch: Scrape,
             services: Collection[str], minutes: float, min_requests: int) -> Baseline:
    """The replaced release's error ratio before the switch: between a scrape when the deploy
    began and one at the switch (`minutes` apart: the build and the health wait). With fewer
    than `min_requests` in that time (a quick deploy, a quiet hour), its whole time in
    traffic: its services are its own (web-shop-r6), so their counters hold nothing else."""
    if at_deploy is not None:
        recent = increase(at_deploy, at_switch, services)
        if recent.requests >= min_requests:
            return Baseline(release, recent, f"in the {minutes:.0f} min before the switch")
    return Baseline(release, total(at_switch, services), "in its whole time in traffic")


def judge(samples: Sequence[Sample], services: Collection[str], base: Baseline | None,
          rules: WatchRules, release: str, problem: str | None = None) -> Verdict:
    """The verdict after the newest of `samples` (in time order; the first is at the switch,
    where a release never routed before has no counters yet). `problem` is what
    `container_problem` found in the release's routed containers, if anything."""
    if not samples:
        raise ValueError("judge needs at least the sample taken at the switch")
    seen = _counted(samples, services)
    if problem:
        return Verdict(WatchStatus.FAILED, seen, problem)
    recent = _counted(samples[_window_start(samples, rules.recent_seconds):], services)
    for counts, within in ((seen, ""), (recent, f" in the last {rules.recent_seconds:.0f} s")):
        if too_many_errors(counts, base, rules):
            shown = base.describe(rules.min_requests) if base else "no baseline"
            return Verdict(WatchStatus.FAILED, seen,
                           f"{counts.errors:,} of {counts.requests:,} requests{within} "
                           f"answered 5xx ({shown})")
    if samples[-1].at >= rules.seconds:
        return Verdict(WatchStatus.PASSED, seen, watched_text(seen))
    return Verdict(WatchStatus.WATCHING, seen, watching_line(release, seen))


def _window_start(samples: Sequence[Sample], seconds: float) -> int:
    """The index of the newest sample at least `seconds` before the last one (the first
    sample while the watch is younger than that): the short window covers all of `seconds`."""
    start = 0
    for index, sample in enumerate(samples):
        if sample.at <= samples[-1].at - seconds:
            start = index
    return start


def _counted(samples: Sequence[Sample], services: Collection[str]) -> Counts:
    """What the services answered from the first sample to the last, scrape by scrape, so a
    counter reset between two of them (Traefik restarted) loses nothing counted before it."""
    result = Counts()
    for before, after in zip(samples, samples[1:], strict=False):
        result += increase(before.counts, after.counts, services)
    return result


def too_many_errors(counts: Counts, base: Baseline | None, rules: WatchRules) -> bool:
    """The rule: enough requests, and a 5xx share above both the fixed limit and a few times
    the replaced release's (a baseline from too few requests is no baseline)."""
    if counts.requests < rules.min_requests or counts.requests == 0:
        return False
    limit = rules.max_error_ratio
    if base is not None and base.counts.requests >= rules.min_requests:
        limit = max(limit, rules.baseline_factor * Fraction(base.counts.errors,
                                                            base.counts.requests))
    return Fraction(counts.errors, counts.requests) > limit


def container_problem(at_switch: Sequence[ContainerSnapshot],
                      now: Sequence[ContainerSnapshot]) -> str | None:
    """A routed container of the release that restarted, stopped, turned unhealthy or went
    away since the switch: the watch fails at once, whatever the counts say (Traefik drops an
    unhealthy container, so its errors may never be counted)."""
    before = {s.id: s for s in at_switch if s.routed and not s.oneoff}
    current = {s.id: s for s in now if s.routed and not s.oneoff}
    for cid, old in sorted(before.items(), key=lambda item: item[1].name):
        snap = current.get(cid)
        if snap is None:
            return f"container {old.name} of service {old.service} is gone"
        if snap.status in ("exited", "dead"):
            return (f"container {snap.name} of service {snap.service} exited with code "
                    f"{snap.exit_code}")
        if snap.status == "restarting" or snap.restart_count > old.restart_count:
            return (f"container {snap.name} of service {snap.service} restarted (last exit "
                    f"code {snap.exit_code})")
        if snap.health == "unhealthy":
            output = f": {snap.health_output}" if snap.health_output else ""
            return f"container {snap.name} of service {snap.service} turned unhealthy{output}"
    return None


def why_not_watched(release: str, replaced: str | None, kept: bool, rules: WatchRules,
                    asked: str, routing: bool, services: Collection[str],
                    metrics_problem: str | None) -> str | None:
    """Why a release served now is not watched, as the pusher is told it; None: it is.
    `replaced` is the release it replaced (None: none), `kept` whether that one runs on out
    of traffic for the instant rollback; `asked` why the deploy itself asked for no watch
    ("the push asked for no-watch"; empty: it did not)."""
    if replaced is None:
        return f"not watched: {release} replaced no release, so there is none to go back to"
    if rules.seconds <= 0:
        return ("not watched: watch_seconds is 0, or retire_after is (no release is kept to "
                "roll back to at once)")
    if asked:
        return f"not watched: {asked}"
    if not routing:
        return ("not watched: traefik_routing is off, so Traefik's counts cannot tell "
                f"{release} from the release before it")
    if not services:
        return f"{release} has no routed HTTP service: nothing to watch"
    if not kept:
        return (f"not watched: {replaced} is not kept for an instant rollback, so there is "
                "none to go back to at once")
    if metrics_problem:
        return (f"not watched: {metrics_problem}; `otterstack doctor` says how to turn on "
                "Traefik's Prometheus metrics")
    return None


def watching_line(release: str, seen: Counts) -> str:
    """What the pusher sees after each scrape while the window lasts."""
    return (f"watching {release} under real traffic: {seen.requests:,} requests, "
            f"{seen.errors:,} errors")


def watched_text(seen: Counts) -> str:
    """What a release that passed keeps (`otterstack releases`)."""
    return f"watched: {seen.requests:,} requests, {seen.errors:,} errors"


def rolled_back_text(reason: str) -> str:
    """What a release that failed keeps: the reason with its numbers."""
    return f"rolled back by watch: {reason}"


def percent(part: int, whole: int) -> str:
    """`0.3 %`; a share too small for one decimal is `< 0.1 %`, not a misleading `0.0 %`."""
    if whole <= 0:
        return "n/a"
    share = 100 * part / whole
    if 0 < share < 0.05:
        return "< 0.1 %"
    return f"{share:.1f} %"
