"""A box is saved only once the mouse lets go of it: a script in the page's head, and the annotator event's guard.

The annotator reports its value ("change") when a pointer goes down on its canvas and again when it comes up.
The report at the press is the box as shown (nothing to save). But the page runs the canvas's events one at a
time, the last one kept (`trigger_mode="always_last"`): on a busy machine the report at the press can wait behind
an earlier one (the echo of the canvas the server just sent), and Gradio reads the annotator's value when the
event runs, not when it was made, so by then it is the box half drawn. Saving that box made the server send a
new canvas mid-drag, which then dropped the drag's own end as stale: the user drew from 0.1 to 0.3 of the
picture and got 0.1 to 0.125 (seen in a browser test run with busy loops on this 2-core machine).

So the page keeps `window.iva0Pressed` (true while a pointer that went down on the annotator's canvas is down;
listeners on `window` in the capture phase, before the annotator's own), and the annotator's change event runs
SETTLED_BOXES first: while pressed it hands the server no value (None: `Callbacks.on_boxes` skips it); the
report when the pointer comes up carries the box as let go.
"""

from __future__ import annotations

JS = """
(() => {
  if (window.iva0PressWatch) return;
  window.iva0Pressed = false;
  const onCanvas = (e) => e.target instanceof HTMLCanvasElement && !!e.target.closest("#annotator");
  window.addEventListener("pointerdown", (e) => { if (onCanvas(e)) window.iva0Pressed = true; }, true);
  for (const type of ["pointerup", "pointercancel"]) window.addEventListener(type, () => { window.iva0Pressed = false; }, true);
  window.addEventListener("blur", () => { window.iva0Pressed = false; });  // a release the page never sees
  window.iva0PressWatch = true;
})();
"""

HEAD = f"<script>{JS}</script>"

# Before on_boxes: no value while the pointer is still down on the canvas (the rest of the inputs as they are).
SETTLED_BOXES = "(value, ...rest) => [window.iva0Pressed ? null : value, ...rest]"
