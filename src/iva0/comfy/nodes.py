"""The node classes, in ComfyUI's custom-node convention (INPUT_TYPES, RETURN_TYPES, RETURN_NAMES, FUNCTION,
CATEGORY). Thin: each converts ComfyUI's tensors and calls iva0.comfy.run. Nothing heavy is imported here."""

from __future__ import annotations

import hashlib
import json
import os

from iva0.comfy.run import DEFAULT_MASK_DILATE, value_errors

CATEGORY = "iva0"
MAX_SEED = 2**32 - 1  # iva0.limits.MAX_SEED
MAX_FRAMES = 256  # iva0.layout.MAX_FRAMES
MAX_SIZE = 4096  # the CLI's --width/--height
SEGMENTERS = ["auto", "grabcut", "sam2", "mask"]  # iva0.segment.SEGMENTERS
FILLS = ["telea", "ns", "fsr"]  # iva0.backends.composite.fill.FILLS


def default_layout() -> str:
    """The coffee sample's layout (it ships inside the package): every required input has a default."""
    from importlib import resources

    text = (resources.files("iva0") / "data" / "samples" / "coffee.json").read_text()
    return json.dumps(json.loads(text), indent=1)


def _layout_input() -> tuple:
    return ("STRING", {"multiline": True, "default": default_layout(),
                       "tooltip": "The layout JSON text, as the web page downloads it (or from 'iva0 Layout from file')."})


def _progress(total_hint: int = 1):
    """ComfyUI's own progress bar when running inside ComfyUI; None elsewhere."""
    try:
        from comfy.utils import ProgressBar  # only inside ComfyUI
    except Exception:  # noqa: BLE001 - outside ComfyUI (tests, scripts) there is none
        return None
    bar = ProgressBar(total_hint)

    def progress(done: int, total: int, stage: str) -> None:
        bar.update_absolute(done, total)

    return progress


