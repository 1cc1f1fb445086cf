"""Training step time of HTVAE and SOM-VAE (batch 32, 28×28 images), and what 20 epochs of the
paper's Fashion-MNIST split (59,400 images, 37,120 steps) would take at that speed.

    .venv/bin/python benchmarks/htvae_step_time.py --threads 2 --widths 16 32
"""

from __future__ import annotations

import argparse
import time

import torch

from dendrogen.models.htvae import HTVAEConfig, HTVAEModel
from dendrogen.models.somvae import SOMVAEConfig, SOMVAEModel

STEPS_20_EPOCHS = 20 * 59_400 // 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--widths", type=int, nargs=2, default=(32, 64))
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape, w = (1, 28, 28), tuple(args.widths)
    models = {
        "HTVAE": HTVAEModel(HTVAEConfig(input_shape=shape, widths=w)),
        "SOM-VAE": SOMVAEModel(SOMVAEConfig(input_shape=shape, widths=w)),
    }
    x = torch.rand(32, *shape)
    for name, model in models.items():
        opt = torch.optim.Adam(model.parameters(), 5e-4)
        for i in range(10 + args.steps):
            if i == 10:
                start = time.perf_counter()
            loss = model(x)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        step = (time.perf_counter() - start) / args.steps
        print(f"{name} widths {w}, {args.threads} threads: {step * 1000:.1f} ms/step, "
              f"20 epochs ≈ {step * STEPS_20_EPOCHS / 60:.1f} min")  # fmt: skip


if __name__ == "__main__":
    main()
