"""The committed compose files, checked before Compose reads them: what Compose would read from
outside the checkout or fetch from elsewhere is refused with the file, service, key and token;
env files that set names Compose, Docker or git read themselves are refused; what stays inside
the checkout passes. The files are a dict; links are the `resolve` callable."""

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.access import Access
from otterstack_hooks.rules.compose.raw import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_FILES,
    MAX_NODES,
    RESERVED,
    Findings,
    load,
    reserved_variables,
    scan,
)

CHECKOUT = "/data/apps/a/releases/r3"
VICTIM = "/data/apps/shop/env"


def run(files: dict[str, str], resolve=lambda p: p, env_files: tuple[str, ...] = (),
        main: str = "compose.yaml") -> Findings:
    """scan() of `files` (paths relative to the checkout) with `main` as the compose file."""
    contents = {f"{CHECKOUT}/{path}": text.encode() for path, text in files.items()}
    project = posixpath.dirname(f"{CHECKOUT}/{main}")
    return scan([f"{CHECKOUT}/{main}"], project, CHECKOUT, contents.get, resolve, env_files)


def found(findings: Findings) -> list[tuple[str, str, Access]]:
    return [(r.service, r.key, r.access) for r in findings.refusals]


WEB = "services:\n  web:\n    image: busybox\n"


# what passes


@pytest.mark.parametrize("files", [
    {"compose.yaml": "include:\n  - other.yaml\n" + WEB, "other.yaml": WEB.replace("web", "db")},
    {"compose.yaml": "include:\n  - path: sub/other.yaml\n    env_file: sub/vars.env\n",
     "sub/other.yaml": WEB, "sub/vars.env": "TAG=1\n"},
    {"compose.yaml": "include:\n  - path: [a.yaml, b.yaml]\n    project_directory: sub\n",
     "a.yaml": WEB, "b.yaml": "services:\n  web:\n    env_file: ../x.env\n"},
    {"compose.yaml": "services:\n  web:\n    extends: {file: base/common.yaml, service: b}\n",
     "base/common.yaml": "services:\n  b:\n    env_file: [vars.env, ../top.env]\n"},
    {"compose.yaml": "services:\n  web:\n    extends: web-base\n  web-base:\n    image: x\n"},
    {"compose.yaml": "services:\n  web:\n    env_file:\n      - a.env\n      - path: ./b.env\n"
                     "        required: false\n    label_file: [labels, ./more/labels]\n"},
    {"compose.yaml": "x-base: &base\n  env_file: a.env\nservices:\n  web:\n    <<: *base\n"},
    {"compose.yaml": "services:\n  web:\n    image: x\n    environment:\n      - A=$HOME\n"},
    {"compose.yaml": ""},
    {"compose.yaml": "- a list\n"},
    {"compose.yaml": "include:\n  - missing.yaml\n"},  # Compose says it is missing
    {"compose.yaml": "services:\n  web:\n    volumes: !reset []\n    x: =\n"},
])
def test_what_stays_in_the_checkout_passes(files):
    assert run(files) == Findings()


def test_a_compose_file_in_a_subdirectory_reads_from_there():
    files = {"deploy/compose.yaml": "include:\n  - path: ../shared/base.yaml\n"
                                    "services:\n  web:\n    env_file: ../vars.env\n",
             "shared/base.yaml": WEB}
    assert run(files, main="deploy/compose.yaml") == Findings()


# what is refused: outside the checkout


HOST = Access.HOST_FILES
REMOTE = Access.REMOTE_INCLUDES