class IVA0CutAndDrag:
    """The layout's cut-and-drag video of a picture (as `iva0 animate --backend composite`) and its motion mask:
    what Time-to-Move nodes (WanVideoWrapper's WanVideoAddTTMLatents) take as reference and mask."""

    DESCRIPTION = ("Cut each layout object out of the picture (GrabCut, SAM 2 or your masks), fill the hole and drag "
                   "the cut-outs along their key boxes. Frame 0 is the picture. motion_mask: the moved cut-outs.")
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE", "MASK", "IMAGE")
    RETURN_NAMES = ("frames", "motion_mask", "first_frame")
    OUTPUT_TOOLTIPS = ("[F, H, W, 3] the cut-and-drag video; frame 0 is the picture (at the output size)",
                       "[F, H, W] 1 where the moved cut-outs are (dilated by mask_dilate), 0 elsewhere",
                       "[1, H, W, 3] frame 0")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The picture (the batch's first item is used)."}),
                "layout": _layout_input(),
                "frames": ("INT", {"default": 0, "min": 0, "max": MAX_FRAMES, "tooltip": "0: the layout's frame count; else the layout retimed to this many frames (Wan: 4k+1, e.g. 81)."}),
                "width": ("INT", {"default": 0, "min": 0, "max": MAX_SIZE, "step": 2,
                                  "tooltip": "0: the picture's (longer side capped at 1024, even sides, as the CLI)."}),
                "height": ("INT", {"default": 0, "min": 0, "max": MAX_SIZE, "step": 2,
                                   "tooltip": "0: from width and the picture's aspect ratio, or the picture's."}),
                "segmenter": (SEGMENTERS, {"default": "auto",
                                           "tooltip": "auto: SAM 2 when segmenter_model or IVA0_SAM2_MODEL is set, else GrabCut."}),
                "fill": (FILLS, {"default": "telea", "tooltip": "How the hole the objects leave is filled."}),
                "mask_dilate": ("INT", {"default": DEFAULT_MASK_DILATE, "min": 0, "max": 256,
                                        "tooltip": "Grow the motion mask by this many px (the ttm backend's --mask-dilate)."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": MAX_SEED}),
            },
            "optional": {
                "masks": ("MASK", {"tooltip": "One mask per layout object, in the layout's order: replaces the cut-outs."}),
                "segmenter_model": ("STRING", {"default": "", "tooltip": "A local SAM 2 model folder (segmenter sam2/auto)."}),
            },
        }

    @value_errors
    def run(self, image, layout, frames=0, width=0, height=0, segmenter="auto", fill="telea",
            mask_dilate=DEFAULT_MASK_DILATE, seed=0, masks=None, segmenter_model=""):
        from iva0.comfy import run, tensors

        picture = tensors.images_to_uint8(image)[0]  # (H, W, 3)
        lay = run.parse_layout_text(layout)
        m = None if masks is None else tensors.masks_to_float(masks)
        out = run.cut_and_drag(picture, lay, masks=m, frames=frames, width=width, height=height, segmenter=segmenter,
                               segmenter_model=segmenter_model, fill=fill, mask_dilate=mask_dilate, seed=seed,
                               progress=_progress())
        video = tensors.to_image(out.frames)
        return (video, tensors.to_mask(out.motion_mask), video[:1].clone())


class IVA0LayoutFromFile:
    """A layout file read and checked -> its JSON text (mask paths made absolute)."""

    DESCRIPTION = "Read a layout JSON file (as saved by the web page or the CLI), check it, and output its text."
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("layout",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"path": ("STRING", {"default": "layout.json",
                                                 "tooltip": "Path of the layout JSON (relative: to ComfyUI's working folder)."})}}

    @classmethod
    def IS_CHANGED(cls, path="layout.json"):
        """The file's content hash: ComfyUI runs the node again when the file changes."""
        try:
            with open(os.path.expanduser(path), "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        except OSError:
            return ""

    @value_errors
    def run(self, path="layout.json"):
        from iva0.layout import load_layout

        if not isinstance(path, str) or not path.strip():
            raise ValueError("path: empty; give the layout JSON file's path")
        return (load_layout(os.path.expanduser(path.strip())).to_json(),)


class IVA0LayoutPreview:
    """The layout's boxes and paths drawn over the picture (or over a batch of frames)."""

    DESCRIPTION = ("Check a layout before a long run: its boxes, names and paths drawn over the picture, one frame per "
                   "layout frame (a batch of frames: drawn over them, the layout retimed to their count).")
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The picture, or a batch of frames to draw over."}),
                "layout": _layout_input(),
                "frames": ("INT", {"default": 0, "min": 0, "max": MAX_FRAMES, "tooltip": "0: the layout's frame count."}),
            }
        }

    @value_errors
    def run(self, image, layout, frames=0):
        from iva0.comfy import run, tensors

        return (tensors.to_image(run.preview(tensors.images_to_uint8(image), run.parse_layout_text(layout), frames)),)


class IVA0Evaluate:
    """`bench eval`'s per-object and per-video metrics of a video against its layout, as JSON text; and an overlay."""

    DESCRIPTION = ("Score a video against its layout with bench eval's metrics (vIoU, object consistency, background, "
                   "afterimage, warp error): JSON text. overlay: the frames with the layout drawn.")
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("STRING", "IMAGE")
    RETURN_NAMES = ("metrics", "overlay")
    OUTPUT_NODE = False

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "The video to score, [F, H, W, 3]."}),
                "layout": _layout_input(),
                "eval_side": ("INT", {"default": 512, "min": 64, "max": MAX_SIZE,
                                      "tooltip": "Longer side of the frames the metrics see (bench eval's default 512)."}),
            },
            "optional": {
                "image": ("IMAGE", {"tooltip": "The input picture (default: the video's frame 0)."}),
                "masks": ("MASK", {"tooltip": "One mask per layout object (the objects' own masks, as in a layout)."}),
            },
        }

    @value_errors
    def run(self, frames, layout, eval_side=512, image=None, masks=None):
        from iva0.comfy import run, tensors

        video = tensors.images_to_uint8(frames, "frames")
        picture = None if image is None else tensors.images_to_uint8(image)[0]
        m = None if masks is None else tensors.masks_to_float(masks)
        metrics, overlay = run.evaluate(video, run.parse_layout_text(layout), image=picture, masks=m, eval_side=eval_side)
        return (json.dumps(metrics, indent=1), tensors.to_image(overlay))


