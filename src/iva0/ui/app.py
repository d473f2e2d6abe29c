"""The page: one canvas to draw on, the objects beside it, generate, download.

`build_app` lays the page out and wires the events to `Callbacks` (each one
`guarded`: a mistake is a warning toast, never an error badge); `launch` serves
it on the configured host (127.0.0.1 by default), answers only the Host names it
is served on (`hosts.py`: DNS rebinding) and never asks for a share link.
Analytics are off before Gradio is imported (see `iva0.ui`).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import gradio as gr
from gradio_image_annotation import image_annotator

from iva0.errors import UserError
from iva0.io.overlay import PALETTE
from iva0.ui import pressed, window_lock
from iva0.ui.backend_choice import backend_note
from iva0.ui.callbacks import Callbacks
from iva0.ui.config import UiConfig
from iva0.ui.editor import CAMERA_LABEL, MAX_OBJECTS, MIN_BOX_PX, DraftObject
from iva0.ui.hosts import host_check
from iva0.ui.messages import guarded
from iva0.ui.window_lock import SET_SHAPE

TITLE = "iva0: animate a picture along boxes"

HINT = (
    "**iva0** · pick a sample or upload a picture → **Add** an object → drag its box at frame 0 → "
    "move the timeline and drag the box to where it goes → **Generate**."
)

HELP = """\
- **Draw.** With an object selected in the list, drag on the picture to draw its box at the frame the timeline shows.
  At another frame the box is shown where it would be (interpolated, or held after the last key): drag it or its
  handles to set a key there. Select the box and press Delete (or the bin) to remove that frame's key.
