"""The composite backend: classical cut-out and paste, no weights, seconds on a CPU.

Per object, once: cut it out of its frame-0 box (iva0.segment: GrabCut by
default, SAM 2 with a model folder, or the layout's own mask), then fill the hole
all objects leave (OpenCV inpainting) to get a background plate. Per frame: warp
each cut-out from its frame-0 box to its box at that frame (scale + translate)
and alpha-blend it over the plate with feathered edges, objects whose box bottom
is lower drawn in front. Frame 0 is the input, pixel for pixel. The prompt is
ignored: this backend adds no in-place motion.

With a camera (iva0.camera) each frame is first made in picture space as above
(only the part its window reads), then window f is resampled to the output size
(window.py: sub-pixel, area-averaged when zooming out). Past the picture's edges
the edge pixels are replicated; `render_video(..., known=True)` says per output
pixel whether it shows the picture's own pixels (not a revealed border, not the
fill of a hole left uncovered). With the camera's parallax on (parallax.py) each frame's region is first moved
by its depth (near pixels more than far ones, a z-buffered forward warp); what it uncovers is filled and unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from iva0.backends.base import ProgressFn, no_progress
from iva0.backends.composite.fill import FILLS, fill_hole
from iva0.backends.composite.window import inside_picture, resample_window, window_region, window_to_px
from iva0.errors import LayoutError, UserError
from iva0.layout import Layout
from iva0.segment import Segmenter, box_to_int, create_segmenter, resolve_segmenter, segment_all
from iva0.segment.mask import layout_mask, object_field


@dataclass(frozen=True)
class CompositeConfig:
    hole_margin: float = 0.03  # the hole to fill grows by this share past the object's mask (issue 11: 0.012 left rims behind)
    fill: str = "telea"  # telea | ns | fsr (see fill.py)
    segmenter: str = "auto"  # auto | grabcut | sam2 | mask (iva0.segment); auto: sam2 when a model folder is known
    segmenter_model: str | None = None  # SAM 2 model folder (default: $IVA0_SAM2_MODEL)
    depth_model: str | None = None  # Depth Anything V2 folder for the camera's parallax when the layout names no depth map


@dataclass
class Cutout:
    """One object as lifted from the input: its pixels, soft alpha, and frame-0 box (px)."""

    rgb: np.ndarray  # (H, W, 3) float32, the input image
    alpha: np.ndarray  # (H, W) float32 in [0, 1], non-zero only inside the frame-0 box
    mask: np.ndarray  # (H, W) uint8 {0, 1}, the hard segmentation
    box0: np.ndarray  # (4,) px xyxy, as in the layout (may extend past the frame)


def check_segmentation(layout: Layout, config: CompositeConfig) -> None:
    """Raise a UserError before any compute when the cut-outs cannot be made as asked."""
    name, _ = resolve_segmenter(config.segmenter, config.segmenter_model)
    if name == "mask":
        for j, obj in enumerate(layout.objects):
            if obj.mask is None:
                raise LayoutError(f"{object_field(layout, j)}: missing; --segmenter mask needs a mask for every object")


def segment_objects(image: np.ndarray, layout: Layout, config: CompositeConfig = CompositeConfig(), seed: int = 0,
                    progress: ProgressFn = no_progress, segmenter: Segmenter | None = None) -> list[Cutout]:
    """One cut-out per layout object: its own mask when the layout gives one, else the segmenter's."""
    H, W = image.shape[:2]
    boxes = layout.boxes_px(W, H)  # (J, F, 4)
    J = boxes.shape[0]
    # the masks follow the picture as the caller resized it (iva0.animate checked them against the picture itself)
    own = [layout_mask(layout, j, W, H, check_aspect=False) for j in range(J)]
    todo = [j for j in range(J) if own[j] is None]
    if todo:
        check_segmentation(layout, config)
        segmenter = segmenter or create_segmenter(config.segmenter, config.segmenter_model)
        points = layout.points_px(W, H)  # the layout's clicks guide the cut-out (None: box only)
        for j, alpha in zip(todo, segment_all(segmenter, image, boxes[todo, 0], [points[j] for j in todo], seed=seed)):
            own[j] = alpha
    rgb = image.astype(np.float32)
    cutouts = []
    for j in range(J):
        alpha = own[j].astype(np.float32)
        cutouts.append(Cutout(rgb=rgb, alpha=alpha, mask=(alpha >= 0.5).astype(np.uint8), box0=boxes[j, 0]))
        progress(j + 1, J, "segmenting")
    return cutouts


