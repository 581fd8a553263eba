"""The environment a deploy runs with: the same small, explicit one from the git hook and
from a shell."""

import os

from otterstack_hooks.adapters.local.paths import data_paths

# exactly what the hook passes (hooks/post-receive), so push and redeploy see the same
ENV_KEPT = ("PATH", "HOME", "NO_COLOR", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
            "OTTERSTACK_DATA_DIR", "OTTERSTACK_DEBUG")


GIT_QUARANTINE = ("GIT_DIR", "GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY",
                  "GIT_ALTERNATE_OBJECT_DIRECTORIES")


def minimal_environment(keep: tuple[str, ...] = ()) -> None:
    """Deploy with the same small, explicit environment from the hook and from a shell, so
    `${VAR}` in a compose file cannot mean one thing on push and another on redeploy."""
    data_dir = str(data_paths().root)  # resolved first: it may come from XDG_DATA_HOME
    for key in [k for k in os.environ if k not in ENV_KEPT and k not in keep]:
        del os.environ[key]
    os.environ.update(LANG="C.UTF-8", OTTERSTACK_DATA_DIR=data_dir)
