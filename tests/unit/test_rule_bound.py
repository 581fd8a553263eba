"""Rule parsing is bounded: a rule that expands too far is confirmed through the API only."""

import pytest

from otterstack_hooks.rules.compose.model import parse_config
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo, plan_routing
from otterstack_hooks.rules.traefik.rule_parser import (
    MAX_ALTERNATIVES,
    MAX_RULE_DEPTH,
    MAX_RULE_MATCHERS,
    RuleTooComplex,
    host_rules,
)


def product_rule(terms: int) -> str:
    """`(Host(..) || PathPrefix(..)) && ...`: 2**terms alternatives once expanded."""
    return " && ".join(f"(Host(`h{i}.example`) || PathPrefix(`/p{i}`))" for i in range(terms))


@pytest.mark.parametrize("terms", [9, 22])
def test_a_rule_past_the_bound_is_refused_not_expanded(terms):
    assert 2 ** terms > MAX_ALTERNATIVES
    with pytest.raises(RuleTooComplex):
        host_rules(product_rule(terms))


def test_a_rule_within_the_bound_still_gives_its_requests():
    rule = product_rule(8)  # 256 alternatives: the bound itself
    assert host_rules(rule) == []  # no alternative satisfies two different Host()s
    assert host_rules("(Host(`a.example`) || Host(`b.example`)) && PathPrefix(`/x`)") == [
        ("a.example", "/x"), ("b.example", "/x")]


def test_a_long_chain_is_refused_instead_of_exhausting_the_stack():
    chain = " && ".join(f"PathPrefix(`/p{i}`)" for i in range(MAX_RULE_MATCHERS + 1))
    with pytest.raises(RuleTooComplex):
        host_rules(chain)
    with pytest.raises(RuleTooComplex):
        host_rules(product_rule(1000))


def test_deep_nesting_is_refused_instead_of_exhausting_the_stack():
    rule = "!" * (MAX_RULE_DEPTH + 1) + "Host(`a.example`)"
    with pytest.raises(RuleTooComplex):
        host_rules(rule)
    with pytest.raises(RuleTooComplex):
        host_rules("(" * 5000 + "Host(`a.example`)" + ")" * 5000)


def test_routing_confirms_a_too_complex_rule_through_the_api_and_says_so():
    model = parse_config({"services": {"web": {"image": "w", "labels": {
        "traefik.enable": "true",
        "traefik.http.routers.web.rule": product_rule(22),
        "traefik.http.services.web.loadbalancer.server.port": "8000",
    }}}}, "app-r1")
    info = TraefikInfo("edge", "http://127.0.0.1:8080", "edge-net", {"web": 8000})
    plan = plan_routing(model, "app-r1", 1, info)
    assert plan.probes == []
    assert plan.notes == ["web: confirmed via the API only (rule too complex)"]
