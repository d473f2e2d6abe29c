"""The page: pick a picture, draw key boxes per object, preview the paths, generate, download.

`build_app` lays the page out and wires the events to `Callbacks`; `launch`
serves it on the configured host (127.0.0.1 by default) and never asks for a
share link. Analytics are off before Gradio is imported (see `iva0.ui`).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import gradio as gr
from gradio_image_annotation import image_annotator

from iva0.errors import UserError
from iva0.ui.callbacks import Callbacks, clean_errors
from iva0.ui.config import UiConfig

TITLE = "iva0: animate a picture along boxes"

INTRO = """\
# iva0 — animate a picture along boxes
1. **Pick a sample** or **upload a picture**.
2. **Add an object**: type its name (e.g. *red car*), press *Add object*, and drag its box on the picture at **frame 0**.
3. Move the **key frame** slider and drag the box to where the object should be then; frames between keys are interpolated.
4. Set the prompt and press **Generate**. The layout JSON downloaded here is the file `iva0 animate --layout` reads, and the other way round.
"""

# The annotator keeps its tool (draw / move) across value updates; pick the one that fits
# what it now shows, so a drag draws a box when there is none and moves it otherwise.
SELECT_TOOL = """(tool) => {
  const label = tool === "create" ? "Create box" : "Drag boxes";
  const button = document.querySelector(`#annotator button[aria-label="${label}"]`);
  if (button) button.click();
}"""

CSS = """
#status p, #gen-status p { margin: 0; }
#annotator canvas { max-height: 560px; }
"""


def _samples() -> list:
    try:
        from iva0.samples import list_samples

        return list_samples()
    except (OSError, ValueError, KeyError, UserError):  # a source checkout without samples still serves
        return []


class _Events:
    """`Callbacks`' methods wrapped by `clean_errors`."""

    def __init__(self, cb: Callbacks) -> None:
        self._cb = cb

    def __getattr__(self, name: str):
        return clean_errors(getattr(self._cb, name))