@pytest.mark.parametrize("compose, expected", [
    (f"include:\n  - path: x.yaml\n    env_file: {VICTIM}\n", ("", "include.env_file", HOST)),
    ("include:\n  - path: x.yaml\n    env_file: [ok.env, ../../../shop/env]\n",
     ("", "include.env_file", HOST)),
    ("include:\n  - path: x.yaml\n    env_file: ${SECRETS}\n", ("", "include.env_file", HOST)),
    ("include:\n  - path: x.yaml\n    env_file: [{path: /etc/shadow}]\n",
     ("", "include.env_file", HOST)),
    ("include:\n  - /etc/compose.yaml\n", ("", "include", HOST)),
    ("include:\n  - ../../../shop/compose.yaml\n", ("", "include", HOST)),
    ("include:\n  - path: $X/compose.yaml\n", ("", "include", HOST)),
    ("include:\n  - path: x.yaml\n    project_directory: /srv\n",
     ("", "include.project_directory", HOST)),
    ("include:\n  - path: x.yaml\n    project_directory: ../..\n",
     ("", "include.project_directory", HOST)),
    ("services:\n  web:\n    extends: {file: /srv/x.yaml, service: a}\n",
     ("web", "extends.file", HOST)),
    ("services:\n  web:\n    extends:\n      file: ../../../b/compose.yaml\n      service: a\n",
     ("web", "extends.file", HOST)),
    (f"services:\n  web:\n    env_file: {VICTIM}\n", ("web", "env_file", HOST)),
    ("services:\n  web:\n    env_file: [{path: ~/.ssh/id_rsa}]\n", ("web", "env_file", HOST)),
    ("services:\n  web:\n    env_file: ${HOME}/x\n", ("web", "env_file", HOST)),
    ("services:\n  web:\n    label_file: ../../../../../etc/shadow\n",
     ("web", "label_file", HOST)),
    ("services:\n  web:\n    env_file: !!binary L2V0Yy9zaGFkb3c=\n", ("web", "env_file", HOST)),
    ("include:\n  - git@github.com:evil/compose.git\n", ("", "include", REMOTE)),
    ("include:\n  - https://github.com/evil/compose.git#main:compose.yaml\n",
     ("", "include", REMOTE)),
    ("include:\n  - path: oci://registry.example/evil:1\n", ("", "include", REMOTE)),
    ("include:\n  - github.com/evil/compose\n", ("", "include", REMOTE)),
    ("include:\n  - ssh://git@host/evil.git\n", ("", "include", REMOTE)),
    ("services:\n  web:\n    extends: {file: 'https://host/x.git', service: a}\n",
     ("web", "extends.file", REMOTE)),
])
def test_each_way_out_of_the_checkout_is_refused_and_named(compose, expected):
    findings = run({"compose.yaml": compose, "x.yaml": WEB, "ok.env": ""})
    assert found(findings) == [expected]
    refusal = findings.refusals[0]
    message = refusal.message("a")
    assert "(in compose.yaml)" in message
    assert f"`otterstack config a allow {refusal.access.value}`" in message
    assert "refused by the compose policy" in message


def test_a_refusal_in_an_included_or_extended_file_names_that_file():
    files = {"compose.yaml": "include:\n  - sub/inc.yaml\nservices:\n  web:\n"
                            "    extends: {file: base.yaml, service: b}\n",
             "sub/inc.yaml": "services:\n  api:\n    env_file: ../../../../shop/env\n",
             "base.yaml": f"services:\n  b:\n    label_file: {VICTIM}\n"}
    messages = [r.message("a") for r in run(files).refusals]
    assert messages[0].startswith("service 'api': env_file ../../../../shop/env "
                                  "(in sub/inc.yaml) gives the container host files")
    assert messages[1].startswith(f"service 'b': label_file {VICTIM} (in base.yaml)")


def test_links_out_of_the_checkout_are_followed():
    """A committed link (`hostenv -> /data/apps/shop/env`) is inside as written: what
    `resolve` says decides, for env files, includes, extends and the `.env` files."""
    links = {f"{CHECKOUT}/hostenv": VICTIM, f"{CHECKOUT}/.env": VICTIM,
             f"{CHECKOUT}/inc.yaml": "/srv/other/compose.yaml",
             f"{CHECKOUT}/sub/.env": "/etc/environment"}
    files = {"compose.yaml": "include:\n  - inc.yaml\n  - sub/x.yaml\nservices:\n  web:\n"
                             "    env_file: hostenv\n", "sub/x.yaml": WEB}
    findings = run(files, lambda p: links.get(p, p))
    assert found(findings) == [("", ".env", HOST), ("", "include", HOST),
                               ("", "include .env", HOST), ("web", "env_file", HOST)]
    assert findings.refusals[0].detail == ".env (a link out of the checkout)"


def test_a_compose_file_that_is_a_link_out_of_the_checkout_is_refused_unread():
    links = {f"{CHECKOUT}/compose.yaml": "/data/apps/shop/releases/r1/compose.yaml",
             f"{CHECKOUT}/deploy": "/data/apps/shop/releases/r1"}
    for main in ("compose.yaml", "deploy/compose.yaml"):
        findings = run({main: f"services:\n  web:\n    env_file: {VICTIM}\n"},
                       lambda p: next((t + p[len(k):] for k, t in links.items()
                                       if p == k or p.startswith(k + "/")), p), main=main)
        assert [r.message("a").split(" gives")[0] for r in findings.refusals
                if r.key == "compose file"] == [
            f"the compose file: compose file {main} (a link out of the checkout)"]
        assert "env_file" not in {r.key for r in findings.refusals}


def test_a_refused_include_is_not_read():
    files = {"compose.yaml": "include:\n  - path: x.yaml\n    project_directory: /srv\n",
             "x.yaml": "services:\n  web:\n    env_file: /etc/shadow\n"}
    assert found(run(files)) == [("", "include.project_directory", HOST)]


