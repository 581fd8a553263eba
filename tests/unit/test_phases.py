"""Per-phase timings (phases.PhaseClock) and which routers keep an old release in traffic
(routing.not_outranked): the pure parts of issue 13's switch and rollback window."""

from otterstack_hooks.core.phases import PhaseClock
from otterstack_hooks.core.vocabulary import Phase
from otterstack_hooks.rules.traefik.labels import RouterInfo
from otterstack_hooks.rules.traefik.priority import Incumbent
from otterstack_hooks.rules.traefik.routing_plan import not_outranked


def test_each_mark_ends_a_phase_where_the_next_begins():
    ticks = iter([10.0, 10.5, 12.0, 12.0, 15.25])
    clock = PhaseClock(lambda: next(ticks))
    clock.mark(Phase.QUEUED)
    clock.mark(Phase.CHECKOUT)
    clock.mark(Phase.BUILD)
    clock.mark(Phase.OLD_STOPPED)
    assert clock.seconds == {Phase.QUEUED: 0.5, Phase.CHECKOUT: 1.5, Phase.BUILD: 0.0,
                             Phase.OLD_STOPPED: 3.25}
    assert clock.summary() == "queued 0.5 s, checkout 1.5 s, build 0.0 s, old stopped 3.2 s"
    assert clock.to_json() == ('{"queued": 0.5, "checkout": 1.5, "build": 0.0, '
                               '"old_stopped": 3.25}')


def _new(rule, priority, entrypoints=(), protocol="http"):
    return RouterInfo(protocol, "web", "web-a-r2", "web", rule, entrypoints, priority, False)


def _old(rule, priority, entrypoints=("web",), protocol="http", name="web-a-r1@docker"):
    return Incumbent(protocol, name, rule, entrypoints, priority, "web")


def test_an_old_router_is_outranked_only_by_the_same_rule_on_its_entrypoints_ranked_higher():
    rule = "Host(`a.test`)"
    assert not_outranked((_old(rule, 14_000_000_001),), [_new(rule, 14_000_000_002)]) == []
    assert not_outranked((_old(rule, 14_000_000_001, ("web", "websecure")),),
                         [_new(rule, 14_000_000_002, ("web", "websecure"))]) == []
    # a narrower new router, a different rule, a lower rank, UDP: the old one would serve
    assert not_outranked((_old(rule, 1, ("web", "websecure")),),
                         [_new(rule, 2, ("web",))]) == ["web"]
    assert not_outranked((_old(rule, 1),), [_new("Host(`b.test`)", 2)]) == ["web"]
    assert not_outranked((_old(rule, 3),), [_new(rule, 2)]) == ["web"]
    assert not_outranked((_old(None, 1, protocol="udp"),),
                         [_new(None, 2, protocol="udp")]) == ["web"]
    assert not_outranked((), [_new(rule, 2)]) == []
