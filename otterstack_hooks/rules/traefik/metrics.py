"""Traefik's Prometheus metrics, read as the requests and 5xx answers of each of its services.

The watch after a switch (docs/design/watch.md) judges a release by what Traefik counted for
it: `traefik_service_requests_total{code,method,protocol,service}`, a counter per Traefik
service that every release has its own of (rules/traefik/labels.py renames `web` to
`web-<app>-r7`, so the series `service="web-shop-r7@docker"` is that release's and no other's).

The text is parsed by `prometheus_client.parser`, the Prometheus project's own Python parser
(escapes in label values, `NaN`/`+Inf`, timestamps, HELP/TYPE lines), rather than by a parser
of our own: a text format that other programs write deserves the reader its maintainers keep
up with it. Only the lines of the one metric we need are handed to it: Traefik's page also
holds a histogram of seven lines per counter, byte counters and Go's and the process's own
metrics, and every line costs the parser.
Pure: text in, counts out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from otterstack_hooks.rules.traefik.label_keys import RENAMED

REQUESTS = "traefik_service_requests_total"
# Prometheus metrics, on Traefik's default metrics entrypoint `traefik`: the API's, which
# `traefik up` puts on a network no app joins (docs/traefik.md)
METRICS_FLAG = "--metrics.prometheus=true"
_FAMILY = REQUESTS.removesuffix("_total")  # how the parser names a counter's family
_SERVICE_KEY = re.compile(rf"traefik\.http\.services\.({RENAMED.pattern})\.", re.IGNORECASE)


class MetricsError(ValueError):
    """Text that is not Prometheus's text format, or a sample of ours that makes no sense."""


@dataclass(frozen=True)
class Counts:
    """Requests Traefik answered for a service (or several), and how many of them with 5xx."""

    requests: int = 0
    errors: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.requests + other.requests, self.errors + other.errors)

    @property
    def ratio(self) -> float | None:
        """The share answered 5xx; None without a request (no ratio, not 0)."""
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class Series:
    """One counter of the metric: Traefik counts each service, code, method and protocol
    apart, and each may be reset (Traefik restarted) or dropped (the service left its
    configuration) on its own."""

    service: str
    code: str
    method: str = "GET"
    protocol: str = "http"


Scrape = Mapping[Series, int]  # one read of `/metrics`: each counter's value


def parse_scrape(text: str) -> dict[Series, int]:
    """Every `traefik_service_requests_total` counter in the text Traefik serves on
    `/metrics`. A service Traefik has not answered a request for yet has no series (absent,
    not zero)."""
    scrape: dict[Series, int] = {}
    for labels, value in _samples(text):
        service = labels.get("service")
        if service is None:
            raise MetricsError(f"{REQUESTS} without a service label: {labels}")
        key = Series(service, labels.get("code", ""), labels.get("method", ""),
                     labels.get("protocol", ""))
        scrape[key] = scrape.get(key, 0) + value
    return scrape


def service_counts(scrape: Scrape) -> dict[str, Counts]:
    """Requests and 5xx per Traefik service (`web-shop-r7@docker`), summed over codes,
    methods and protocols."""
    counts: dict[str, Counts] = {}
    for key, value in scrape.items():
        errors = value if is_error(key.code) else 0
        counts[key.service] = counts.get(key.service, Counts()) + Counts(value, errors)
    return counts


def is_error(code: str) -> bool:
    """An answer that counts against a release: 500-599, whether the app sent it or Traefik
    did for it (502 when its container is gone, 504 when it did not answer in time)."""
    return len(code) == 3 and code.isdigit() and code.startswith("5")


def _samples(text: str) -> Iterable[tuple[dict[str, str], int]]:
    """The samples of `traefik_service_requests_total` as (labels, whole count)."""
    wanted = "\n".join(line for line in text.splitlines() if _ours(line))
    try:
        families = list(text_string_to_metric_families(wanted + "\n"))
    except ValueError as exc:  # the parser's only complaint about malformed text
        raise MetricsError(f"not Prometheus text: {exc}") from exc
    for family in families:
        if family.name != _FAMILY:
            continue
        for sample in family.samples:
            if sample.name != REQUESTS:
                continue  # `_created`, if a Traefik ever sends one
            value = sample.value
            if not math.isfinite(value) or value < 0 or value != int(value):
                raise MetricsError(f"{REQUESTS}{sample.labels} is {value}, not a count")
            yield dict(sample.labels), int(value)


def _ours(line: str) -> bool:
    """A sample line of our metric, or its HELP/TYPE line (so the parser types it)."""
    if line.startswith("#"):
        words = line.split(None, 3)
        return len(words) >= 3 and words[1] in ("HELP", "TYPE") and words[2] == REQUESTS
    return line.startswith((REQUESTS + "{", REQUESTS + " "))


def total(scrape: Scrape, services: Collection[str]) -> Counts:
    """The counts of `services` together; a service without a series counts nothing."""
    result = Counts()
    for key, value in scrape.items():
        if key.service in services:
            result += Counts(value, value if is_error(key.code) else 0)
    return result


def increase(before: Scrape, after: Scrape, services: Collection[str]) -> Counts:
    """What `services` answered between two scrapes, counter by counter. A counter that went
    down was reset (Traefik restarted): what it holds now all came after the first scrape, as
    Prometheus's own `increase()` takes it. A counter that went away (Traefik dropped the
    service from its configuration) counted nothing since."""
    result = Counts()
    for key, new in after.items():
        if key.service not in services:
            continue
        old = before.get(key, 0)
        added = new if new < old else new - old
        result += Counts(added, added if is_error(key.code) else 0)
    return result


def release_services(labels: Mapping[str, Mapping[str, str]], provider: str) -> frozenset[str]:
    """The HTTP services a release defines, named as Traefik's metrics name them
    (`web-shop-r7@docker`): what the watch follows. `labels` are the release's labels as
    rewritten (routing_plan.RoutingPlan). All of them, not only those its routers name:
    Traefik counts a request on the load-balancer service that answered it, so behind a
    router to a `weighted` (or mirroring, failover) service the counts are its children's,
    and the parent has no series (measured: docs/design/watch.md). A router of the release
    to another provider's service (`api@internal`, `shop@file`) is not the release's to
    judge, and TCP and UDP have no status codes."""
    defined = {found.group(1) for service_labels in labels.values() for key in service_labels
               if (found := _SERVICE_KEY.match(key))}
    return frozenset(f"{name}@{provider}" for name in defined)
