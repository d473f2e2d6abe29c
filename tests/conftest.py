import os

# Tests never touch the network or a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402

# Tiny models are dominated by thread hand-offs: one thread is 10-40x faster on
# a busy 2-core machine and no slower on an idle one.
torch.set_num_threads(1)