class IVA0Animate:
    """`iva0 animate --backend ttm|iva0` in one node: Time-to-Move on a local Wan 2.x / CogVideoX diffusers folder,
    or the iva0 diffusion method on an SD1.5 + GLIGEN + AnimateDiff folder (needs iva0's [diffusion] extra)."""

    DESCRIPTION = ("Animate the picture along the layout with iva0's ttm backend (Time-to-Move on a local Wan 2.x or "
                   "CogVideoX diffusers folder) or its iva0 backend (SD1.5 + GLIGEN + AnimateDiff folder), as "
                   "`iva0 animate --backend ttm|iva0 --model DIR`. The model stays loaded between runs.")
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE", "INT")
    RETURN_NAMES = ("frames", "fps")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The picture (the batch's first item is used)."}),
                "layout": _layout_input(),
                "backend": (["ttm", "iva0"], {"default": "ttm"}),
                "model": ("STRING", {"default": "", "tooltip": "The model folder (a diffusers folder on this machine)."}),
                "prompt": ("STRING", {"multiline": True, "default": "", "tooltip": "Empty: the layout's prompt."}),
                "frames": ("INT", {"default": 0, "min": 0, "max": MAX_FRAMES, "tooltip": "0: the layout's (ttm: retimed to its model)."}),
                "width": ("INT", {"default": 0, "min": 0, "max": MAX_SIZE, "step": 2, "tooltip": "0: the backend's default size rule."}),
                "height": ("INT", {"default": 0, "min": 0, "max": MAX_SIZE, "step": 2}),
                "steps": ("INT", {"default": 0, "min": 0, "max": 1000, "tooltip": "0: the backend's default."}),
                "guidance": ("FLOAT", {"default": -1.0, "min": -1.0, "max": 50.0, "step": 0.1, "tooltip": "-1: the backend's default."}),
                "tweak_index": ("INT", {"default": -1, "min": -1, "max": 999, "tooltip": "ttm: -1 = TTM's default for the family."}),
                "tstrong_index": ("INT", {"default": -1, "min": -1, "max": 999, "tooltip": "ttm: -1 = TTM's default for the family."}),
                "device": (["auto", "cuda", "cpu"], {"default": "auto"}),
                "segmenter": (SEGMENTERS, {"default": "auto"}),
                "fill": (FILLS, {"default": "telea"}),
                "seed": ("INT", {"default": 0, "min": 0, "max": MAX_SEED}),
            }
        }

    @value_errors
    def run(self, image, layout, backend="ttm", model="", prompt="", frames=0, width=0, height=0, steps=0,
            guidance=-1.0, tweak_index=-1, tstrong_index=-1, device="auto", segmenter="auto", fill="telea", seed=0):
        from iva0.comfy import run, tensors

        picture = tensors.images_to_uint8(image)[0]
        video, fps = run.animate_model(picture, run.parse_layout_text(layout), backend=backend, model=model, prompt=prompt,
                                       frames=frames, width=width, height=height, steps=steps, guidance=guidance,
                                       tweak_index=tweak_index, tstrong_index=tstrong_index, device=device,
                                       segmenter=segmenter, fill=fill, seed=seed, progress=_progress())
        return (tensors.to_image(video), int(fps))


NODE_CLASS_MAPPINGS = {
    "IVA0CutAndDrag": IVA0CutAndDrag,
    "IVA0LayoutFromFile": IVA0LayoutFromFile,
    "IVA0LayoutPreview": IVA0LayoutPreview,
    "IVA0Evaluate": IVA0Evaluate,
    "IVA0Animate": IVA0Animate,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "IVA0CutAndDrag": "iva0 Cut and Drag",
    "IVA0LayoutFromFile": "iva0 Layout from file",
    "IVA0LayoutPreview": "iva0 Layout Preview",
    "IVA0Evaluate": "iva0 Evaluate",
    "IVA0Animate": "iva0 Animate (ttm / iva0)",
}