- **Camera.** Press Camera to move the view: a "camera window" entry joins the list, its window (white) at frame 0 is
  the whole picture. Move the timeline and drag the window, or its corners, to the part of the picture that frame
  shows; it keeps the video's shape while you drag. The hatched band around the picture is outside it: a window may
  reach onto it (drag it to the band's edge and the band grows); objects' boxes stay on the picture. Each key window
  is drawn on the picture with its frame. Delete with the camera selected removes it.
- **Objects.** The name is the object's phrase (the iva0 backend grounds it). Rename or delete the selected object.
  Its colour on the picture is the colour of its entry in the list; the other objects are drawn dimmed.
- **Frames.** Fewer frames move an object's last key to the new last frame and drop keys between.
- **Masks.** By default the backend cuts each object out of its frame-0 box itself. To give it the object's exact
  shape, select the object and upload a mask: a picture of the same aspect ratio, white (or opaque) where the object
  is, black elsewhere. "· mask" in the list marks it; Remove mask goes back to the automatic cut-out.
- **Cut-out.** Open *Cut-out* to see what of the selected object will move (full colour; the rest dimmed), cut out
  of its frame-0 box as the backend will. Where it is wrong, click on it: a click marks that spot as part of the object
  (green, inside the box) or not (red), as the radio says, and the cut-out is redone. "· 1 point" in the list marks
  it; Clear points removes them. The points travel with the layout.
- **Layout.** The download is exactly the file `iva0 animate --layout` reads: `layout.json`, or with masks
  `layout.zip` (layout.json and its masks/ folder, which `-l layout.zip` reads as it is). Either can be uploaded here and
  edited.
"""

# After each canvas update: select the annotator tool that fits what it shows (a drag draws a
# box when there is none and moves it otherwise), and size the canvas to the window. The
# annotator fits the picture to its width only and stretches it to any height set on it, which
# would distort the picture and the boxes drawn on it; so the canvas gets the width at which the
# picture's height fits the window (`tool` is "create|1.5|canvas-…": the tool, the canvas's w/h,
# then the canvas's name, kept as window.iva0Canvas so a test can wait for that picture to load; with the
# camera selected, "|camera|<its box in canvas px>|<canvas w,h>" follow, for window_lock.py).
SELECT_TOOL = """(tool) => {
  const [name, aspect, canvas, lock, box, size] = (tool || "create").split("|");
  window.iva0Canvas = canvas || null;
  const root = document.querySelector("#annotator");
  if (root) Object.assign(root.dataset, { lock: lock || "", box: box || "", canvasSize: size || "" });
  const label = name === "create" ? "Create box" : "Drag boxes";
  const button = document.querySelector(`#annotator button[aria-label="${label}"]`);
  if (button) button.click();
  const fit = () => {
    const box = document.querySelector("#annotator .canvas-container");
    if (!box || !window.iva0Aspect) return;
    const free = Math.max(260, window.innerHeight - %d);
    box.style.maxWidth = Math.floor(free * window.iva0Aspect) + "px";
    box.style.margin = "0 auto";
  };
  if (aspect) window.iva0Aspect = parseFloat(aspect);
  if (!window.iva0Fit) { window.iva0Fit = fit; window.addEventListener("resize", fit); }
  fit();
}""" % 330  # px of the window above and below the canvas (hint, picture row, timeline, status)

# The objects list's entry i wears object i's colour (the palette the pictures are drawn with).
_OBJECT_COLOURS = "\n".join(
    f"#objects label:nth-of-type({i + 1}) {{ border-left: 8px solid rgb{PALETTE[i % len(PALETTE)]} !important; }}"
    for i in range(MAX_OBJECTS)
)
CSS = f"""
.gradio-container {{ max-width: 100% !important; padding-top: 4px !important; }}
#hint p {{ margin: 0; }}
#status p, #gen-status p, #video-note p, #backend-note p {{ margin: 0; font-size: 0.9em; }}
/* rotating only the canvas would put every later box in the wrong place: no rotate buttons */
#annotator button[aria-label^="Rotate"] {{ display: none !important; }}
#objects .wrap {{ flex-direction: column; gap: 4px; }}
#objects label {{ width: 100%; }}
{_OBJECT_COLOURS}
/* the camera entry (always last): white, as its windows on the canvas, with their dark edge */
#objects label[data-testid^="{CAMERA_LABEL} ·"] {{ border-left: 8px solid #fff !important; box-shadow: inset 2px 0 0 #222, -2px 0 0 #222; }}
"""


class ClampedSlider(gr.Slider):
    """A slider whose typed-in value is clamped to its range (Gradio's own slider answers an
    out-of-range number with an error that badges every output of the event).

    A subclass, not an instance with its own `preprocess`: an event that updates a slider
    (gr.update(maximum=...)) makes the session a new instance of the slider's class. Gradio
    writes a stub `app.pyi` next to this file for it on import (any component class); that
    generated file is ignored (.gitignore here), nothing reads it.
    """

    is_template = True  # the browser shows it as a plain slider

    def preprocess(self, payload: float) -> float:
        try:
            v = float(payload)
        except (TypeError, ValueError):
            v = float(self.minimum)
        v = min(max(v, float(self.minimum)), float(self.maximum))
        return gr.Number.round_to_precision(v, self.precision)


class ObjectList(gr.Radio):
    """The objects list (its values are the objects' indices). An event sent before the list changed (a new
    picture, a sample, an object removed) can reach the server after it did, naming an index the list no longer
    has: Gradio's own Radio answers that with an error toast ("Value: 0 ... is not in the list of choices: []",
    seen with a slow server in the browser tests). Here it reads as no selection, which every callback takes as it
    takes an index out of range: as nothing selected. A subclass for the reason ClampedSlider is one."""

    is_template = True  # the browser shows it as a plain radio

    def preprocess(self, payload):
        if payload is not None and payload not in [value for _, value in self.choices]:
            return None  # a stale index: no selection
        return super().preprocess(payload)


def _samples() -> list:
    try:
        from iva0.samples import list_samples

        return list_samples()
    except (OSError, ValueError, KeyError, UserError):  # a source checkout without samples still serves
        return []


class _Events:
    """`Callbacks`' methods wrapped by `guarded`."""

    def __init__(self, cb: Callbacks) -> None:
        self._cb = cb

    def __getattr__(self, name: str):
        return guarded(getattr(self._cb, name))


