"""Shared test setup: the repo root on sys.path so tests import the package from the checkout,
and the order in which the test command's workers take the test files."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The integration files by their time in the last measured run (docs/testing.md), longest first.
# scripts/test.sh runs three pytest-xdist workers that take a file at a time in collection order
# (--dist loadfile --no-loadscope-reorder): the longest files start first and the short ones,
# then the unit tests, fill the ends, so the workers finish together. A file not listed runs
# after these, as collected.
LONGEST_FIRST = (
    "test_users_traefik.py", "test_swarm.py", "test_swarm_cluster.py", "test_draining.py",
    "test_swarm_previews.py",
    "test_faults.py", "test_bad_input.py", "test_core.py", "test_operate.py", "test_traefik.py",
    "test_stop_gap.py", "test_step_limits.py", "test_stateful.py", "test_rollback_window.py",
    "test_previews.py",
)


def _file_rank(item: pytest.Item) -> tuple[int, int]:
    name = item.path.name
    if name in LONGEST_FIRST:
        return 0, LONGEST_FIRST.index(name)
    return (1 if "integration" in item.path.parts else 2), 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_file_rank)  # stable: a file's tests keep their order
