"""What this host's resolver says of a name, and whether an address is this host's own: the
doctor's look at a preview domain's wildcard record (cli/doctor/previews.py).

Name resolution has no timeout of its own (a resolver that does not answer holds the caller
for as long as its configuration says), so it runs in a thread given `timeout` seconds; a
stalled one is left to finish on its own.
"""

import ipaddress
import socket
import threading

from otterstack_hooks.core.errors import OtterError


def resolve(name: str, timeout: float = 5.0) -> tuple[str, ...]:
    """The addresses `name` resolves to, sorted; OtterError when it does not resolve, or
    not within `timeout` seconds."""
    found: list[tuple[str, ...] | BaseException] = []

    def look() -> None:
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            found.append(tuple(sorted({str(info[4][0]) for info in infos})))
        except (OSError, UnicodeError) as exc:
            found.append(exc)

    worker = threading.Thread(target=look, name="otterstack-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if not found:
        raise OtterError(f"the resolver did not answer for {name} within {timeout:g} s")
    if isinstance(found[0], BaseException):
        reason = getattr(found[0], "strerror", None) or str(found[0])
        raise OtterError(f"{name} does not resolve ({reason})")
    return found[0]


def is_local(address: str) -> bool:
    """Whether `address` is one of this host's own: a socket can be bound to it only then
    (nothing is sent). A public address a NAT forwards here is not, so False only means
    "not on an interface of this host"."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if parsed.is_loopback:
        return True
    family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True