def masks_in_sessions(demo: gr.Blocks) -> set[str]:
    """The mask files named by the drafts of every session Gradio keeps (an open tab, or one closed less than
    an hour ago): `WorkDir.prune` never deletes those. A draft is a tuple of `DraftObject`s in a gr.State."""
    holder = getattr(demo, "state_holder", None)
    if holder is None:  # not launched: no sessions
        return set()
    used: set[str] = set()
    for session in list(holder.session_data.values()):
        for value in list(session.state_data.values()):
            if isinstance(value, tuple):
                used |= {o.mask for o in value if isinstance(o, DraftObject) and o.mask}
    return used


def build_app(config: UiConfig, work_dir: str | Path) -> gr.Blocks:
    cb = Callbacks(config, work_dir)
    ev = _Events(cb)
    samples = _samples()
    choices = cb.gen.pool.choices
    generative = next((c for c in choices if c.steps is not None), None)  # the model folder's backend
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as demo:
        demo.iva0_callbacks = cb  # tests reach the page's own callbacks and work folder through it
        cb.work.in_use = lambda: masks_in_sessions(demo)  # masks an open page uses are never pruned
        pic = gr.State(None)  # pictures.Picture
        draft = gr.State(())  # editor.Draft
        shown = gr.State(None)  # what the canvas shows: {"object", "frame", "box"}
        source = gr.State(None)  # where the objects came from: "sample", "layout" (a file), "drawn"
        result = gr.State(None)  # the last run's files: {"video", "overlay"}
        cut_open = gr.State(False)  # whether the Cut-out accordion is open: cut-outs are computed only then
        tool = gr.Textbox("create", visible="hidden", elem_id="tool")  # the annotator tool to select (SELECT_TOOL)
        shape = gr.Textbox("", visible="hidden", elem_id="window-shape")  # a camera window's w/h (window_lock.py)
        with gr.Row(equal_height=False):
            gr.Markdown(HINT, elem_id="hint")
        with gr.Row(equal_height=False):
            # ---------------- left: the canvas and its timeline ----------------
            with gr.Column(scale=3, min_width=480):
                with gr.Row(equal_height=True):
                    sample = gr.Dropdown(
                        choices=[(f"{s.name}: {s.description}", s.name) for s in samples],
                        value=samples[0].name if samples else None,
                        show_label=False,
                        container=False,
                        visible=bool(samples),
                        scale=4,
                        elem_id="sample",
                    )
                    upload_picture = gr.UploadButton(
                        "Upload picture", file_types=["image"], type="filepath", size="sm", scale=1, min_width=130,
                        elem_id="upload-picture",
                    )  # fmt: skip
                    upload_layout = gr.UploadButton(
                        "Upload layout", file_types=[".json", ".zip"], type="filepath", size="sm", scale=1, min_width=130,
                        elem_id="upload-layout",
                    )  # fmt: skip
                annot = image_annotator(
                    value=None,
                    show_label=False,
                    sources=[],  # pictures come from the buttons above, which check them like the CLI
                    single_box=True,
                    disable_edit_boxes=True,
                    show_clear_button=False,
                    show_remove_button=True,
                    show_download_button=False,
                    boxes_alpha=0.15,
                    box_min_size=MIN_BOX_PX,
                    image_type="filepath",  # the picture's file name says which showing a box was drawn on (on_boxes)
                    elem_id="annotator",
                )
                frame = ClampedSlider(
                    0, 15, value=0, step=1, label="Timeline: frame shown on the picture", elem_id="frame"
                )
                status = gr.Markdown(elem_id="status")
            # ---------------- right: objects, prompt, generate, result ----------------
            with gr.Column(scale=2, min_width=360):
                objects = ObjectList(choices=[], value=None, label="Objects", elem_id="objects")
                with gr.Row(equal_height=True):
                    name = gr.Textbox(
                        show_label=False, placeholder="object name, e.g. red car", container=False, scale=3,
                        elem_id="new-name",
                    )  # fmt: skip
                    add = gr.Button("Add", size="sm", scale=1, min_width=50, elem_id="add-object")
                    rename = gr.Button("Rename", size="sm", scale=1, min_width=70, elem_id="rename-object")
                    remove = gr.Button("Delete", size="sm", scale=1, min_width=60, elem_id="remove-object")
                with gr.Row(equal_height=True):
                    upload_mask = gr.UploadButton(
                        "Upload mask (white = object)", file_types=["image"], type="filepath", size="sm", scale=3,
                        elem_id="upload-mask",
                    )  # fmt: skip
                    remove_mask = gr.Button("Remove mask", size="sm", scale=1, min_width=100, elem_id="remove-mask")
                    # the view's key-framed window (the layout's camera): an entry of its own in the list
                    add_camera = gr.Button("Camera", size="sm", scale=1, min_width=80, elem_id="add-camera")
                # closed at first: opened, it pushes Generate below a 1280x720 window's fold
                with gr.Accordion("Cut-out: what will move (click to fix it)", open=False, elem_id="cutout-accordion") as cut_acc:
                    cut_note = gr.Markdown(elem_id="cutout-note")
                    cut_view = gr.Image(
                        type="filepath", interactive=False, show_label=False, buttons=[], height=360,
                        elem_id="cutout",
                    )  # fmt: skip
                    with gr.Row(equal_height=True):
                        mark = gr.Radio(
                            [("object", 1), ("not object", 0)], value=1, label="A click marks", scale=3,
                            elem_id="cutout-mark",
                        )  # fmt: skip
                        clear_points = gr.Button("Clear points", size="sm", scale=1, min_width=100, elem_id="clear-points")
                cut_tag = gr.Textbox("", visible="hidden", elem_id="cutout-tag")  # which view the page shows (cutout.py)
                prompt = gr.Textbox(
                    show_label=False, placeholder="prompt: the scene and its in-place motion", lines=1, max_lines=3,
                    container=False, elem_id="prompt",
                )  # fmt: skip
                with gr.Row(equal_height=True):
                    frames = ClampedSlider(2, config.max_frames, value=16, step=1, label="Frames", elem_id="frames")
                    fps = ClampedSlider(1, 60, value=8, step=1, label="fps", elem_id="fps")
                backend = gr.Radio(
                    [(c.label, c.name) for c in choices], value=choices[0].name, show_label=False, container=False,
                    elem_id="backend",
                )  # fmt: skip
                note = gr.Markdown(backend_note(choices, choices[0].name), elem_id="backend-note")
                video_note = gr.Markdown(elem_id="video-note")
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", scale=3, elem_id="generate")
                    preview = gr.Button("Preview", scale=1, min_width=90, elem_id="preview-button")
                gen_status = gr.Markdown(elem_id="gen-status")
                video = gr.Video(
                    show_label=False, interactive=False, autoplay=True, loop=True, height=300, elem_id="result"
                )
                overlay = gr.Checkbox(False, label="Show the boxes over the video", elem_id="overlay")
                with gr.Row():
                    dl_mp4 = gr.DownloadButton("MP4", value=None, size="sm", elem_id="download-mp4")
                    dl_overlay = gr.DownloadButton("MP4 with boxes", value=None, size="sm", elem_id="download-overlay")
                    dl_layout = gr.DownloadButton("Layout", value=None, size="sm", elem_id="download-layout")
                with gr.Accordion("Advanced settings", open=False, elem_id="advanced"):
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
                        side = ClampedSlider(
                            64, config.max_output_side, value=config.default_output_side, step=16,
                            label="Video size (longer side, px)", elem_id="side",
                        )  # fmt: skip
                    interp = gr.Radio(["linear", "smooth"], value="linear", label="Path between key frames", elem_id="interpolation")
                    negative = gr.Textbox(label="Negative prompt", elem_id="negative")
                    with gr.Group(visible=generative is not None):  # the chosen backend's own defaults (on_backend)
                        steps = ClampedSlider(
                            1, 100, value=generative.steps if generative else 25, step=1, label="Denoising steps",
                            elem_id="steps",
                        )  # fmt: skip
                        guidance = ClampedSlider(
                            0.0, 20.0, value=generative.guidance if generative else 7.5, step=0.5,
                            label="Guidance scale", elem_id="guidance",
                        )  # fmt: skip
                with gr.Accordion("Layout JSON", open=False, elem_id="layout-accordion"):
                    json_view = gr.Code(language="json", interactive=False, max_lines=18, show_label=False, elem_id="layout-json")
                with gr.Accordion("Help", open=False, elem_id="help"):
                    gr.Markdown(HELP)

        settings_in = [frames, fps, prompt, negative, interp]
        show_out = [annot, shown, tool, objects, status, json_view, dl_layout]
        refresh_out = [status, json_view, dl_layout]
        loaded_out = [
            pic, draft, source, sample, frame, frames, fps, prompt, negative, interp,
            result, video, gen_status, dl_mp4, dl_overlay, *show_out,
        ]  # fmt: skip
        edit_in = [pic, draft, objects, frame, *settings_in]
        # Every event that reads or writes the draft runs in one line, in the order the page sent them
        # (limit 1): each reads the draft the previous one wrote, so two quick edits (a box drag, then Add)
        # never lose one another. What a late canvas event may still carry is checked in on_boxes.
        edit = dict(concurrency_id="edit", concurrency_limit=1)
        fast = dict(trigger_mode="always_last", show_progress="hidden", **edit)
        # the size line likewise: answered in the order asked, so a late one never overwrites a newer one
        noted = dict(show_progress="hidden", concurrency_id="note", concurrency_limit=1)
        note_in = [pic, side, frames, fps, backend]

        cut_in = [pic, draft, objects, seed, cut_open]
        cut_out = [cut_view, cut_note, cut_tag]

        def then_set_shape(event):
            """After an on_video_size: hand the page's script the shape it holds a camera window to."""
            event.then(None, [shape], None, js=SET_SHAPE, show_progress="hidden")

        def then_size(event):
            """Say the video's size, and tell the page's script the shape a camera window has (the video's):
            one server event for both, so a busy machine has no extra one to queue after every edit."""
            then_set_shape(event.then(ev.on_video_size, note_in, [video_note, shape], **noted))

        def then_show(event, cutout: bool = True):
            """After an event that changed the canvas: select the tool that fits it, say the video's size, and
            (unless only the frame shown changed) show the selected object's cut-out, in the edits' line."""
            event.then(None, [tool], None, js=SELECT_TOOL, show_progress="hidden")
            then_size(event)
            if cutout:
                event.then(ev.on_cutout, cut_in, cut_out, show_progress="hidden", **edit)

        # loading
        if samples:
            then_show(demo.load(ev.on_sample, [sample], loaded_out, show_progress="minimal", **edit))
        then_show(sample.input(ev.on_sample, [sample], loaded_out, **edit))
        then_show(upload_picture.upload(ev.on_upload_picture, [upload_picture, draft, source, *settings_in], loaded_out, **edit))
        then_show(upload_layout.upload(ev.on_upload_layout, [upload_layout, pic], loaded_out, **edit))
        # editing
        add_out = [draft, source, name, frame, *show_out]
        then_show(add.click(ev.on_add_object, [name, pic, draft, *settings_in], add_out, **edit))
        then_show(add_camera.click(ev.on_add_camera, [pic, draft, *settings_in, backend, side], add_out, **edit))
        then_show(name.submit(ev.on_add_object, [name, pic, draft, *settings_in], add_out, **edit))
        then_show(rename.click(ev.on_rename_object, [name, *edit_in], [draft, name, *show_out], **edit))
        then_show(remove.click(ev.on_remove_object, edit_in, [draft, *show_out], **edit))
        then_show(upload_mask.upload(ev.on_upload_mask, [upload_mask, *edit_in], [draft, *show_out], **edit))
        then_show(remove_mask.click(ev.on_remove_mask, edit_in, [draft, *show_out], **edit))
        then_show(objects.input(ev.on_select, edit_in, show_out, **fast))
        then_show(frame.input(ev.on_select, edit_in, show_out, **fast), cutout=False)
        # (the backend and the size: a camera window snaps to the shape of the video they make)
        # (pressed.py: a report made while the mouse is still down is not a box to save)
        then_show(annot.change(ev.on_boxes, [annot, pic, draft, shown, *settings_in, backend, side], [draft, *show_out],
                               js=pressed.SETTLED_BOXES, **fast))
        for c in (frames, interp):
            settings_event = c.input(
                ev.on_settings, [pic, draft, objects, frame, *settings_in], [draft, frames, frame, *show_out], **fast
            )  # fmt: skip
            then_show(settings_event, cutout=False)  # frame 0 stays as it was: the cut-out too
        # the cut-out view: every click is a point, applied in the order made (the edits' line; "multiple":
        # a click while the last one is still being applied is queued, not dropped)
        point_out = [draft, objects, status, json_view, dl_layout, *cut_out]
        cut_view.select(
            ev.on_cutout_click, [cut_tag, pic, draft, objects, frame, mark, seed, *settings_in], point_out,
            trigger_mode="multiple", show_progress="hidden", **edit,
        )  # fmt: skip
        clear_points.click(ev.on_clear_points, [pic, draft, objects, frame, seed, *settings_in], point_out, **edit)
        seed.input(ev.on_cutout, cut_in, cut_out, trigger_mode="always_last", show_progress="hidden", **edit)
        cut_acc.expand(ev.on_cutout_open, [pic, draft, objects, seed], [cut_open, *cut_out], show_progress="hidden", **edit)
        cut_acc.collapse(ev.on_cutout_closed, None, [cut_open], show_progress="hidden", **edit)
        for c in (fps, prompt, negative):
            c.input(ev.on_text, edit_in, refresh_out, **fast)
        for c in (side, fps):
            then_set_shape(c.input(ev.on_video_size, note_in, [video_note, shape], trigger_mode="always_last", **noted))
        then_size(backend.input(ev.on_backend, [backend], [note, steps, guidance, side], show_progress="hidden"))
        # output: one generation at a time on this machine (the GPU, or the CPU cores)
        preview.click(ev.on_preview, [pic, draft, *settings_in], [video, gen_status], concurrency_limit=1, concurrency_id="render")
        generate.click(
            ev.on_generate,
            [pic, draft, *settings_in, backend, seed, side, steps, guidance, overlay],
            [result, video, gen_status, dl_mp4, dl_overlay],
            concurrency_limit=1,
            concurrency_id="generate",
        )
        overlay.input(ev.on_overlay, [overlay, result], [video], show_progress="hidden")
        for what, button in (("mp4", dl_mp4), ("overlay", dl_overlay), ("layout", dl_layout)):
            button.click(getattr(ev, f"on_download_{what}"), [button], [button], show_progress="hidden")
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


