"""Metrics for animated videos: trajectory faithfulness, object and background
consistency, afterimage, temporal smoothness (DESIGN.md, "Benchmark")."""

from iva0.metrics.boxes import box_iou, clip_boxes
from iva0.metrics.consistency import object_psnr, object_ssim
from iva0.metrics.tracking import TrackResult, track_box, viou, viou_at

__all__ = ["TrackResult", "box_iou", "clip_boxes", "object_psnr", "object_ssim", "track_box", "viou", "viou_at"]
