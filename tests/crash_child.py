"""The child process of ``test_crash_resume.py``: fits a tiny TreeVAE on fixed synthetic data and
writes its weights and labels to a file.

    python crash_child.py RESULT [CHECKPOINT_DIR]

With a checkpoint folder, it checkpoints after every optimizer step, and every checkpoint write
stops half-way (after config.json, tree.json and model.safetensors, before trainer_state.pt),
prints ``CRASHTEST write <phase>`` and waits for a line on stdin, so that the parent can SIGKILL
it at a chosen point: in the middle of a write, or at a random moment after letting it go on.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

torch.set_num_threads(1)

from dendrogen import TreeVAE  # noqa: E402 - after fixing the thread count
from dendrogen.training import checkpoint as checkpoint_module  # noqa: E402

# With these settings the tree splits leaf 2 before leaf 1 and keeps its 4 leaves, so a model
# rebuilt from tree.json (nodes breadth-first: decoders 5, 6, 3, 4) lists its parameters in
# another order than the grown one (decoders 3, 4, 5, 6): positional optimizer state would land
# on the wrong tensors in finetune. (No likelihood probe: it could change the likelihood, and
# so the tree, on these blobs.)
PARAMS = dict(
    max_leaves=4, max_depth=2, latent_dim=2, width=16, batch_size=32, random_state=4,
    schedule=dict(initial=60, subtree=30, intermediate=0, finetune=20, likelihood_probe=0),
    checkpoint_every=0.0,
)  # fmt: skip


def data() -> np.ndarray:
    """Two groups of two blobs in [0, 1]^12, 256 rows: (256, 12) float32."""
    rng = np.random.default_rng(11)
    top = rng.uniform(0.2, 0.8, size=(2, 12))
    centres = np.concatenate([top[i] + rng.normal(0, 0.2, size=(2, 12)) for i in range(2)])
    X = centres[rng.integers(0, 4, size=256)] + rng.normal(0, 0.03, size=(256, 12))
    return np.clip(X, 0, 1).astype(np.float32)


def pause_mid_write() -> None:
    """Make every checkpoint write stop half-way and ask the parent whether to go on."""
    original_save = checkpoint_module.torch.save
    phase_of_write = {"name": "boundary"}
    original_checkpoint_save = checkpoint_module.Checkpoint.save

    def checkpoint_save(self, tensors, **kwargs):
        phase = kwargs.get("phase")
        phase_of_write["name"] = phase.phase if phase is not None else "boundary"
        return original_checkpoint_save(self, tensors, **kwargs)

    def paused_save(obj, path, *args, **kwargs):
        print(f"CRASHTEST write {phase_of_write['name']}", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit(3)
        return original_save(obj, path, *args, **kwargs)

    checkpoint_module.Checkpoint.save = checkpoint_save
    checkpoint_module.torch.save = paused_save


def main() -> None:
    result = sys.argv[1]
    checkpoint_dir = sys.argv[2] if len(sys.argv) > 2 else None
    if checkpoint_dir is not None:
        pause_mid_write()
    X = data()
    model = TreeVAE(**PARAMS).fit(X, checkpoint_dir=checkpoint_dir)
    if checkpoint_dir is not None:
        checkpoint_module.torch.save = torch.serialization.save  # write the result unpaused
    state = {k: v.detach().clone() for k, v in model.module_.state_dict().items()}
    torch.serialization.save(
        {
            "state": state,
            "labels": torch.from_numpy(model.labels_),
            "tree": model.tree_.to_dict(),
            "history": json.dumps(model.history_),
        },
        result,
    )
    print("CRASHTEST done", flush=True)


if __name__ == "__main__":
    main()