# env files: names Compose, Docker, the builder, git and the loader read themselves


@pytest.mark.parametrize("name", ["COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME",
                                  "COMPOSE_EXPERIMENTAL_GIT_REMOTE", "DOCKER_HOST",
                                  "DOCKER_CONFIG", "BUILDKIT_PROGRESS", "BUILDX_BUILDER",
                                  "GIT_SSH_COMMAND", "GIT_CONFIG_GLOBAL", "LD_PRELOAD"])
def test_a_reserved_name_in_the_env_file_is_refused(name):
    findings = run({"compose.yaml": WEB, ".env": f"TAG=1\n{name}=x\n"})
    assert findings.refusals == ()
    assert [(r.file, r.line, r.name) for r in findings.reserved] == [(".env", 2, name)]
    message = findings.explain("a", frozenset(Access))
    assert message is not None and message.startswith(f".env sets {name} (line 2), but ")
    assert f"rename it (e.g. APP_{name})" in message and "no `allow` token" in message


@pytest.mark.parametrize("text", [
    "export GIT_SSH_COMMAND='touch /tmp/x'\n", "exportGIT_SSH_COMMAND=x\n",
    "  COMPOSE_FILE = a.yaml\n", "COMPOSE_FILE: a.yaml\n", "\tDOCKER_HOST=tcp://x\n",
    'A="quoted" COMPOSE_FILE=a.yaml\n', "A='q'GIT_SSH_COMMAND=x\n", "GIT_SSH_COMMAND\n",
    "A=1\r\nDOCKER_HOST=x\r\n",
])
def test_every_form_of_the_dotenv_parser_is_seen(text):
    assert [r.name for r in reserved_variables(text, ".env")] != []


@pytest.mark.parametrize("text", [
    "# COMPOSE_FILE=a.yaml\n", "MY_COMPOSE_FILE=a\n", "DOCKERFILE=Dockerfile\n",
    "APP_GIT_SSH_COMMAND=x\n", "TAG=COMPOSE_FILE=x\n", "compose_file=a\n", "GITHUB_TOKEN=x\n",
])
def test_ordinary_names_pass(text):
    assert reserved_variables(text, ".env") == []


def test_a_multi_line_quoted_value_can_be_a_false_positive():
    """Documented: a line inside a quoted value that looks like `NAME=` is reported."""
    text = 'CERT="-----BEGIN-----\nGIT_DIR=x\n-----END-----"\n'
    assert [(r.line, r.name) for r in reserved_variables(text, ".env")] == [(2, "GIT_DIR")]


def test_every_env_file_compose_reads_for_interpolation_is_scanned():
    files = {"compose.yaml": "include:\n  - sub/a.yaml\n  - path: b/b.yaml\n"
                             "    env_file: b/vars.env\n  - c/c.yaml\n",
             "sub/a.yaml": WEB, "sub/.env": "COMPOSE_PROFILES=x\n",
             "b/b.yaml": WEB, "b/vars.env": "DOCKER_HOST=x\n", "b/.env": "GIT_DIR=unread\n",
             "c/c.yaml": "include:\n  - d/d.yaml\n", "c/d/d.yaml": WEB,
             "c/d/.env": "BUILDX_BUILDER=x\n", ".env": "GIT_SSH_COMMAND=x\n"}
    findings = run(files)
    assert [(r.file, r.name) for r in findings.reserved] == [
        (".env", "GIT_SSH_COMMAND"), ("sub/.env", "COMPOSE_PROFILES"),
        ("b/vars.env", "DOCKER_HOST"), ("c/d/.env", "BUILDX_BUILDER")]


def test_given_env_files_replace_the_project_env():
    files = {"compose.yaml": WEB, ".env": "COMPOSE_FILE=x\n", "prod.env": "DOCKER_HOST=x\n"}
    findings = run(files, env_files=(f"{CHECKOUT}/prod.env",))
    assert [r.name for r in findings.reserved] == ["DOCKER_HOST"]


def test_allowing_leaves_the_reserved_names_and_the_rest():
    files = {"compose.yaml": f"include:\n  - git@h:x.git\nservices:\n  web:\n"
                             f"    env_file: {VICTIM}\n", ".env": "COMPOSE_FILE=x\n"}
    findings = run(files)
    assert findings.explain("a", frozenset({HOST, REMOTE})) == findings.reserved[0].message()
    without = Findings(findings.refusals)
    assert without.explain("a", frozenset({HOST, REMOTE})) is None
    message = without.explain("a", frozenset({HOST}))
    assert message is not None and "allow host-files,remote-includes" in message
    assert "env_file" not in message


