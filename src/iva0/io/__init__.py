"""Images in, videos out: iva0.io.image (read pictures), iva0.io.video (MP4/GIF/PNG), iva0.io.overlay (boxes drawn), iva0.io.atomic (write-then-rename)."""
