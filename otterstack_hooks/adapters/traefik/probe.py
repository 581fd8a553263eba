"""Proving requests: one real request through Traefik's entrypoint on this host, plain or
TLS with the router's host as SNI, to see which release answers."""

import http.client
import socket
import ssl


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to a loopback port with the router's host as SNI: the way a browser reaches a
    TLS router. Certificates are not verified: the probe tests routing, not trust."""

    def __init__(self, port: int, server_name: str, timeout: float) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__("127.0.0.1", port, timeout=timeout, context=context)
        self._server_name, self._tls = server_name, context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)


def probe(port: int, host: str, path: str, header: str, timeout: float = 5,
          tls: bool = False) -> tuple[int, str | None]:
    """One real request through Traefik's entrypoint: (status, value of the release header)."""
    conn: http.client.HTTPConnection = (
        _SNIConnection(port, host, timeout) if tls
        else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    try:
        conn.request("GET", path or "/", headers={"Host": host, "User-Agent": "otterstack-probe"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader(header)
    finally:
        conn.close()