def build_app(config: UiConfig, work_dir: str | Path) -> gr.Blocks:
    cb = Callbacks(config, work_dir)
    ev = _Events(cb)  # the callbacks, each wrapped so the page only ever sees a one-line message
    samples = _samples()
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as demo:
        pic = gr.State(None)  # callbacks.Picture
        draft = gr.State(())  # editor.Draft
        shown = gr.State(None)  # what the annotator shows: {"object", "frame", "box"}
        sample_objects = gr.State(False)  # the objects are a sample's (a new picture drops them)
        tool = gr.Textbox("create", visible="hidden", elem_id="tool")  # the annotator tool to select (SELECT_TOOL)
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            # ---------------- left: picture, objects, drawing ----------------
            with gr.Column(scale=3):
                with gr.Row():
                    sample = gr.Dropdown(
                        choices=[(f"{s.name}: {s.description}", s.name) for s in samples],
                        value=samples[0].name if samples else None,
                        label="Sample",
                        visible=bool(samples),
                        scale=3,
                        elem_id="sample",
                    )
                    upload_picture = gr.UploadButton(
                        "Upload picture", file_types=["image"], type="filepath", scale=1, elem_id="upload-picture"
                    )
                with gr.Row():
                    obj = gr.Dropdown(choices=[], value=None, label="Object", scale=2, elem_id="object")
                    new_name = gr.Textbox(label="New object name", placeholder="e.g. red car", scale=2, elem_id="new-name")
                    with gr.Column(scale=1, min_width=120):
                        add = gr.Button("Add object", size="sm", elem_id="add-object")
                        remove = gr.Button("Remove object", size="sm", elem_id="remove-object")
                frame = gr.Slider(0, 15, value=0, step=1, label="Key frame (draw the box where the object is at this frame)", elem_id="frame")
                keys = gr.Markdown(elem_id="keys")
                annot = image_annotator(
                    value=None,
                    label="Selected object's box at this key frame",
                    sources=[],  # pictures come from the buttons above, which check them like the CLI
                    single_box=True,
                    disable_edit_boxes=True,
                    show_clear_button=False,
                    show_remove_button=True,
                    show_download_button=False,
                    boxes_alpha=0.2,
                    box_min_size=4,
                    elem_id="annotator",
                )
                preview_button = gr.Button("Preview paths as a video", elem_id="preview-button")
                preview_video = gr.Video(label="Path preview", interactive=False, autoplay=True, loop=True, elem_id="preview-video")
            # ---------------- right: preview, settings, result ----------------
            with gr.Column(scale=2):
                preview = gr.Image(label="Paths (all objects, at this key frame)", type="filepath", interactive=False, elem_id="preview")
                status = gr.Markdown(elem_id="status")
                prompt = gr.Textbox(label="Prompt (scene and in-place motion)", lines=2, elem_id="prompt")
                negative = gr.Textbox(label="Negative prompt", elem_id="negative")
                with gr.Row():
                    frames = gr.Slider(2, config.max_frames, value=16, step=1, label="Frames", elem_id="frames")
                    fps = gr.Slider(1, 60, value=8, step=1, label="fps", elem_id="fps")
                with gr.Row():
                    interp = gr.Radio(["linear", "smooth"], value="linear", label="Path between key frames", elem_id="interpolation")
                    backend = gr.Radio(config.backends, value="composite", label="Backend", elem_id="backend")
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", elem_id="seed")
                    side = gr.Slider(
                        64, config.max_output_side, value=config.default_output_side, step=16,
                        label="Video size (longer side, px)", elem_id="side",
                    )  # fmt: skip
                with gr.Accordion("iva0 diffusion settings", open=False, visible=config.model is not None):
                    steps = gr.Slider(1, 100, value=25, step=1, label="Denoising steps", elem_id="steps")
                    guidance = gr.Slider(0.0, 20.0, value=7.5, step=0.5, label="Guidance scale", elem_id="guidance")
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="generate")
                gen_status = gr.Markdown(elem_id="gen-status")
                result = gr.Video(label="Result", interactive=False, autoplay=True, loop=True, elem_id="result")
                download_mp4 = gr.DownloadButton("Download MP4", value=None, elem_id="download-mp4")
                with gr.Row():
                    layout_download = gr.DownloadButton("Download layout JSON", value=None, elem_id="download-layout")
                    layout_upload = gr.UploadButton(
                        "Upload layout JSON", file_types=[".json"], type="filepath", elem_id="upload-layout"
                    )
                json_view = gr.Code(label="Layout JSON", language="json", interactive=False, max_lines=18, elem_id="layout-json")

        settings_in = [frames, fps, prompt, negative, interp]
        show_out = [annot, shown, tool, preview, keys, json_view, status, layout_download]
        refresh_out = [preview, keys, json_view, status, layout_download]
        loaded_out = [pic, draft, obj, frame, frames, fps, prompt, negative, interp, sample_objects, *show_out]
        edit_in = [pic, draft, obj, frame, *settings_in]
        fast = dict(trigger_mode="always_last", show_progress="hidden")

        def then_tool(event):
            event.then(None, [tool], None, js=SELECT_TOOL, show_progress="hidden")

        # loading
        if samples:
            then_tool(demo.load(ev.on_sample, [sample], loaded_out, show_progress="minimal"))
        then_tool(sample.input(ev.on_sample, [sample], loaded_out))
        then_tool(
            upload_picture.upload(
                ev.on_upload_picture,
                [upload_picture, draft, obj, frame, sample_objects, *settings_in],
                [pic, draft, obj, sample, sample_objects, *show_out],
            )
        )
        then_tool(layout_upload.upload(ev.on_upload_layout, [layout_upload, pic], loaded_out))
        # editing
        then_tool(add.click(ev.on_add_object, [new_name, pic, draft, *settings_in], [draft, obj, new_name, frame, sample_objects, *show_out]))
        then_tool(new_name.submit(ev.on_add_object, [new_name, pic, draft, *settings_in], [draft, obj, new_name, frame, sample_objects, *show_out]))
        then_tool(remove.click(ev.on_remove_object, edit_in, [draft, obj, *show_out]))
        then_tool(obj.input(ev.on_select, edit_in, show_out, **fast))
        then_tool(frame.input(ev.on_select, edit_in, show_out, **fast))
        annot.change(ev.on_boxes, [annot, pic, draft, shown, *settings_in], [draft, shown, *refresh_out], **fast)
        for c in (frames, interp):
            then_tool(c.input(ev.on_settings, edit_in, [frame, *show_out], **fast))
        for c in (fps, prompt, negative):
            c.input(ev.on_text, edit_in, refresh_out, **fast)
        # output: one generation at a time on this machine (the GPU, or the 2 CPU cores)
        preview_button.click(ev.on_preview, [pic, draft, *settings_in], [preview_video], concurrency_limit=1, concurrency_id="render")
        generate.click(
            ev.on_generate,
            [pic, draft, *settings_in, backend, seed, side, steps, guidance],
            [result, download_mp4, gen_status],
            concurrency_limit=1,
            concurrency_id="generate",
        )
    return demo


def check_port(host: str, port: int) -> None:
    """Refuse a taken port or an address this machine does not have, in one line, before any work."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UserError(f"--host {host}: unknown address ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            s.bind(addr)
        except OSError as e:
            reason = "already in use" if e.errno in (98, 48, 10048) else e.strerror
            raise UserError(f"cannot serve on {host}:{port}: {reason}; pick another --port") from None


def launch(config: UiConfig, *, block: bool = True, quiet: bool = False) -> gr.Blocks:
    """Serve the page; print the URL. With block=False return at once (tests); call demo.close() to stop."""
    check_port(config.host, config.port)
    work = Path(tempfile.mkdtemp(prefix="iva0-ui-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    demo = build_app(config, work)
    demo.queue(default_concurrency_limit=4, max_size=64)
    try:
        demo.launch(
            server_name=config.host,
            server_port=config.port,
            share=False,  # no share links: nothing leaves this machine
            quiet=True,
            prevent_thread_lock=True,
            show_error=False,  # our errors are gr.Error one-liners (clean_errors); anything else shows as "Error"
            max_file_size=f"{config.max_upload_mb}mb",
            footer_links=["settings"],
            allowed_paths=[str(work)],
            enable_monitoring=False,
            ssr_mode=False,
            pwa=False,
            mcp_server=False,
            css=CSS,
        )
    except OSError as e:
        raise UserError(f"cannot serve on {config.host}:{config.port}: {str(e).split('. ')[0]}; pick another --port") from None
    if not quiet:
        print(f"iva0 ui: serving on {config.url}  (Ctrl+C to stop)", flush=True)
        if config.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"iva0 ui: warning: --host {config.host} makes the page reachable from other machines", flush=True)
    if block:
        try:
            demo.block_thread()
        finally:
            demo.close()
    return demo