LAUNCH_TRIES = 3


def _launch_patiently(demo: gr.Blocks, **kwargs) -> None:
    """`demo.launch(**kwargs)`, again when gradio's own check that the new server answers gave up: it allows one
    3 s request, which a busy machine can miss (seen in CI with two busy loops), and then refuses to start."""
    for attempt in range(LAUNCH_TRIES):
        try:
            demo.launch(**kwargs)
            return
        except ValueError as e:
            if "localhost is not accessible" not in str(e):
                raise
            demo.close()
            if attempt == LAUNCH_TRIES - 1:
                raise UserError(f"the page's server on {kwargs['server_name']}:{kwargs['server_port']} did not answer "
                                f"its own check in time ({LAUNCH_TRIES} tries; a busy machine?); try again") from None


def launch(config: UiConfig, *, block: bool = True, quiet: bool = False) -> gr.Blocks:
    """Serve the page; print the URL. With block=False return at once (tests); call demo.close() to stop."""
    check_port(config.host, config.port)
    work = Path(tempfile.mkdtemp(prefix="iva0-ui-"))  # the app's own folder; nothing is written where a user points
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    demo = build_app(config, work)
    demo.queue(default_concurrency_limit=4, max_size=64)
    try:
        _launch_patiently(
            demo,
            server_name=config.host,
            server_port=config.port,
            share=False,  # no share links: nothing leaves this machine
            quiet=True,
            prevent_thread_lock=True,
            show_error=False,  # events never raise to the page (messages.guarded)
            max_file_size=f"{config.max_upload_mb}mb",
            footer_links=["settings"],
            allowed_paths=[str(work)],
            enable_monitoring=False,
            ssr_mode=False,
            pwa=False,
            mcp_server=False,
            css=CSS,
            # pressed.py: a box is saved when let go; window_lock.py: a camera window keeps the video's shape
            head=pressed.HEAD + window_lock.HEAD,
            app_kwargs={"middleware": [host_check(config.host)]},  # DNS rebinding: only our own Host names (hosts.py)
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
