"""Optional CLIP scores, only from a CLIP model folder on local disk (never downloaded).

- clip_text: mean over frames of the cosine similarity between the frame's CLIP
  image embedding and the sample's caption's text embedding (raw cosine, -1..1;
  the common "CLIPScore" is 100 x max(cos, 0)).
- clip_image: mean over frames f >= 1 of the cosine similarity between frame f's
  and frame 0's image embeddings (1 for a still video).

The folder is a transformers CLIPModel saved with safetensors, with its
tokenizer files (vocab.json, merges.txt) and preprocessor_config.json, e.g. a
local copy of openai/clip-vit-large-patch14.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iva0.errors import ModelError
from iva0.io.input_file import require_folder


@dataclass
class ClipScorer:
    model: object
    tokenizer: object
    processor: object
    device: str = "cpu"
    batch: int = 16

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> "ClipScorer":
        import torch
        from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

        p = require_folder(folder, "--clip: CLIP model folder", ModelError)
        missing = [f for f in ("config.json", "vocab.json", "merges.txt", "preprocessor_config.json") if not (p / f).is_file()]
        if not any(p.glob("*.safetensors")):
            missing.append("*.safetensors (weights)")
        if missing:
            raise ModelError(f"--clip: {p} lacks {', '.join(missing)} (a CLIPModel folder with tokenizer and preprocessor files)")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            model = CLIPModel.from_pretrained(str(p), local_files_only=True, use_safetensors=True).to(device).eval()
            tokenizer = CLIPTokenizer.from_pretrained(str(p), local_files_only=True)
            processor = CLIPImageProcessorPil.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError) as e:
            raise ModelError(f"--clip: cannot load a CLIP model from {p}: {e}") from None
        return cls(model=model, tokenizer=tokenizer, processor=processor, device=device)

    def image_embeddings(self, frames: np.ndarray) -> np.ndarray:
        """Unit-norm image embeddings (F, D) of RGB uint8 frames (F, H, W, 3)."""
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(frames), self.batch):
                px = self.processor(images=list(frames[i : i + self.batch]), return_tensors="pt")["pixel_values"]
                emb = self.model.get_image_features(pixel_values=px.to(self.device))
                emb = getattr(emb, "pooler_output", emb)  # transformers 5 may return an output object
                out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
        return np.concatenate(out)

    def text_embedding(self, text: str) -> np.ndarray:
        import torch

        tok = self.tokenizer([text], padding="max_length", truncation=True, max_length=self.tokenizer.model_max_length, return_tensors="pt")
        with torch.no_grad():
            emb = self.model.get_text_features(input_ids=tok["input_ids"].to(self.device), attention_mask=tok["attention_mask"].to(self.device))
            emb = getattr(emb, "pooler_output", emb)
        return torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy()[0]

    def __call__(self, frames: np.ndarray, caption: str) -> dict:
        img = self.image_embeddings(frames)  # (F, D)
        scores = {"clip_image": float((img[1:] @ img[0]).mean()) if len(img) > 1 else None}
        scores["clip_text"] = float((img @ self.text_embedding(caption)).mean()) if caption else None
        return scores
