"""`otterstack watch APP RELEASE`: a release just served, followed under real traffic.

The deploy that served it starts this (Ports.schedule_watch) in a process of its own, which
outlives the deploy and the pusher's connection. Every POLL_SECONDS it reads Traefik's
request counters (and every few reads the release's routed containers) and asks
rules/watch.judge. A release that fails goes back at once to the release it replaced (the
instant rollback, pinning nothing: the next push deploys), keeps why with the numbers, and
the app's target is told; one that passes keeps `watched: N requests, M errors`; a newer
push, or a rollback by hand, ends the watch. It takes the app's lock only to roll back. Its
lines go to the release's log, which the push follows (cli/hooks.py). Design and numbers:
docs/design/watch.md.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import short
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step, WatchStatus
from otterstack_hooks.rules.health import ContainerSnapshot
from otterstack_hooks.rules.traefik.metrics import Counts
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo
from otterstack_hooks.rules.watch import (
    Baseline,
    Sample,
    Verdict,
    container_problem,
    judge,
    rolled_back_text,
    rules_for,
)
from otterstack_hooks.usecases.deploy import Outcome
from otterstack_hooks.usecases.release_steps import release_named, tell
from otterstack_hooks.usecases.rollback import Rollback
from otterstack_hooks.usecases.watch_start import scrape

POLL_SECONDS = 0.5  # a read of /metrics takes about a millisecond: the 2 s goal needs this
DECIDE_POLL_SECONDS = 0.1  # how often a watch started before its switch looks for the decision
DECIDE_SECONDS = 900.0  # bound on that wait: the proof, a drain and stops fit well inside
LINE_SECONDS = 5.0  # how often the pusher is told how it goes
CONTAINERS_EVERY = 4  # polls between two looks at the release's containers


class Watch:
    """`clock` (Unix time) and `sleep` are the real ones except in tests."""

    def __init__(self, ports: Ports, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.ports, self.out, self.clock, self.sleep = ports, ports.out, clock, sleep
        self._warned = False  # that Traefik's metrics could not be read, once

    def run(self, app: App, name: str, wait: bool = False) -> WatchStatus | None:
        """The watch of release `name`, to its end; its outcome (None: it was not waiting
        for a watch). `wait`: started by the deploy before its switch (so that this process
        is up, its imports done, when the first request reaches the release: a second and
        more on a busy host), it first waits for the deploy to decide."""
        release = release_named(self.ports, app.name, name)
        if wait:
            release = self._decided(release)
        if release is None or release.watch_status != WatchStatus.WATCHING:
            if not wait:
                self.out.step(Step.WATCH, f"{name} is not waiting for a watch")
            return None
        if release.log_path:
            self.out.attach_log(Path(release.log_path))
        self.out.count_from(release.started_at)
        info = self.ports.router.detect()
        if info is None:
            return self._end(release, WatchStatus.ENDED, Counts(),
                             "watch ended: no Traefik is found to read its metrics")
        return self._follow(app, release, info)

    def _decided(self, release: Release | None) -> Release | None:
        """The release once its deploy has decided (watch_status set: watching, or ended
        with why not), or it failed; bounded by DECIDE_SECONDS."""
        deadline = self.clock() + DECIDE_SECONDS
        while (release is not None and not release.watch_status and self.clock() <= deadline
               and release.status in (ReleaseStatus.DEPLOYING, ReleaseStatus.ACTIVE)):
            self.sleep(DECIDE_POLL_SECONDS)
            release = self.ports.store.release(release.id)
        return release

    def _follow(self, app: App, release: Release, info: TraefikInfo) -> WatchStatus:
        """Read, judge, tell; until a verdict or something ends the watch."""
        rules, base = rules_for(app), Baseline.from_json(release.watch_baseline)
        services = frozenset(json.loads(release.watch_services))
        at_switch = self.ports.runtime.containers(release.project)
        samples, told, polls = [Sample(0.0)], self.clock(), 0
        verdict = judge(samples, services, base, rules, release.name)
        while True:
            ended = self._ended_by(app, release)
            if ended:
                return self._end(release, WatchStatus.ENDED, verdict.seen,
                                 f"watch ended after {verdict.seen.requests:,} requests, "
                                 f"{verdict.seen.errors:,} errors: {ended}")
            polls += 1
            samples.append(self._sample(info, release, samples[-1]))
            problem = (self._container_problem(release, at_switch)
                       if polls % CONTAINERS_EVERY == 0 else None)
            verdict = judge(samples, services, base, rules, release.name, problem)
            if verdict.status == WatchStatus.FAILED:
                return self._roll_back(app, release, verdict)
            if verdict.status == WatchStatus.PASSED:
                return self._end(release, WatchStatus.PASSED, verdict.seen, verdict.reason)
            if self.clock() - told >= LINE_SECONDS:
                self.out.step(Step.WATCH, verdict.reason)
                told = self.clock()
            self.sleep(POLL_SECONDS)

    def _sample(self, info: TraefikInfo, release: Release, last: Sample) -> Sample:
        """Traefik's counters now, at seconds since the switch. Unreadable (Traefik
        restarting): the last ones again, so the window still ends; said once."""
        at = self.clock() - (release.served_at or release.started_at)
        try:
            return Sample(at, scrape(self.ports, info))
        except OtterError as exc:
            if not self._warned:
                self.out.warn(Step.WATCH, f"{exc}; counting on from the next read that works")
                self._warned = True
            return Sample(at, last.counts)

    def _container_problem(self, release: Release,
                           at_switch: list[ContainerSnapshot]) -> str | None:
        return container_problem(at_switch, self.ports.runtime.containers(release.project))

    def _ended_by(self, app: App, release: Release) -> str | None:
        """What ends the watch before its window does: a newer push, or the release no
        longer serving (a rollback by hand)."""
        newest = self.ports.store.releases(app.name, limit=1)[0]
        if newest.id != release.id:
            return f"{newest.name} was pushed after it"
        if self.ports.store.release(release.id).status != ReleaseStatus.ACTIVE:
            return f"{release.name} no longer serves"
        return None

    def _roll_back(self, app: App, release: Release, verdict: Verdict) -> WatchStatus:
        """The instant rollback to the release it replaced (the long way if that one no
        longer runs), pinning nothing; then the reason kept with its numbers, and told."""
        store = self.ports.store
        target = store.rollback_target(app.name)
        if target is None:
            return self._end(release, WatchStatus.FAILED, verdict.seen,
                             f"{release.name} fails under real traffic ({verdict.reason}), "
                             "but no release is kept to go back to")
        self.out.step(Step.WATCH, f"{release.name} fails under real traffic: "
                      f"{verdict.reason}: rolling back to {target.name}")
        try:
            outcome = Rollback(self.ports).run(app, target.name, False, "watch", None,
                                               watched=release)
        except OtterError as exc:  # e.g. the failed release's stop, after the switch back
            outcome = Outcome(False, str(exc))
        if outcome.skipped:
            return self._end(release, WatchStatus.ENDED, verdict.seen,
                             f"watch ended: {outcome.message}")
        if not outcome.ok:
            return self._end(release, WatchStatus.FAILED, verdict.seen,
                             f"failed under real traffic ({verdict.reason}), but the rollback "
                             f"did not complete: {outcome.message}")
        text = rolled_back_text(verdict.reason)
        store.update_release(release.id, reason=text)
        tell(self.ports, app, "watch_failed", store.release(release.id),
             serving=f"serving {target.name} ({short(target.sha)}) again")
        return self._end(release, WatchStatus.FAILED, verdict.seen, text)

    def _end(self, release: Release, status: WatchStatus, seen: Counts,
             text: str) -> WatchStatus:
        """Keep the outcome; its line is the watch's last in the release log (`watch_end`:
        `logs -f` and the push stop following there)."""
        self.ports.store.update_release(release.id, watch_status=status,
                                        watch_requests=seen.requests,
                                        watch_errors=seen.errors, watch_detail=text)
        self.out.step(Step.WATCH, text, watch_end=True)
        return status
