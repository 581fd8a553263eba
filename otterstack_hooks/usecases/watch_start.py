"""What a deploy does for the watch after its switch (usecases/watch.py runs the watch).

Traefik's metrics are read twice by the deploy: before the build, and once the new release
is proven to serve. What the replaced release answered in between (the build and the health
wait: the minutes before the switch) is its baseline (rules/watch.baseline). At the switch
the new release's Traefik services are recorded, whether it is watched or not, so the next
deploy knows the baseline's. Once the replaced release is kept for an instant rollback, the
deploy decides: the watch runs (its process, started before the switch by `start_early`,
waits for this), or one line says why there is none (rules/watch.why_not_watched). Reading
the metrics never fails a deploy: a problem only means no watch, and the push says why.
"""

import json
import time

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import Step, WatchStatus
from otterstack_hooks.rules.traefik.metrics import (
    MetricsError,
    Scrape,
    parse_scrape,
    release_services,
)
from otterstack_hooks.rules.traefik.routing_plan import RoutingPlan, TraefikInfo
from otterstack_hooks.rules.watch import Baseline, baseline, rules_for, why_not_watched

METRICS_TIMEOUT = 2.0  # s per read of /metrics: one takes about a millisecond (measured)


def scrape(ports: Ports, info: TraefikInfo) -> Scrape:
    """Traefik's request counters now; OtterError (saying why) if they cannot be read."""
    try:
        return parse_scrape(ports.router.scrape_metrics(info, METRICS_TIMEOUT))
    except MetricsError as exc:
        raise OtterError(f"Traefik's metrics cannot be read: {exc}") from exc


class WatchStart:
    """One deploy's part of the watch. `asked`: why the deploy itself wants no watch (the
    push's `-o no-watch`, a rollback); empty if it does not."""

    def __init__(self, ports: Ports, asked: str = ""):
        self.ports, self.asked = ports, asked
        self.before: tuple[float, Scrape] | None = None  # (monotonic time, counters)
        self.problem: str | None = None  # why Traefik's metrics could not be read
        self.started = False  # the watch's process runs, waiting for `schedule`

    def _wanted(self, app: App, routing: RoutingPlan | None, old: Release | None) -> bool:
        return routing is not None and old is not None and app.watch_seconds > 0 \
            and not self.asked

    def start_early(self, app: App, routing: RoutingPlan | None, release: Release,
                    old: Release | None) -> None:
        """Before the switch, start the watch's process if the release will likely be
        watched (it waits for `schedule` to decide): its start-up then overlaps the switch
        instead of delaying the first read."""
        if routing is None or not self._wanted(app, routing, old) or self.problem:
            return
        if release_services(routing.labels, routing.traefik.provider):
            self.ports.schedule_watch(app.name, release.name)
            self.started = True

    def _scrape(self, info: TraefikInfo) -> Scrape | None:
        try:
            return scrape(self.ports, info)
        except OtterError as exc:
            self.problem = str(exc)
            return None

    def before_build(self, app: App, routing: RoutingPlan | None, old: Release | None) -> None:
        """The first read, before the build and the health wait: where the baseline starts."""
        if routing is not None and self._wanted(app, routing, old):
            counts = self._scrape(routing.traefik)
            if counts is not None:
                self.before = (time.monotonic(), counts)

    def at_switch(self, app: App, routing: RoutingPlan, release: Release,
                  old: Release | None) -> None:
        """The new release serves (its proof's requests are counted): record its services
        and, if it is to be watched, the replaced release's baseline."""
        services = release_services(routing.labels, routing.traefik.provider)
        store = self.ports.store
        store.update_release(release.id, watch_services=json.dumps(sorted(services)))
        if old is None or not services or not self._wanted(app, routing, old):
            return
        counts = self._scrape(routing.traefik)
        if counts is None:
            return
        if not any(key.service in services for key in counts):
            self.problem = (f"Traefik's metrics count no request of {', '.join(sorted(services))}"
                            f" after the requests that proved {release.name} serves (is "
                            "metrics.prometheus.addServicesLabels off?)")
            return
        old_services = json.loads(old.watch_services) if old.watch_services else []
        if not old_services:
            return  # served before the watch existed: no baseline, the fixed limit judges
        started, at_deploy = self.before if self.before else (time.monotonic(), None)
        found = baseline(old.name, at_deploy, counts, old_services,
                         (time.monotonic() - started) / 60, rules_for(app).min_requests)
        store.update_release(release.id, watch_baseline=found.to_json())

    def schedule(self, app: App, release: Release, old: Release | None) -> bool:
        """Once the replaced release is kept (or not): whether the watch runs, said in one
        line and recorded (`watch_status` watching, or ended with why not if its process
        was started early and waits for this)."""
        store, rules = self.ports.store, rules_for(app)
        kept = old is not None and store.release(old.id).retire_at is not None
        row = store.release(release.id)
        services = json.loads(row.watch_services) if row.watch_services else []
        why = why_not_watched(release.name, old.name if old else None, kept, rules,
                              self.asked, app.traefik_routing, services, self.problem)
        if why:
            self.ports.out.step(Step.WATCH, why)
            if self.started:
                store.update_release(release.id, watch_status=WatchStatus.ENDED,
                                     watch_detail=why)
            return False
        base = Baseline.from_json(row.watch_baseline)
        shown = base.explain(rules.min_requests) if base else "no baseline"
        store.update_release(release.id, watch_status=WatchStatus.WATCHING)
        self.ports.out.step(Step.WATCH, f"watching {release.name} under real traffic for "
                            f"{rules.seconds:.0f} s ({shown})")
        return True
