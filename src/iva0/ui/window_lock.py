"""The camera window keeps the video's shape while it is dragged (issue 17): a script in the page's head.

The annotator (gradio_image_annotation) resizes a box by each side freely and has no aspect lock. This script
sits in front of it, in the browser: when the selected entry is the camera window (`#annotator`'s
`data-lock="camera"`, set by app.SELECT_TOOL from the `tool` string `Callbacks.show` writes) and a mouse grabs a
handle of its window, every pointer move is replaced by one at the place where the annotator's corner keeps the
window at `data-window-aspect` (its width / height in canvas px: `Callbacks.on_window_shape`, the video's shape)
about the opposite corner, inside the canvas. A side's handle is turned into the corner after it (the right
side: the bottom-right corner, the top stays), and a window drawn anew (no window at this frame) keeps the shape
from where the drag started. Objects' boxes are left alone. What the script cannot know (the canvas zoomed with
the wheel, a touch screen) is left to the server, which snaps a window to the video's shape when it is let go
(`editor.fit_window`).

How: listeners on `window` in the capture phase see a pointer event before the annotator's own (on the canvas
and the document); a held move is stopped there and a copy with the adjusted position is dispatched on the same
target (the canvas, which captures the pointer while a box is dragged). The handle geometry mirrors the
annotator's: 8 handles of HANDLE_PX canvas px, corners first, the picture drawn fitted to the canvas and
centred (the page sizes the canvas so that it fills it).
"""

from __future__ import annotations

HANDLE_PX = 8  # the annotator's handle_size (its default; app.py does not change it)

