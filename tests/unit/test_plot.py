"""benchmarks/plot.py on a fixed timeline: the SVG the README shows parses, and each design's
served and failed series and deploys are in it, with the counts in its title."""

import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PLOT = Path(__file__).resolve().parents[2] / "benchmarks" / "plot.py"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def plot():
    spec = importlib.util.spec_from_file_location("benchmarks_plot", PLOT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def timeline(start: float, failing: tuple[float, float] | None) -> list[tuple[float, bool]]:
    """10 s of 20 requests a 100 ms bucket, the first at `start` (the panel's zero), the
    others 1 ms or more away from a bucket's edge; those inside `failing` failed."""
    times = [start + (i // 20) * 0.1 + (i % 20) * 0.004 + (0.001 if i else 0.0)
             for i in range(2000)]
    return [(t, not (failing and failing[0] <= t - start < failing[1])) for t in times]


def test_buckets_count_served_and_failed_per_100_ms(plot):
    panel = plot.Panel("in place", timeline(1000.0, (2.0, 3.0)), [(1001.9, 1003.1, "v2")])
    starts, served, failed = panel.buckets(0.1)
    assert len(starts) == 100 and starts[1] == pytest.approx(0.1)
    assert sum(served) == 1800 and sum(failed) == 200
    assert failed[20:30] == [20] * 10 and served[20:30] == [0] * 10
    assert failed[:20] == [0] * 20 and failed[30:] == [0] * 70


def test_the_svg_parses_and_has_each_design_series_and_deploys(plot, tmp_path):
    panels = [plot.Panel("in place", timeline(1000.0, (2.0, 3.0)),
                         [(1001.9, 1003.1, "v2"), (1006.0, 1007.0, "v3")]),
              plot.Panel("OtterStack", timeline(2000.0, None), [(2002.0, 2008.0, "r2")])]
    out = tmp_path / "deploy.svg"
    plot.draw(panels, out)
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    ids = {g.get("id") for g in root.iter(f"{SVG}g")}
    assert {"in-place-served", "in-place-failed", "in-place-deploy-0", "in-place-deploy-1",
            "otterstack-served", "otterstack-failed", "otterstack-deploy-0"} <= ids
    texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "in place: 200 of 2,000 requests failed" in texts
    assert "OtterStack: 0 of 2,000 requests failed" in texts
    failed_area = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "in-place-failed")
    assert list(failed_area.iter(f"{SVG}path"))  # drawn, not only named