# bounds


def test_a_file_too_large_is_refused():
    with pytest.raises(OtterError, match="larger than 1024 KiB"):
        load(b"#" * (MAX_BYTES + 1), "compose.yaml")
    with pytest.raises(OtterError, match="env file .env is larger"):
        run({"compose.yaml": WEB, ".env": "#" * (MAX_BYTES + 1)})


def test_an_alias_bomb_is_refused_before_it_expands():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(OtterError, match=f"more than {MAX_NODES:,} YAML nodes"):
        load("\n".join(lines).encode(), "compose.yaml")
    assert load(b"x: &x [1, 2]\ny: *x\nz: *x\n", "c") == [{"x": [1, 2], "y": [1, 2],
                                                         "z": [1, 2]}]


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(OtterError, match="compose.yaml: an alias refers to its own anchor"):
        load(b"a: &a [1, *a]\n", "compose.yaml")


def test_yaml_it_cannot_read_is_refused_not_skipped():
    with pytest.raises(OtterError, match=r"compose file is invalid: compose.yaml: .*line 2"):
        run({"compose.yaml": "services: [unclosed\n  - {\n"})
    with pytest.raises(OtterError, match="nested too deeply"):
        load(b"[" * 5000, "compose.yaml")


def test_a_utf16_compose_file_is_read_as_compose_reads_it():
    text = "include:\n  - path: x.yaml\n    env_file: /etc/shadow\n"
    assert len(load(text.encode("utf-16"), "c")) == 1
    files = {f"{CHECKOUT}/compose.yaml": text.encode("utf-16")}
    findings = scan([f"{CHECKOUT}/compose.yaml"], CHECKOUT, CHECKOUT, files.get)
    assert found(findings) == [("", "include.env_file", HOST)]
    with pytest.raises(OtterError, match="compose file is invalid: c: "):
        load(b"services: {web: \xff}\n", "c")


def test_every_document_is_checked():
    files = {"compose.yaml": WEB + "---\nservices:\n  b:\n    env_file: /etc/shadow\n"}
    assert found(run(files)) == [("b", "env_file", HOST)]


def test_includes_are_followed_only_so_deep_and_so_many():
    deep = {f"f{i}.yaml": f"include:\n  - f{i + 1}.yaml\n" for i in range(MAX_DEPTH + 2)}
    with pytest.raises(OtterError, match=f"more than {MAX_DEPTH} deep"):
        run({**deep, "compose.yaml": "include:\n  - f0.yaml\n"})
    wide = {"compose.yaml": "include:\n" + "".join(f"  - w{i}.yaml\n"
                                                   for i in range(MAX_FILES + 1))}
    wide.update({f"w{i}.yaml": WEB for i in range(MAX_FILES + 1)})
    with pytest.raises(OtterError, match=f"{MAX_FILES} files in all"):
        run(wide)
    cycle = {"compose.yaml": "include:\n  - a.yaml\n", "a.yaml": "include:\n  - compose.yaml\n"}
    assert run(cycle) == Findings()


# properties

SEGMENT = st.text(st.sampled_from("abxyz.-_"), min_size=1, max_size=5).filter(
    lambda s: s not in (".", ".."))
RELATIVE = st.lists(st.one_of(SEGMENT, st.just("..")), min_size=1, max_size=8).map("/".join)


@given(RELATIVE, st.sampled_from(["env_file", "label_file", "extends", "include",
                                  "include.env_file"]))
def test_a_path_is_refused_exactly_when_it_leaves_the_checkout(path, key):
    compose = {
        "env_file": f"services:\n  web:\n    env_file: '{path}'\n",
        "label_file": f"services:\n  web:\n    label_file: '{path}'\n",
        "extends": f"services:\n  web:\n    extends: {{file: '{path}', service: a}}\n",
        "include": f"include:\n  - '{path}'\n",
        "include.env_file": f"include:\n  - path: x.yaml\n    env_file: '{path}'\n",
    }[key]
    normal = posixpath.normpath(posixpath.join(CHECKOUT, path))
    inside = normal == CHECKOUT or normal.startswith(CHECKOUT + "/")
    assert (run({"compose.yaml": compose, "x.yaml": WEB}).refusals == ()) == inside


@given(st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True), st.sampled_from(
    ["{n}=v", "export {n}=v", " {n} = v", "{n}: v", 'A="x" {n}=v']))
def test_a_name_is_reported_exactly_when_it_is_reserved(name, form):
    reported = [r.name for r in reserved_variables(form.format(n=name) + "\n", ".env")]
    assert (name in reported) == name.startswith(tuple(RESERVED))
