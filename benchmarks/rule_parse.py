"""How long deriving probe requests from a Traefik rule takes, by rule size (issue 10).

Before the bound, 18 `(Host(..) || PathPrefix(..))` terms joined by `&&` took about 5 s and
22 took minutes, under the deploy lock. Run: `.venv/bin/python benchmarks/rule_parse.py`.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otterstack_hooks.rules.traefik.rule_parser import RuleTooComplex, host_rules  # noqa: E402


def product_rule(terms: int) -> str:
    return " && ".join(f"(Host(`h{i}.example`) || PathPrefix(`/p{i}`))" for i in range(terms))


def main() -> None:
    print(f"{'terms':>5} {'bytes':>6} {'result':<14} {'seconds':>9}")
    for terms in (4, 8, 9, 18, 22, 100, 1000):
        rule = product_rule(terms)
        started = time.perf_counter()
        try:
            result = f"{len(host_rules(rule))} requests"
        except RuleTooComplex:
            result = "too complex"
        print(f"{terms:>5} {len(rule):>6} {result:<14} {time.perf_counter() - started:>9.4f}")


if __name__ == "__main__":
    main()
