"""Change a layout's length, keeping its motion: key frames scale with the video."""

from __future__ import annotations

from iva0.layout import Layout, parse_layout


def retime_layout(layout: Layout, num_frames: int) -> Layout:
    """The same key boxes spread over `num_frames` frames (key frame k -> round(k (N-1)/(F-1))).

    Used by `bench run --frames` and by evaluation of videos whose length differs
    from the layout's: the motion then spans the whole video. When two keys land
    on the same frame the later one wins (the motion's end matters more).
    """
    if num_frames == layout.num_frames:
        return layout
    scale = (num_frames - 1) / (layout.num_frames - 1)
    data = layout.to_dict()
    data["num_frames"] = num_frames
    for obj in data["objects"] + ([data["camera"]] if "camera" in data else []):  # the camera's keys alike
        keys: dict[int, list[float]] = {}
        for kf in obj["keyframes"]:
            keys[round(kf["frame"] * scale)] = kf["box"]
        keys[0] = obj["keyframes"][0]["box"]  # the frame-0 key is where the object is; never replaced
        obj["keyframes"] = [{"frame": f, "box": b} for f, b in sorted(keys.items())]
    return parse_layout(data)
