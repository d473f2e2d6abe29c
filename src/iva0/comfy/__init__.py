"""iva0's ComfyUI nodes: the layout-driven cut-and-drag video and motion mask (what Time-to-Move nodes take),
a layout reader, a layout preview and `bench eval`'s metrics.

ComfyUI's custom-node convention: `NODE_CLASS_MAPPINGS` and `NODE_DISPLAY_NAME_MAPPINGS`. Importing this
module needs neither ComfyUI nor torch, and imports nothing heavy; the repository's `comfyui/` folder (linked
into ComfyUI/custom_nodes) re-exports these mappings. See README "ComfyUI".
"""

from iva0.comfy.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
