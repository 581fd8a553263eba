"""Names that become paths, compose projects and labels are validated first."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import (
    APP_NAME_RE,
    validate_app_name,
    validate_branch_name,
    validate_compose_file,
    validate_new_app_name,
)


@pytest.mark.parametrize("name", ["a", "myapp", "my-app-2", "x" * 40])
def test_good_app_names(name):
    assert validate_app_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "my_app", "-x", "x-", "../x", "a/b", "a b", "x" * 41,
                                  "é", "a\n", "a.b"])
def test_bad_app_names(name):
    with pytest.raises(OtterError, match="invalid app name"):
        validate_app_name(name)


@given(st.text(max_size=50))
def test_valid_app_names_are_safe_as_path_project_and_label(name):
    try:
        validate_app_name(name)
    except OtterError:
        return
    assert "/" not in name and ".." not in name and not name.startswith("-")
    assert APP_NAME_RE.fullmatch(name) and name == name.lower() and name.isascii()


@pytest.mark.parametrize("name", ["-f", "a..b", "a b", "a~1", "x.lock", "/x", "a:b", ""])
def test_bad_branch_names(name):
    with pytest.raises(OtterError):
        validate_branch_name(name)


@pytest.mark.parametrize("path", ["../x.yml", "/etc/passwd", "a/../b.yml", "-f.yml", ""])
def test_bad_compose_paths(path):
    with pytest.raises(OtterError):
        validate_compose_file(path)


def test_good_compose_path():
    assert validate_compose_file("deploy/compose.yml") == "deploy/compose.yml"


@pytest.mark.parametrize("name", ["shop-r7", "r1", "a-r12-b", "x-state", "state", "a-state-b"])
def test_a_new_app_may_not_take_a_name_that_reads_as_a_release(name):
    with pytest.raises(OtterError, match="reads as a release"):
        validate_new_app_name(name)


@pytest.mark.parametrize("name", ["shop", "shop-v7", "r", "rx-1", "shop-r", "stated", "t4b84-1"])
def test_other_new_app_names_pass(name):
    assert validate_new_app_name(name) == name
