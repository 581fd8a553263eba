"""The checked config as a file, and its paths moved to another root. Pure.

What was checked is what runs (usecases/prepare.py): the effective config the compose policy checked
is written once, and every later Compose call reads only that. Its host paths are absolute
(Compose resolves them), inside the release's checkout; the app's singletons outlive the
release, so their copy names the same files through the app's `current` link instead.
"""

import posixpath
from collections.abc import Mapping
from typing import Any

CHECKED_FILE = "compose.checked.json"  # JSON is YAML: Compose reads it as a compose file
STATE_CHECKED_FILE = "compose.state.checked.json"


def _moved(path: Any, old: str, new: str) -> Any:
    if not isinstance(path, str):
        return path
    if path == old:
        return new
    if path.startswith(old.rstrip("/") + "/"):
        return posixpath.join(new, path[len(old.rstrip("/")) + 1:])
    return path


def rebase_paths(config: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    """`config` with every host path under `old` moved under `new`: bind mount sources,
    build contexts and additional contexts, secret and config files, local volumes' bind
    devices. Nothing else is a host path in an effective config."""
    out = dict(config)
    services = {}
    for name, svc in (config.get("services") or {}).items():
        svc = dict(svc)
        if isinstance(svc.get("build"), Mapping):
            build = dict(svc["build"])
            build["context"] = _moved(build.get("context"), old, new)
            if isinstance(build.get("additional_contexts"), Mapping):
                build["additional_contexts"] = {k: _moved(v, old, new) for k, v in
                                                build["additional_contexts"].items()}
            svc["build"] = build
        if isinstance(svc.get("volumes"), list):
            svc["volumes"] = [
                {**m, "source": _moved(m.get("source"), old, new)}
                if isinstance(m, Mapping) and m.get("type") == "bind" else m
                for m in svc["volumes"]]
        services[name] = svc
    out["services"] = services
    for kind in ("secrets", "configs"):
        if isinstance(config.get(kind), Mapping):
            out[kind] = {k: {**v, "file": _moved(v.get("file"), old, new)}
                         if isinstance(v, Mapping) and "file" in v else v
                         for k, v in config[kind].items()}
    if isinstance(config.get("volumes"), Mapping):
        out["volumes"] = {}
        for key, spec in config["volumes"].items():
            opts = (spec or {}).get("driver_opts") if isinstance(spec, Mapping) else None
            if isinstance(opts, Mapping) and "device" in opts:
                spec = {**spec, "driver_opts": {**opts,
                                                "device": _moved(opts["device"], old, new)}}
            out["volumes"][key] = spec
    return out
