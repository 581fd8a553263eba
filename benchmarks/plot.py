"""Requests over time during deploys, one panel per design, as an SVG for the README.

A count of failed requests says how much a design lost, not when: the picture shows that the
losses of Compose in place sit exactly inside its deploys, and that OtterStack's deploys
leave no mark on the traffic. Each panel is one design's load: requests served (green) and
failed (red) per 100 ms bucket, stacked, with each deploy shaded from its start to the end of
its command. Needs matplotlib (`pip install -e '.[bench]'`); only the benchmarks' `--plot`
imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

SERVED, FAILED, DEPLOY = "#2e7d32", "#c62828", "#9e9e9e"


@dataclass
class Panel:
    """One design's run: each request as (when it ended, served or not), and each deploy as
    (start, end, label), all in time.time() seconds."""

    name: str
    requests: Sequence[tuple[float, bool]]
    deploys: Sequence[tuple[float, float, str]]

    @property
    def origin(self) -> float:
        """The panel's zero: its first request or deploy."""
        return min([t for t, _ in self.requests] + [s for s, _, _ in self.deploys])

    def buckets(self, width: float) -> tuple[list[float], list[int], list[int]]:
        """(bucket start s, served, failed) for every bucket from the origin to the last
        request, empty ones included: a gap in the traffic is a gap in the picture."""
        origin = self.origin
        last = max((t for t, _ in self.requests), default=origin)
        count = int((last - origin) / width) + 1
        served, failed = [0] * count, [0] * count
        for when, ok in self.requests:
            (served if ok else failed)[int((when - origin) / width)] += 1
        return [i * width for i in range(count)], served, failed


def draw(panels: Sequence[Panel], path: Path, bucket: float = 0.1) -> None:
    """Write the panels, one under the other on a shared time axis, as an SVG at `path`."""
    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9,
                         "svg.hashsalt": "otterstack"})  # text as text, stable ids
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.9 * len(panels) + 0.5),
                             sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        _panel(ax, panel, bucket)
    axes[0, 0].legend(loc="upper right", ncols=3, frameon=False, fontsize=8,
                      bbox_to_anchor=(1.0, 1.32))
    axes[-1, 0].set_xlabel("seconds since the load started")
    fig.supylabel(f"requests per {bucket * 1000:.0f} ms", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def _panel(ax, panel: Panel, bucket: float) -> None:
    starts, served, failed = panel.buckets(bucket)
    total = [s + f for s, f in zip(served, failed, strict=True)]
    ax.fill_between(starts, 0, served, step="post", color=SERVED, linewidth=0,
                    label="served", gid=f"{_id(panel.name)}-served")
    ax.fill_between(starts, served, total, step="post", color=FAILED, linewidth=0,
                    label="failed", gid=f"{_id(panel.name)}-failed")
    for n, (start, end, label) in enumerate(panel.deploys):
        ax.axvspan(start - panel.origin, end - panel.origin, color=DEPLOY, alpha=0.3,
                   linewidth=0, zorder=0, label="deploy (command running)" if n == 0 else None,
                   gid=f"{_id(panel.name)}-deploy-{n}")
        for edge in (start, end):
            ax.axvline(edge - panel.origin, color="#424242", linewidth=0.6, linestyle=":")
        ax.text(start - panel.origin, 1.0, f" {label}", transform=ax.get_xaxis_transform(),
                va="top", fontsize=7, color="#424242")
    lost = sum(failed)
    ax.set_title(f"{panel.name}: {lost:,} of {lost + sum(served):,} requests failed",
                 loc="left", fontsize=9)
    ax.set_ylim(0, max(total, default=1) * 1.15 or 1)
    ax.margins(x=0)
    ax.spines[["top", "right"]].set_visible(False)


def _id(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower())
