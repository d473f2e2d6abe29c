"""Which `Host` headers the page answers (DNS rebinding).

A web site can re-point its own name to 127.0.0.1; the visitor's browser then
sends the site's requests to the page, with `Host: <the site's name>`. The page
answers only the names it is served on: the loopback names (127.0.0.1,
localhost, [::1]) and the `--host` given. `--host 0.0.0.0` (or `::`), every
address of the machine, adds the machine's own name(s) and the addresses they
resolve to; a client reaching it by another name (say a DNS alias) is refused:
serve on that name instead (`--host pc.lan`).

Starlette's `TrustedHostMiddleware` does the refusing (400), on every route:
the page, its API, its files and its event stream.
"""

from __future__ import annotations

import ipaddress
import socket

from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")


def host_name(host: str) -> str:
    """`host` as it appears in a Host header: lower case, an IPv6 address in brackets."""
    host = host.strip().lower().strip("[]")
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def _own_names() -> set[str]:
    """This machine's name(s) and the addresses they resolve to (for a wildcard bind)."""
    names = {socket.gethostname(), socket.getfqdn()}
    found = set(names)
    for name in names:
        try:
            found |= {info[4][0] for info in socket.getaddrinfo(name, None)}
        except OSError:  # a name that does not resolve adds only itself
            pass
    return {n for n in found if n}


def allowed_hosts(host: str) -> list[str]:
    """The Host header values (without port) that a page served on `host` answers."""
    names = set(LOOPBACK)
    if host.strip().strip("[]") in WILDCARD:
        names |= _own_names()
    else:
        names.add(host)
    return sorted({host_name(n) for n in names if n.strip().strip("[]") not in WILDCARD})


def host_check(host: str) -> Middleware:
    """The middleware that refuses (400) a request whose Host header is none of `allowed_hosts(host)`."""
    return Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host), www_redirect=False)