JS = """
(() => {
  if (window.iva0WindowLock) return;
  const HALF = %(half)d + 2;  // px from a handle's centre that still grab it (the annotator's half size, and slack)
  const MIN = 8;  // px: the smallest window side held (the annotator's own minimum is smaller)
  const mine = new WeakSet();  // events this script dispatched: passed on untouched
  let lock = null;  // the drag being held

  const root = () => document.querySelector("#annotator");
  const numbers = (text) => (text || "").split(",").filter((v) => v !== "").map(Number);

  function start(e) {
    if (mine.has(e)) return;  // the side's corner this script pressed (below): the hold it set stays
    lock = null;
    if (e.pointerType !== "mouse" || e.button !== 0) return;
    const r = root(), canvas = r && r.querySelector("canvas");
    if (!canvas || e.target !== canvas || r.dataset.lock !== "camera") return;
    const a = parseFloat(r.dataset.windowAspect), [w, h] = numbers(r.dataset.canvasSize);
    if (!(a > 0 && w > 0 && h > 0)) return;
    // the canvas's picture in client px: fitted to the canvas, top-aligned, centred (as the annotator draws it)
    const c = canvas.getBoundingClientRect(), k = Math.min(c.width / w, c.height / h), left = c.left + (c.width - w * k) / 2;
    const bounds = [left, c.top, left + w * k, c.top + h * k];
    const box = numbers(r.dataset.box);
    if (box.length !== 4) {  // no window at this frame: the drag draws one from where it starts
      lock = { id: e.pointerId, a, bounds, fixed: [e.clientX, e.clientY], grab: [0, 0], sx: 0, sy: 0, axis: null };
      return;
    }
    const [x0, y0, x1, y1] = [left + box[0] * k, c.top + box[1] * k, left + box[2] * k, c.top + box[3] * k];
    const xm = (x0 + x1) / 2, ym = (y0 + y1) / 2;
    // the handles in the annotator's order (corners, then sides): [x, y, corner it moves (sx, sy), side's axis]
    const handles = [[x0, y0, -1, -1, null], [x1, y0, 1, -1, null], [x1, y1, 1, 1, null], [x0, y1, -1, 1, null],
                     [xm, y0, 1, -1, "y"], [x1, ym, 1, 1, "x"], [xm, y1, 1, 1, "y"], [x0, ym, -1, 1, "x"]];
    const hit = handles.find(([x, y]) => Math.abs(e.clientX - x) <= HALF && Math.abs(e.clientY - y) <= HALF);
    if (!hit) return;  // a move (inside the window) or a pan: the shape stays as it is
    const [hx, hy, sx, sy, axis] = hit;
    const corner = [sx > 0 ? x1 : x0, sy > 0 ? y1 : y0], fixed = [sx > 0 ? x0 : x1, sy > 0 ? y0 : y1];
    lock = { id: e.pointerId, a, bounds, fixed, sx, sy, axis, grab: [e.clientX - corner[0], e.clientY - corner[1]] };
    if (axis) {  // a side's handle: the annotator is to move the corner after it instead, grabbed at its centre
      e.stopImmediatePropagation();
      e.preventDefault();
      lock.grab = [0, 0];
      lock.user = [corner[0] - e.clientX, corner[1] - e.clientY];  // the pointer's offset from that corner
      send(e, "pointerdown", corner[0], corner[1]);
    }
  }

  // where the pointer must be for the annotator's corner to keep the window's shape, given the mouse at (px, py)
  function held(px, py) {
    const L = lock, [fx, fy] = L.fixed, [ux, uy] = L.user || [0, 0];
    const vx = px + ux - L.grab[0] - fx, vy = py + uy - L.grab[1] - fy;  // the corner the mouse asks for, from the fixed one
    let t;  // the window's height, px
    if (!L.sx) {  // drawing anew: towards the mouse, as large as the larger side asks
      L.dx = vx < 0 ? -1 : 1; L.dy = vy < 0 ? -1 : 1;
      t = Math.max(Math.abs(vx) / L.a, Math.abs(vy));
    } else {
      L.dx = L.sx; L.dy = L.sy;
      t = L.axis === "x" ? L.sx * vx / L.a : L.axis === "y" ? L.sy * vy
        : (L.sx * vx * L.a + L.sy * vy) / (L.a * L.a + 1);  // the mouse projected on the window's diagonal
    }
    const [bx0, by0, bx1, by1] = L.bounds;
    const room = Math.min((L.dx > 0 ? bx1 - fx : fx - bx0) / L.a, L.dy > 0 ? by1 - fy : fy - by0) - 1;
    t = Math.max(Math.min(t, room), MIN * Math.max(1, 1 / L.a));
    return [fx + L.dx * L.a * t + L.grab[0], fy + L.dy * t + L.grab[1]];
  }

  function send(e, type, x, y) {
    const copy = new PointerEvent(type, {
      bubbles: true, cancelable: true, composed: true, pointerId: e.pointerId, pointerType: e.pointerType,
      isPrimary: e.isPrimary, button: e.button, buttons: e.buttons, clientX: x, clientY: y,
      screenX: e.screenX + x - e.clientX, screenY: e.screenY + y - e.clientY, pressure: e.pressure,
      ctrlKey: e.ctrlKey, shiftKey: e.shiftKey, altKey: e.altKey, metaKey: e.metaKey,
    });
    mine.add(copy);
    e.target.dispatchEvent(copy);
  }

  function move(e) {
    if (!lock || mine.has(e) || e.pointerId !== lock.id) return;
    e.stopImmediatePropagation();
    const [x, y] = held(e.clientX, e.clientY);
    send(e, "pointermove", x, y);
  }

  function end(e) {
    if (lock && e.pointerId === lock.id) lock = null;
  }

  window.addEventListener("pointerdown", start, true);
  window.addEventListener("pointermove", move, true);
  window.addEventListener("pointerup", end, true);
  window.addEventListener("pointercancel", end, true);
  window.iva0WindowLock = true;
})();
""" % {"half": HANDLE_PX // 2}

HEAD = f"<script>{JS}</script>"

# After each on_video_size (its on_window_shape part): the shape (canvas px width / height) the script holds a camera window to.
SET_SHAPE = """(shape) => {
  const r = document.querySelector("#annotator");
  if (r) r.dataset.windowAspect = shape || "";
}"""
