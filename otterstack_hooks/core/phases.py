"""Per-phase timings of a deploy (pure): marked as each phase ends, shown in one line."""

import json
from collections.abc import Callable

from otterstack_hooks.core.vocabulary import Phase


class PhaseClock:
    """Seconds per phase: `mark(phase)` ends `phase` now; the next one starts there."""

    def __init__(self, clock: Callable[[], float]):
        """`clock`: seconds from a monotonic clock (time.monotonic; a fake in tests)."""
        self._clock = clock
        self._last = clock()
        self.seconds: dict[Phase, float] = {}

    def mark(self, phase: Phase) -> None:
        now = self._clock()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now

    def to_json(self) -> str:
        return json.dumps({str(phase): round(s, 3) for phase, s in self.seconds.items()})

    def summary(self) -> str:
        """`queued 0.0 s, checkout 0.4 s, ...` in the order the phases ran."""
        return ", ".join(f"{phase.replace('_', ' ')} {s:.1f} s"
                         for phase, s in self.seconds.items())
