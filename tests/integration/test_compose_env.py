"""Property: every value OtterStack accepts reaches Compose's effective config exactly, through
the real `docker compose config` and the override OtterStack generates."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.rules.compose.model import parse_config
from otterstack_hooks.rules.compose.override import STATE_OVERRIDE_FILE, render_state_override
from otterstack_hooks.rules.release_plan import plan_release

# what people put in secrets, weighted towards what dotenv parsers get wrong
TRICKY = st.sampled_from(["\\", "'", '"', "$", "${X}", "$$", "#", " ", "\n", "\t", "=", "ü",
                          "✓", "`", "\\n", "${X:-d}", "%"])
VALUES = st.lists(st.one_of(TRICKY, st.text(st.characters(blacklist_categories=["Cs"],
                                                              blacklist_characters="\x00"),
                                            max_size=5)), max_size=8).map("".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.from_regex(r"S_[A-Z0-9_]{1,6}", fullmatch=True), VALUES, min_size=1,
                       max_size=4))
def test_values_reach_compose_config_exactly(tmp_path: Path, values: dict[str, str]):
    for key, value in values.items():
        secrets.validate_value(key, value)
    project_dir = tmp_path / "p"
    project_dir.mkdir(exist_ok=True)
    (project_dir / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    environment:\n      FIRST: \"${"
        + sorted(values)[0] + "}\"\n")
    model = parse_config({"services": {"web": {"image": "busybox"}}}, "p-r1")
    plan = plan_release(model, "p", "p-r1")
    override = tmp_path / "gen" / STATE_OVERRIDE_FILE
    override.parent.mkdir(exist_ok=True)
    override.write_text(render_state_override(plan, "r1", sorted(values)) or "")
    target = compose.ComposeTarget("p-r1", project_dir, ("compose.yaml", override),
                                   environment=values)
    env = compose.config(target)["services"]["web"]["environment"]
    # `config` prints a compose file: `$` comes out escaped as `$$`, as it must be read back
    expected = {k: v.replace("$", "$$") for k, v in values.items()}
    assert {k: env[k] for k in values} == expected
    assert env["FIRST"] == expected[sorted(values)[0]]  # ${VAR} interpolation is exact too
