import os

# Tests never touch the network or a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# ... nor the user's Hugging Face cache: `--segmenter auto` would pick a SAM 2 model cached there
# (tests that need a cache build their own and point huggingface_hub's constants at it)
os.environ["HF_HUB_CACHE"] = os.path.join(os.path.abspath(os.sep), "nonexistent", "iva0-tests-hf-cache")

import torch  # noqa: E402

# Tiny models are dominated by thread hand-offs: one thread is 10-40x faster on
# a busy 2-core machine and no slower on an idle one.
torch.set_num_threads(1)
