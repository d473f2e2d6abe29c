"""The node pack inside a real ComfyUI: optional, never part of `make test`'s work unless a ComfyUI is given.

Set IVA0_COMFYUI to a ComfyUI checkout and IVA0_COMFYUI_PYTHON to the Python that runs it (with iva0 installed
into it: `python -m pip install -e '.[comfy]'`). The test starts `main.py --cpu --listen 127.0.0.1` on a free
loopback port with this repository's comfyui/ folder as a custom node (through an extra_model_paths file, nothing
is written into the checkout), queues comfyui/workflows/cut_and_drag_video_api.json through /prompt, and checks the
videos and images it saves; then a layout with bad JSON, which must fail with the node's one-line ValueError.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
COMFYUI = os.environ.get("IVA0_COMFYUI")
PYTHON = os.environ.get("IVA0_COMFYUI_PYTHON", "python3")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not COMFYUI or not (Path(COMFYUI) / "main.py").is_file(),
                       reason="no ComfyUI: set IVA0_COMFYUI to a ComfyUI checkout (and IVA0_COMFYUI_PYTHON to its Python)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _post(url: str, data: dict):
    req = urllib.request.Request(url, json.dumps(data).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from iva0.samples import get_sample

    d = tmp_path_factory.mktemp("comfyui")
    (d / "nodes").mkdir()
    (d / "nodes" / "iva0").symlink_to(ROOT / "comfyui", target_is_directory=True)
    (d / "input").mkdir()
    shutil.copy(get_sample("coffee").image, d / "input" / "iva0_coffee.jpg")
    (d / "extra_paths.yaml").write_text(f"iva0:\n  base_path: {d}\n  custom_nodes: nodes\n")
    port = _free_port()
    log = open(d / "server.log", "w")
    proc = subprocess.Popen(
        [PYTHON, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
         "--input-directory", str(d / "input"), "--output-directory", str(d / "output"), "--temp-directory", str(d / "temp"),
         "--extra-model-paths-config", str(d / "extra_paths.yaml")],
        cwd=COMFYUI, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # bounded: at most about 4 minutes to start
            if proc.poll() is not None:
                pytest.fail(f"ComfyUI exited ({proc.returncode}); see {d / 'server.log'}")
            try:
                _get(f"{base}/object_info/IVA0CutAndDrag")
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(f"ComfyUI did not answer in time; see {d / 'server.log'}")
        yield base, d
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def _run(base: str, prompt: dict, timeout: float = 600) -> dict:
    pid = _post(f"{base}/prompt", {"prompt": prompt, "client_id": "iva0-test"})["prompt_id"]
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        hist = _get(f"{base}/history/{pid}")
        if pid in hist and hist[pid].get("status", {}).get("completed") is not None:
            if hist[pid]["status"].get("status_str") in ("success", "error"):
                return hist[pid]
        time.sleep(1)
    pytest.fail("the prompt did not finish in time")


def test_comfyui_lists_the_nodes(server):
    base, _ = server
    info = _get(f"{base}/object_info")
    for name, shown in [("IVA0CutAndDrag", "iva0 Cut and Drag"), ("IVA0LayoutFromFile", "iva0 Layout from file"),
                        ("IVA0LayoutPreview", "iva0 Layout Preview"), ("IVA0Evaluate", "iva0 Evaluate"),
                        ("IVA0Animate", "iva0 Animate (ttm / iva0)")]:
        assert info[name]["display_name"] == shown and info[name]["category"] == "iva0"


def test_the_example_workflow_saves_the_cut_and_drag_video_and_its_mask(server):
    from iva0.io.video import read_video

    base, d = server
    wf = json.loads((ROOT / "comfyui" / "workflows" / "cut_and_drag_video_api.json").read_text())
    rec = _run(base, wf)
    assert rec["status"]["status_str"] == "success", rec["status"]
    out = d / "output" / "iva0"
    videos = sorted(out.glob("cut_and_drag*.mp4"))
    masks = sorted(out.glob("motion_mask*.mp4"))
    assert videos and masks, sorted(p.name for p in out.iterdir())
    frames, _ = read_video(videos[-1])
    mask, _ = read_video(masks[-1])
    assert frames.shape == (16, 400, 600, 3) and mask.shape == frames.shape
    m = mask.mean(axis=-1)
    assert 0.02 < (m > 127).mean() < 0.5  # the moved objects, not nothing nor everything
    assert len(list(out.glob("layout_preview*.png"))) == 16 and len(list(out.glob("first_frame*.png"))) == 1


def test_bad_layout_fails_with_the_nodes_one_line_message(server):
    base, _ = server
    wf = json.loads((ROOT / "comfyui" / "workflows" / "cut_and_drag_video_api.json").read_text())
    wf["2"]["inputs"]["value"] = '{"objects": ['
    rec = _run(base, wf)
    assert rec["status"]["status_str"] == "error"
    errors = [m[1] for m in rec["status"]["messages"] if m[0] == "execution_error"]
    assert errors and errors[0]["exception_type"] == "ValueError"
    assert errors[0]["exception_message"].startswith("layout: not valid JSON")
