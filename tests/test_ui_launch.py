"""The page starts on a busy machine: gradio's own check that the new server answers allows one 3 s request and
then refuses to start ("When localhost is not accessible, ..."); iva0 tries again, and says so in one line."""

import socket

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_check_that_timed_out_once_is_tried_again(monkeypatch):
    import gradio.networking

    from iva0.ui import UiConfig, launch

    answers = iter([False, True])  # the first check times out, as under load
    monkeypatch.setattr(gradio.networking, "url_ok", lambda url: next(answers, True))
    demo = launch(UiConfig(port=_free_port()), block=False, quiet=True)
    try:
        assert demo.is_running
    finally:
        demo.close()


def test_a_server_that_never_answers_its_check_is_one_error_line(monkeypatch):
    import gradio.networking

    from iva0.errors import UserError
    from iva0.ui import UiConfig, app, launch

    monkeypatch.setattr(gradio.networking, "url_ok", lambda url: False)
    monkeypatch.setattr(app, "LAUNCH_TRIES", 2)
    with pytest.raises(UserError, match="did not answer its own check in time"):
        launch(UiConfig(port=_free_port()), block=False, quiet=True)
