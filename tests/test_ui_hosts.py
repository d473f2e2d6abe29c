"""The page answers only the host names it is served on (DNS rebinding, issue 16 §3).

A web site whose name the attacker re-points to 127.0.0.1 makes the victim's browser
send requests to the page with `Host: attacker.example`; the page refuses those (400).
Real HTTP requests over the loopback to a launched page.
"""

from __future__ import annotations

import http.client
import socket

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, host_header: str, path: str = "/") -> int:
    """The status of GET `path` on 127.0.0.1:`port` sent with the given Host header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host_header)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def served():
    from iva0.ui import UiConfig, launch

    config = UiConfig(port=free_port())
    demo = launch(config, block=False, quiet=True)
    try:
        yield config
    finally:
        demo.close()


def test_the_page_answers_its_own_host_names(served):
    port = served.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", "LOCALHOST", f"[::1]:{port}"):
        assert get(port, host) == 200, host
    assert get(port, f"127.0.0.1:{port}", "/gradio_api/info") == 200


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:7860", "127.0.0.1.attacker.example", "localhost.", "[::2]", "10.0.0.1"]
)
def test_another_host_header_is_refused(served, host):
    """The page, its API and its files all refuse a foreign Host."""
    for path in ("/", "/gradio_api/info", "/config"):
        status = get(served.port, host, path)
        assert 400 <= status < 500, (host, path, status)


def test_allowed_hosts_are_the_loopback_names_and_the_host_given():
    from iva0.ui.hosts import allowed_hosts

    assert set(allowed_hosts("127.0.0.1")) == {"127.0.0.1", "localhost", "[::1]"}
    assert "192.168.1.20" in allowed_hosts("192.168.1.20")
    assert "[fe80::1]" in allowed_hosts("fe80::1")
    assert "pc.lan" in allowed_hosts("pc.lan")
    wildcard = allowed_hosts("0.0.0.0")  # every address of this machine: its own name(s) too
    assert {"127.0.0.1", "localhost", socket.gethostname().lower()} <= set(wildcard)
    assert "0.0.0.0" not in wildcard and "*" not in wildcard
