"""The settings schema is the one source: the database, App, `config` and the docs follow it."""

import dataclasses
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from otterstack_hooks.adapters.local.migrations import MIGRATIONS
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli import main as cli
from otterstack_hooks.core import settings
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.records import ALLOW_NOT_RECORDED, App
from otterstack_hooks.core.settings import (
    APP_SETTINGS,
    GLOBAL_SETTINGS,
    app_setting,
    global_setting,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOT_SETTINGS = {"name", "repo", "created_at", "pinned"}  # App columns that `config` does not set


def test_every_setting_is_a_column_of_apps_and_an_attribute_of_app(tmp_path):
    state = State(tmp_path / "state.db")
    columns = {row["name"]: row["type"] for row in state.db.execute("PRAGMA table_info(apps)")}
    attributes = {f.name: f.type for f in dataclasses.fields(App)}
    assert set(columns) == set(attributes) == set(APP_SETTINGS) | NOT_SETTINGS
    for name, setting in APP_SETTINGS.items():
        assert attributes[name] is setting.kind, name
        assert columns[name] == ("TEXT" if setting.kind is str else "INTEGER"), name


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
def test_an_app_from_an_older_data_dir_reads_every_setting(tmp_path, version):
    """The DEFAULT clauses of old migrations filled the rows that existed then: what they
    filled in must be what the schema calls the default."""
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.executescript(";".join(MIGRATIONS[:version]) + f"; PRAGMA user_version = {version};")
    conn.execute("INSERT INTO apps (name, repo, created_at) VALUES ('old', '/r', 0)")
    conn.commit()
    conn.close()
    app = State(db).require_app("old")
    for name, setting in APP_SETTINGS.items():
        expected = ALLOW_NOT_RECORDED if name == "allow" and version < 8 else setting.default
        assert getattr(app, name) == expected, name


def test_a_new_app_gets_every_default(tmp_path):
    app = State(tmp_path / "state.db").upsert_app("a", "/r")
    assert {name: getattr(app, name) for name in APP_SETTINGS} == settings.app_defaults()
    assert app.pinned == ""


OTHER_DEFAULTS = {"branch": "trunk", "compose_file": "deploy/compose.yml",
                  "release_command": "web ./migrate", "notify": "https://hooks.example/x",
                  "allow": "privileged", "runtime": "swarm", "registry": "reg.lan:5000",
                  "hosts": "shop.example.com", "preview_domain": "preview.example.com"}


def test_the_schema_not_the_sql_decides_a_new_apps_defaults(tmp_path, monkeypatch):
    """Change every default in the schema only: a new app must get the changed ones."""
    changed = {}
    for name, setting in APP_SETTINGS.items():
        other = (not setting.default if setting.kind is bool else setting.default + 1
                 if setting.kind is int else OTHER_DEFAULTS[name])
        changed[name] = dataclasses.replace(setting, default=other)
    monkeypatch.setattr(settings, "APP_SETTINGS", changed)
    app = State(tmp_path / "state.db").upsert_app("a", "/r")
    assert {name: getattr(app, name) for name in changed} == {
        name: setting.default for name, setting in changed.items()}


def test_a_global_setting_reads_its_default_from_the_schema(tmp_path, monkeypatch):
    state = State(tmp_path / "state.db")
    assert [state.setting(name) for name in GLOBAL_SETTINGS] == ["", "", ""]
    monkeypatch.setitem(settings.GLOBAL_SETTINGS, "traefik_network", dataclasses.replace(
        GLOBAL_SETTINGS["traefik_network"], default="edge"))
    assert state.setting("traefik_network") == "edge"
    state.set_setting("traefik_network", "web")
    assert state.setting("traefik_network") == "web"


@pytest.mark.parametrize("setting", [*APP_SETTINGS.values(), *GLOBAL_SETTINGS.values()],
                         ids=lambda s: s.name)
def test_every_default_is_a_value_its_parser_keeps(setting):
    assert setting.parse(setting.show(setting.default)) == setting.default


@pytest.mark.parametrize(("name", "text", "value"), [
    ("traefik_routing", "YES", True), ("require_healthcheck", "0", False),
    ("settle_seconds", "0", 0), ("drain_timeout", "600", 600), ("health_timeout", "7", 7),
    ("compose_file", "", ""), ("compose_file", "deploy/c.yml", "deploy/c.yml"),
    ("release_command", "web sh -c 'a; b'", "web sh -c 'a; b'"),
    ("allow", "privileged, docker-socket", "docker-socket,privileged"),
    ("hosts", "Shop.Example.com., *.shop.example.com ,shop.example.com",
     "shop.example.com,*.shop.example.com"),
    ("hosts", " , ", ""),
    ("preview_domain", " Preview.Example.com. ", "preview.example.com"), ("previews", "on", True),
    ("preview_domain", "", ""), ("preview_ttl", "30", 30),
    ("notify", "cmd:/usr/local/bin/tell --ops", "cmd:/usr/local/bin/tell --ops"),
])
def test_values_parse(name, text, value):
    assert APP_SETTINGS[name].parse(text) == value


# the words naming the setting in its error: the name, or what the setting holds (these
# messages predate the schema and are documented in docs/troubleshooting.md as they are)
BAD_VALUES = [
    ("branch", "a..b", "invalid branch name 'a..b'"),
    ("branch", "", "invalid branch name ''"),
    ("compose_file", "/etc/passwd", "invalid compose file '/etc/passwd'"),
    ("health_timeout", "soon", "health_timeout takes a whole number of at least 1, not 'soon'"),
    ("health_timeout", "0", "health_timeout takes a whole number of at least 1"),
    ("settle_seconds", "-1", "settle_seconds takes a whole number of at least 0"),
    ("keep_releases", "0", "keep_releases takes a whole number of at least 1"),
    ("traefik_routing", "maybe", "traefik_routing takes on or off, not 'maybe'"),
    ("require_healthcheck", "2", "require_healthcheck takes on or off"),
    ("release_command", "web", "release_command is `SERVICE COMMAND [ARGS...]`"),
    ("release_command", "web 'x", "cannot read the command"),
    ("notify", "ftp://host/x", "notification target has 'ftp'"),
    ("use_deploy_labels", "sure", "use_deploy_labels takes on or off"),
    ("drain_timeout", "601", "drain_timeout is at most 600 s (the deploy lock is held while "
                             "draining), not 601"),
    ("allow", "root", "unknown compose policy token 'root'"),
    ("hosts", "*", "hosts takes DNS names, each may start with `*.`"),
    ("hosts", "shop.example.com,*.*.example.com", "hosts takes DNS names"),
    ("hosts", "shop_1.example.com", "hosts takes DNS names"),
    ("hosts", "-shop.example.com", "hosts takes DNS names"),
    ("hosts", "shop.example.com:8000", "hosts takes DNS names"),
    ("hosts", "a" * 64 + ".example.com", "hosts takes DNS names"),
    ("hosts", "bücher.example", "hosts takes DNS names"),
    ("build_timeout", "1.5", "build_timeout takes a whole number of at least 1"),
    ("start_timeout", "", "start_timeout takes a whole number of at least 1"),
    ("release_command_timeout", "x", "release_command_timeout takes a whole number"),
    ("retire_after", "86401", "retire_after is at most 86400 s (a day;"),
    ("runtime", "kubernetes", "runtime takes compose or swarm, not 'kubernetes'"),
    ("registry", "https://reg:5000", "registry takes HOST[:PORT][/PATH]"),
    ("registry", "-reg", "registry takes HOST[:PORT][/PATH]"),
    ("max_push_files", "0", "max_push_files takes a whole number of at least 1"),
    ("max_push_mib", "1G", "max_push_mib takes a whole number of at least 1, not '1G'"),
    ("watch_seconds", "86401", "watch_seconds is at most 86400 s (a day;"),
    ("watch_seconds", "1m", "watch_seconds takes a whole number of at least 0, not '1m'"),
    ("watch_min_requests", "0", "watch_min_requests takes a whole number of at least 1"),
    ("watch_max_error_ratio", "0", "watch_max_error_ratio takes a whole percentage from 1 to "
                                   "100 (`5` or `5%`), not '0'"),
    ("watch_max_error_ratio", "101%", "watch_max_error_ratio takes a whole percentage"),
    ("watch_max_error_ratio", "0.5", "watch_max_error_ratio takes a whole percentage"),
    ("previews", "auto", "previews takes on or off, not 'auto'"),
    ("preview_domain", "*.preview.example.com", "preview_domain takes a DNS name"),
    ("preview_domain", "localhost", "preview_domain takes a DNS name with at least two"),
    ("preview_domain", "a_b.example.com", "preview_domain takes a DNS name"),
    ("preview_domain", "x." * 95 + "com", "preview_domain takes a DNS name"),
    ("preview_limit", "0", "preview_limit takes a whole number of at least 1, not '0'"),
    ("preview_ttl", "7d", "preview_ttl takes a whole number of at least 1, not '7d'"),
]


@pytest.mark.parametrize(("text", "value"), [("5", 5), ("5%", 5), (" 12 % ", 12), ("100", 100),
                                             ("1", 1)])
def test_an_error_ratio_is_a_whole_percentage(text, value):
    assert APP_SETTINGS["watch_max_error_ratio"].parse(text) == value


@pytest.mark.parametrize(("name", "text", "named"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_the_setting(name, text, named):
    with pytest.raises(OtterError) as caught:
        APP_SETTINGS[name].parse(text)
    assert str(caught.value).startswith(named)


def test_every_setting_has_a_bad_value_above():
    assert {name for name, _, _ in BAD_VALUES} == set(APP_SETTINGS)


def test_unknown_names_are_errors_listing_the_known():
    with pytest.raises(OtterError, match=r"unknown setting 'rm -rf'; known: branch, "
                                         r"compose_file, health_timeout, "):
        app_setting("rm -rf")
    with pytest.raises(OtterError, match="unknown global setting 'nope'; known: "
                                         "traefik_container, traefik_api_url, traefik_network"):
        global_setting("nope")


def test_config_help_lists_every_setting_with_its_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["config", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for setting in [*APP_SETTINGS.values(), *GLOBAL_SETTINGS.values()]:
        shown = setting.show(setting.default) or "empty"
        assert f"{setting.name} [{shown}] {setting.doc}" in text


def _tables(section: str) -> list[list[list[str]]]:
    """The markdown tables in a section: each a list of rows, each a list of cells."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in section.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|(\s*-+\s*\|)+", line):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append([cell.strip() for cell in line.strip("|").split(" | ")])
        previous = line
    return tables


def test_the_docs_table_lists_exactly_the_schemas_settings_and_defaults():
    text = (DOCS / "how-it-works.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    app_table, global_table = _tables(section)
    for table, schema in ((app_table, APP_SETTINGS), (global_table, GLOBAL_SETTINGS)):
        assert table[0] == ["key", "default", "meaning"]
        rows = table[1:]
        assert [row[0] for row in rows] == [f"`{name}`" for name in schema]
        for row, setting in zip(rows, schema.values(), strict=True):
            assert row[1].startswith(setting.shown_default), (setting.name, row[1])


def test_the_schema_imports_no_io():
    """core/settings.py and core/vocabulary.py stay importable (and testable) without Docker, git,
    the database or process handling."""
    code = ("import sys, otterstack_hooks.core.settings, otterstack_hooks.core.vocabulary; "
            "print(sorted({'docker', 'git', 'sqlite3', 'subprocess'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_config_refuses_a_preview_domain_another_app_has(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OTTERSTACK_DATA_DIR", str(tmp_path))
    state = State(tmp_path / "state.db")
    state.upsert_app("shop", "/r/shop")
    state.upsert_app("blog", "/r/blog")
    assert cli.main(["config", "blog", "preview_domain", "preview.example.com"]) == 0
    assert cli.main(["config", "blog", "preview_domain", "preview.example.com"]) == 0  # again
    assert cli.main(["config", "shop", "preview_domain", "Preview.Example.com"]) == 2
    assert "preview_domain preview.example.com is already app blog's" in capsys.readouterr().err
    assert State(tmp_path / "state.db").require_app("shop").preview_domain == ""
    assert cli.main(["config", "shop", "preview_domain", "shop.preview.example.com"]) == 0
