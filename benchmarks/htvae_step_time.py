"""Training step time of HTVAE and SOM-VAE (batch 32, 28×28 images), and what 20 epochs of the
paper's Fashion-MNIST split (59,400 images, 37,120 steps) would take at that speed.

    .venv/bin/python benchmarks/htvae_step_time.py --threads 2 --widths 16 32
    .venv/bin/python benchmarks/htvae_step_time.py --threads 1 --precision fp32 bf16 --rounds 5

With several ``--precision`` values, rounds of each are interleaved (so machine noise hits them
alike) and the last line gives the ratio of their median step times. ``--profile N`` then
profiles N more steps of each model (``torch.profiler``) and prints the operators that take the
most time, by input shape, as shares of the step, with the step's FLOP count.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from dendrogen.models.htvae import HTVAEConfig, HTVAEModel
from dendrogen.models.somvae import SOMVAEConfig, SOMVAEModel
from dendrogen.training.schedules import autocast

STEPS_20_EPOCHS = 20 * 59_400 // 32


def step(run: tuple, precision: str, x: torch.Tensor) -> None:
    """One Adam step of ``run`` = (model, optimizer, times) on the batch ``x``."""
    model, opt, _ = run
    with autocast(precision, x.device):
        loss = model(x)["loss"]
    opt.zero_grad()
    loss.backward()
    opt.step()


def print_profile(one_step: Callable[[], None], steps: int) -> None:
    """A training step's FLOPs, then its 15 costliest operators by input shape over ``steps``
    calls of ``one_step`` (also used by treevae_step_time.py)."""
    with FlopCounterMode(display=False) as flops:
        one_step()
    print(f"{flops.get_total_flops() / 1e9:.2f} GFLOP a step, forward and backward")
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            one_step()
    ops = prof.key_averages(group_by_input_shape=True)
    total = sum(op.self_cpu_time_total for op in ops)
    for op in sorted(ops, key=lambda op: -op.self_cpu_time_total)[:15]:
        shapes = [s for s in op.input_shapes if s][:3]
        print(f"  {100 * op.self_cpu_time_total / total:5.1f}%  {op.key:32s} {shapes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--widths", type=int, nargs=2, default=(32, 64))
    parser.add_argument("--steps", type=int, default=50, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32"])
    parser.add_argument("--models", nargs="+", choices=("HTVAE", "SOM-VAE"),
                        default=["HTVAE", "SOM-VAE"])  # fmt: skip
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="then profile N steps and print the costliest operators",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape, w = (1, 28, 28), tuple(args.widths)
    build = {
        "HTVAE": lambda: HTVAEModel(HTVAEConfig(input_shape=shape, widths=w)),
        "SOM-VAE": lambda: SOMVAEModel(SOMVAEConfig(input_shape=shape, widths=w)),
    }
    x = torch.rand(32, *shape)
    for name in args.models:
        runs = {}
        for precision in args.precision:
            model = build[name]()
            runs[precision] = (model, torch.optim.Adam(model.parameters(), 5e-4), [])

        for precision in args.precision:  # warm-up
            for _ in range(10):
                step(runs[precision], precision, x)
        for _ in range(args.rounds):
            for precision in args.precision:
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(runs[precision], precision, x)
                runs[precision][2].append((time.perf_counter() - start) / args.steps)
        for precision, (_, _, times) in runs.items():
            ms = statistics.median(times)
            print(f"{name} widths {w}, {precision}, {args.threads} threads: "
                  f"{ms * 1000:.1f} ms/step (median of {len(times)} rounds), "
                  f"20 epochs ≈ {ms * STEPS_20_EPOCHS / 60:.1f} min")  # fmt: skip
        if len(args.precision) > 1:
            base = statistics.median(runs[args.precision[0]][2])
            for precision in args.precision[1:]:
                ratio = base / statistics.median(runs[precision][2])
                print(f"{name}: {precision} step is {ratio:.2f}x as fast as {args.precision[0]}")
        if args.profile:
            for precision in args.precision:
                print(f"{name}, {precision}:")
                print_profile(lambda r=runs[precision], p=precision: step(r, p, x), args.profile)


if __name__ == "__main__":
    main()
