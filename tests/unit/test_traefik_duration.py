"""Go's durations as Traefik reads them: the one parser (rules/traefik/duration.py) of the
throttle, the swarm provider's refresh and anything else OtterStack passes to Traefik."""

import pytest

from otterstack_hooks.rules.traefik.duration import format_seconds, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("200ms", 0.2), ("2s", 2.0), ("1.5s", 1.5), ("1m", 60.0), ("2", 2.0), ("0", 0.0),
    ("0.5", 0.5), ("1s500ms", 1.5), ("100000us", 0.1), (3, 3.0), (0.25, 0.25),
    ("1m30s", 90.0), ("1h", 3600.0), ("61s", 61.0), (".5s", 0.5), ("100µs", 0.0001),
    ("1500ns", 1.5e-6), (" 5s ", 5.0),
])
def test_durations_are_read_as_traefik_reads_them(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "2x", "ms200", "2 s", "-1s", "1.5.5s", "soon", "1d",
                                  True])
def test_what_is_not_a_duration_is_refused(text: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)  # type: ignore[arg-type]


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.1, 0.2, 2.0, 1.5, 0.0)] == [
        "100ms", "200ms", "2s", "1.5s", "0ms"]