def scale_cutout(cut: Cutout, rgb: np.ndarray, box0: np.ndarray) -> Cutout:
    """A cut-out made on a smaller copy of the picture `rgb` (H, W, 3) float32, at its size: the alpha scaled up
    (bilinear), `box0` the frame-0 box in its pixels."""
    H, W = rgb.shape[:2]
    alpha = np.clip(cv2.resize(cut.alpha, (W, H), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return Cutout(rgb=rgb, alpha=alpha, mask=(alpha >= 0.5).astype(np.uint8), box0=box0)


def background_plate(image: np.ndarray, layout: Layout, config: CompositeConfig = CompositeConfig(),
                     cutouts: list[Cutout] | None = None, seed: int = 0) -> np.ndarray:
    """The input with every layout object removed and the holes filled, RGB uint8 (H, W, 3)."""
    if cutouts is None:
        cutouts = segment_objects(image, layout, config, seed)
    return fill_hole(image, plate_hole(image.shape[0], image.shape[1], cutouts, config), config.fill)


def plate_hole(H: int, W: int, cutouts: list[Cutout], config: CompositeConfig = CompositeConfig()) -> np.ndarray:
    """The part of the (H, W) picture the objects leave and the plate fills, (H, W) uint8 {0, 1}."""
    r = max(1, int(round(config.hole_margin * min(H, W))))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    hole = np.zeros((H, W), np.uint8)
    for c in cutouts:
        grown = cv2.dilate(c.mask | (c.alpha > 0.05).astype(np.uint8), disk)  # the soft edge leaves too
        x0, y0, x1, y1 = box_to_int(c.box0, W, H)
        hole[y0:y1, x0:x1] |= grown[y0:y1, x0:x1]  # never past the box: the picture outside every box stays
    return hole


def paste(canvas: np.ndarray, cut: Cutout, box: np.ndarray) -> None:
    """Alpha-blend `cut`, scaled and moved from its frame-0 box to `box` (px), into float canvas in place."""
    H, W = canvas.shape[:2]
    b0 = cut.box0
    sx = (box[2] - box[0]) / (b0[2] - b0[0])
    sy = (box[3] - box[1]) / (b0[3] - b0[1])
    # destination region: the box clipped to the frame, 1 px margin for the bilinear edge
    dx0, dy0 = max(0, int(np.floor(box[0])) - 1), max(0, int(np.floor(box[1])) - 1)
    dx1, dy1 = min(W, int(np.ceil(box[2])) + 1), min(H, int(np.ceil(box[3])) + 1)
    if dx1 <= dx0 or dy1 <= dy0:
        return  # the object has left the frame
    # maps source px -> destination px, shifted into the region's coordinates
    M = np.array([[sx, 0.0, box[0] - b0[0] * sx - dx0], [0.0, sy, box[1] - b0[1] * sy - dy0]], dtype=np.float64)
    size = (dx1 - dx0, dy1 - dy0)
    rgb = cv2.warpAffine(cut.rgb, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(cut.alpha, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if rgb.ndim == 3:
        a = a[..., None]  # (h, w, 1); a one-channel map (the objects' depth) blends as it is
    region = canvas[dy0:dy1, dx0:dx1]
    region *= 1.0 - a
    region += a * rgb


def placed_alpha(cut: Cutout, box: np.ndarray, height: int, width: int) -> np.ndarray:
    """The cut-out's alpha moved (and scaled) from its frame-0 box to `box`, as `paste` places it, (H, W) float32."""
    canvas = np.zeros((height, width, 3), np.float32)
    white = Cutout(rgb=np.ones_like(cut.rgb), alpha=cut.alpha, mask=cut.mask, box0=cut.box0)
    paste(canvas, white, box)  # over black, a white cut-out leaves exactly its alpha
    return canvas[..., 0]


class CompositeBackend:
    name = "composite"
    max_side = 1024
    size_multiple = 2
    supports_camera = True  # a layout's camera is honoured (animate's out_size: the output, image: picture space)

    def __init__(self, config: CompositeConfig | None = None, **options) -> None:
        if config is None:
            fields = CompositeConfig.__dataclass_fields__
            unknown = sorted(set(options) - set(fields))
            if unknown:
                raise UserError(f"composite backend: unknown option(s) {', '.join(unknown)}")
            config = CompositeConfig(**options)
        if config.fill not in FILLS:
            raise UserError(f"composite backend: fill must be one of {', '.join(FILLS)}, got {config.fill!r}")
        resolve_segmenter(config.segmenter, config.segmenter_model)  # a bad name fails here, before any compute
        self.config = config
        self._segmenter: Segmenter | None = None
        self._depth_model = None

    @property
    def segmenter(self) -> Segmenter:
        """Built on first use and kept: a SAM 2 model loads once per backend, not once per video."""
        if self._segmenter is None:
            self._segmenter = create_segmenter(self.config.segmenter, self.config.segmenter_model)
        return self._segmenter

    @property
    def depth_model(self):
        """The Depth Anything model of `config.depth_model`, loaded on first use and kept (None without one)."""
        if self._depth_model is None and self.config.depth_model is not None:
            from iva0.depth_model import DepthModel

            self._depth_model = DepthModel.load(self.config.depth_model)
        return self._depth_model

    def check_layout(self, layout: Layout, *, has_depth: bool = False) -> None:
        """Before any compute: every object can be cut out as asked (a SAM 2 folder loads here, once); the camera's
        parallax has a depth map (`has_depth`: the caller's; else the layout's file, else the depth model, whose
        folder is checked here)."""
        check_segmentation(layout, self.config)
        if any(o.mask is None for o in layout.objects):
            self.segmenter  # noqa: B018 - loads (and so checks) the model folder now
        from iva0.depth import needs_depth, require_depth_model

        if needs_depth(layout) and layout.camera.depth is None and not has_depth:
            require_depth_model(self.config.depth_model)

    def animate(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None,
                out_size: tuple[int, int] | None = None, depth: np.ndarray | None = None) -> np.ndarray:
        return self.render_video(image, layout, seed=seed, progress=progress, out_size=out_size, depth=depth).frames

    def render(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None,
               alphas: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(frames, per-frame union of the objects' cut-out alphas at their place (F, H, W) float32 or None)."""
        r = self.render_video(image, layout, seed=seed, progress=progress, alphas=alphas)
        return r.frames, r.alphas

    def render_video(self, image: np.ndarray, layout: Layout, *, seed: int = 0, progress: ProgressFn | None = None,
                     alphas: bool = False, known: bool = False, out_size: tuple[int, int] | None = None,
                     depth: np.ndarray | None = None) -> "Render":
        """The video of `layout` over `image` (picture space), with the per-frame masks asked for; see `Render`.

        out_size: (width, height) of the output, only with a camera (default: the image's size); without a
        camera the output is the image's size. depth: the picture's depth map (h, w) in [0, 1], larger = nearer,
        for the camera's parallax (default: the layout's depth file, else the config's depth model; iva0.depth).
        """
        progress = progress or no_progress
        H, W = image.shape[:2]
        out_w, out_h = out_size or (W, H)
        if layout.camera is None and (out_w, out_h) != (W, H):
            raise ValueError(f"without a camera the output is the picture's size {W}x{H}, got out_size {out_size}")
        boxes = layout.boxes_px(W, H)  # (J, F, 4)
        F = layout.num_frames
        self.check_layout(layout, has_depth=depth is not None)
        needs = any(o.mask is None for o in layout.objects)
        segmenter = self.segmenter if needs else None
        side = max(out_w, out_h)
        if layout.camera is not None and max(W, H) > side:
            # picture space is larger than the output (to zoom in without blur): cut the objects out at the output's
            # scale, as without a camera, and scale the cut-outs up (the cut-out's cost grows with its pixels)
            s = side / max(W, H)
            small = cv2.resize(image, (max(1, round(W * s)), max(1, round(H * s))), interpolation=cv2.INTER_AREA)
            rgb = image.astype(np.float32)
            cutouts = [scale_cutout(c, rgb, b0) for c, b0 in
                       zip(segment_objects(small, layout, self.config, seed, progress, segmenter), boxes[:, 0])]
        else:
            cutouts = segment_objects(image, layout, self.config, seed, progress, segmenter)
        hole = plate_hole(H, W, cutouts, self.config)  # (H, W) {0, 1}
        plate = fill_hole(image, hole, self.config.fill).astype(np.float32)
        windows = None if layout.camera is None else window_to_px(layout.camera.windows(F, layout.interpolation), W, H)
        par = None  # the camera's parallax (parallax.py); None when off: every frame as without it, bit for bit
        if layout.camera is not None and layout.camera.parallax > 0:
            from iva0.backends.composite.parallax import ParallaxModel, fill_depth
            from iva0.depth import fit_depth, picture_depth

            dmap = picture_depth(layout, image, self.depth_model) if depth is None else depth
            dmap = fit_depth(dmap, W, H, check_aspect=False)  # (H, W) float32, picture space
            par = ParallaxModel.build(layout.camera.parallax, dmap, windows[0])
            depth_plate = fill_depth(dmap, hole)  # the background's depth where the objects were
            depth_cuts = [Cutout(rgb=dmap, alpha=c.alpha, mask=c.mask, box0=c.box0) for c in cutouts]
        frames = np.empty((F, out_h, out_w, 3), np.uint8)
        union = np.zeros((F, out_h, out_w), np.float32) if alphas else None
        sure = np.zeros((F, out_h, out_w), np.float32) if known else None
        order = [np.argsort(boxes[:, f, 3], kind="stable") for f in range(F)]  # lower box bottom = nearer = in front
        progress(1, F, "compositing")
        for f in range(F):
            # the part of picture space this frame reads: all of it without a camera, else window f's region
            x0, y0, x1, y1 = (0, 0, W, H) if windows is None else window_region(windows[f], W, H, out_w, out_h)
            moving = par is not None and f > 0 and par.active(windows[f])
            if moving:  # and what parallax may move into it
                x0, y0, x1, y1 = par.source_region(windows[f], (x0, y0, x1, y1))
            shift = np.array([x0, y0, x0, y0], dtype=np.float64)
            if f == 0:
                canvas = image[y0:y1, x0:x1].astype(np.float32)  # frame 0 is the input
            else:
                canvas = plate[y0:y1, x0:x1].copy()
                for j in order[f]:
                    paste(canvas, cutouts[j], boxes[j, f] - shift)
            placed = None
            if alphas or known:
                placed = np.zeros((y1 - y0, x1 - x0), np.float32)
                for j in range(len(cutouts)):
                    placed = np.maximum(placed, placed_alpha(cutouts[j], boxes[j, f] - shift, y1 - y0, x1 - x0))
            k = None
            if moving:  # move the region's pixels (and the masks with them) by their depth
                from iva0.backends.composite.parallax import warp

                dcanvas = depth_plate[y0:y1, x0:x1].copy()
                for j in order[f]:
                    paste(dcanvas, depth_cuts[j], boxes[j, f] - shift)  # the objects carry their own depth
                planes = [] if placed is None else [placed, np.maximum(1.0 - hole[y0:y1, x0:x1], placed)]
                canvas, planes, _ = warp(par, windows[f], dcanvas, (x0, y0), canvas, planes, self.config.fill)
                if planes:
                    placed, k = planes
            if windows is None:
                if f > 0:
                    frames[f] = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
                else:
                    frames[f] = image
                if union is not None:
                    union[f] = placed
                if sure is not None:
                    sure[f] = 1.0 if f == 0 else np.maximum(1.0 - hole, placed)
            else:
                win, origin = windows[f], (x0, y0)
                frames[f] = np.clip(resample_window(canvas, win, out_w, out_h, origin=origin) + 0.5, 0, 255).astype(np.uint8)
                on_picture = inside_picture(win, W, H, out_w, out_h) if placed is not None else None
                if union is not None:
                    union[f] = resample_window(placed, win, out_w, out_h, origin=origin) * on_picture
                if sure is not None:
                    if k is None:
                        k = np.ones_like(placed) if f == 0 else np.maximum(1.0 - hole[y0:y1, x0:x1], placed)
                    sure[f] = np.clip(resample_window(k, win, out_w, out_h, origin=origin), 0, 1) * on_picture
            if f > 0:
                progress(f + 1, F, "compositing")
        return Render(frames=frames, alphas=union, known=sure)


@dataclass
class Render:
    """What `CompositeBackend.render_video` makes, all at the output size (F frames of H x W)."""

    frames: np.ndarray  # (F, H, W, 3) uint8; frame 0 is the input (through window 0 with a camera)
    alphas: np.ndarray | None  # (F, H, W) float32 in [0, 1]: union of the objects' cut-out alphas at their place
    known: np.ndarray | None  # (F, H, W) float32 in [0, 1]: 1 where the pixel shows the picture's own pixels, i.e.
    # on the picture (not past its edges, where the camera reveals replicated edge pixels) and not in the filled hole
    # the objects left (unless a moved object covers it); 0 there; soft on edges (threshold at 0.5 for a hard mask).
    # Frame 0 is known wherever it is on the picture.


__all__ = ["CompositeBackend", "CompositeConfig", "Cutout", "Render", "background_plate", "check_segmentation", "paste",
           "placed_alpha", "plate_hole", "segment_objects"]
