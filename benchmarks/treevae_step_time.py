"""TreeVAE training throughput on Fashion-MNIST-sized input (1×28×28, batch 256, the paper's
networks) for the trees the schedule trains, and the time the `paper` preset would take.

Measures samples/s of one Adam step of: the initial 2-leaf tree, a subtree step (two new leaves
under a frozen 9-leaf tree, the growth phase's cost), and full 6- and 10-leaf trees. The `paper`
preset on Fashion-MNIST (10 leaves) trains 150 initial epochs, 8 subtrees × 150 epochs, 2
intermediate phases × 80 epochs (trees of about 4 and 7 leaves) and 200 fine-tuning epochs of the
10-leaf tree, each of 60,000 images (treevae.md §3–4).

    .venv/bin/python benchmarks/treevae_step_time.py --threads 2
    .venv/bin/python benchmarks/treevae_step_time.py --threads 1 --eps 0 0.001
    .venv/bin/python benchmarks/treevae_step_time.py --threads 1 --compile --steps 10
    python3 benchmarks/treevae_step_time.py --device cuda --eps 0 0.001   # on a GPU

``--compile`` times the 10-leaf step eagerly and under ``torch.compile`` (inductor) in
interleaved rounds and prints the ratio; the first compiled step (the compilation) is timed apart.

``--optimizers`` times a step with the Trainer's flat Adam and with per-tensor fused Adam
(training/optimizer.py) in interleaved rounds: fresh 10- and 20-leaf trees, or with ``--fitted``
saved Fashion-MNIST TreeVAEs on real batches at ``--eps`` (default 1e-3, sparse decoding); then
the time of each part of a step, and with ``--profile N`` the flat step's costliest operators.

``--eps`` times each full tree once per sparse-decoding threshold ε in interleaved rounds and
prints the ratio to the first; a freshly built tree routes its rows almost uniformly, so this
shows the cost of the sparse path where it skips little (a fitted tree: treevae_vs_reference.py
``--fitted``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from htvae_step_time import print_profile

from dendrogen.models.treevae.config import TreeVAEConfig
from dendrogen.models.treevae.model import TreeVAEModel
from dendrogen.training.optimizer import make_adam, make_optimizer

N_TRAIN = 60_000
#: Where the trees are built and timed (``--device``).
DEVICE = torch.device("cpu")


def synchronize() -> None:
    """Waits for the GPU's queued work, so that a host clock times it (a no-op on the CPU)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def grown(n_leaves: int) -> TreeVAEModel:
    """A tree grown breadth-first (shallowest, lowest-id leaf first) to ``n_leaves`` leaves."""
    model = TreeVAEModel(TreeVAEConfig(input_shape=(1, 28, 28)))
    while len(model.tree.leaves) < n_leaves:
        model.split_leaf(min(model.tree.leaves, key=lambda n: (model.tree.depth(n), n)))
    return model.to(DEVICE)


def samples_per_second(
    model: TreeVAEModel, loss, params, steps: int, build=make_optimizer, x=None
) -> float:
    x = torch.rand(256, 1, 28, 28, device=DEVICE) if x is None else x.to(DEVICE)
    opt = build(list(params), 1e-5, 1e-5, DEVICE)
    model.train()
    for i in range(3 + steps):
        if i == 3:
            synchronize()
            start = time.perf_counter()
        value = loss(x)
        opt.zero_grad()
        value.backward()
        opt.step()
    synchronize()
    return steps * 256 / (time.perf_counter() - start)


def compare_eps(values: list[float], steps: int, rounds: int) -> None:
    """Full-tree step rates per ε, rounds interleaved, and each ratio to the first ε."""
    for leaves in (2, 4, 6, 10):
        model = grown(leaves)
        rates: dict[float, list[float]] = {eps: [] for eps in values}
        for _ in range(rounds):
            for eps in values:
                rates[eps].append(samples_per_second(
                    model, lambda x, e=eps, m=model: m.loss(x, 1.0, eps=e)["loss"],
                    model.parameters(), steps,
                ))  # fmt: skip
        first = statistics.median(rates[values[0]])
        print(f"full {leaves}-leaf tree: " + ", ".join(
            f"eps={eps:g} {statistics.median(r):,.0f} samples/s "
            f"({statistics.median(r) / first:.2f}x)" for eps, r in rates.items()
        ), flush=True)  # fmt: skip


def step_parts(model: TreeVAEModel, loss, opt, x: torch.Tensor, steps: int) -> list[float]:
    """Median milliseconds of a step's forward pass, zeroing + backward, and optimizer step."""
    parts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        value = loss(x)
        t1 = time.perf_counter()
        opt.zero_grad()
        value.backward()
        t2 = time.perf_counter()
        opt.step()
        parts.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
    return [1000 * statistics.median(column) for column in zip(*parts, strict=True)]


def compare_optimizers(
    steps: int, rounds: int, fitted: list[str], eps: float, profile_steps: int = 0
) -> None:
    """The full tree's step with the Trainer's flat Adam and with per-tensor fused Adam
    (training/optimizer.py), rounds interleaved: fresh 10- and 20-leaf trees at ε = 0, or each
    ``fitted`` TreeVAE (a saved model folder) at ``eps`` on Fashion-MNIST batches, where sparse
    decoding makes the step short and the optimizer's share of it larger. Then the step's parts
    with each optimizer, and with ``profile_steps`` the flat step's costliest operators."""
    if fitted:
        from dendrogen import load, load_dataset

        X, _ = load_dataset("fashion-mnist", split="train")
        x = torch.from_numpy(X[:256].copy())
        trees = {path: (lambda p=path: load(p).module_) for path in fitted}
    else:
        x, eps = torch.rand(256, 1, 28, 28), 0.0
        trees = {f"fresh {n}-leaf tree": (lambda n=n: grown(n)) for n in (10, 20)}
    builds = {"flat": make_optimizer, "per-tensor": make_adam}
    for label, build_tree in trees.items():
        models = {name: build_tree() for name in builds}
        losses = {
            name: (lambda b, m=m: m.loss(b, 1.0, eps=eps)["loss"]) for name, m in models.items()
        }
        rates: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(rounds):
            for name, model in models.items():
                rates[name].append(samples_per_second(
                    model, losses[name], model.parameters(), steps, builds[name], x,
                ))  # fmt: skip
        flat, per_tensor = (statistics.median(rates[k]) for k in ("flat", "per-tensor"))
        leaves = len(models["flat"].tree.leaves)
        print(
            f"{label} ({leaves} leaves, eps={eps:g}): flat Adam {flat:,.0f} samples/s, "
            f"per-tensor Adam {per_tensor:,.0f} ({flat / per_tensor:.2f}x)",
            flush=True,
        )
        opts = {}
        for name, model in models.items():
            opts[name] = builds[name](list(model.parameters()), 1e-5, 1e-5, torch.device("cpu"))
            step_parts(model, losses[name], opts[name], x, 3)  # warm-up
        for name, model in models.items():
            forward, backward, adam = step_parts(model, losses[name], opts[name], x, 3 * steps)
            print(f"  {name} Adam, ms a step: forward {forward:.1f}, zeroing and backward "
                  f"{backward:.1f}, optimizer {adam:.1f}", flush=True)  # fmt: skip
        if profile_steps:
            model, opt = models["flat"], opts["flat"]

            def one_step(model=model, opt=opt, loss=losses["flat"]) -> None:
                value = loss(x)
                opt.zero_grad()
                value.backward()
                opt.step()

            print_profile(one_step, profile_steps)


def compare_compiled(steps: int, rounds: int, leaves: int = 10) -> None:
    """The full tree's step eager and under ``torch.compile``, rounds interleaved."""
    model = grown(leaves)
    eager = lambda x: model.loss(x, 1.0)["loss"]  # noqa: E731
    compiled = torch.compile(eager)
    start = time.perf_counter()
    compiled(torch.rand(256, 1, 28, 28, device=DEVICE)).backward()
    synchronize()
    print(f"compilation and first step: {time.perf_counter() - start:.0f} s", flush=True)
    rates: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(rounds):
        for name, loss in (("eager", eager), ("compiled", compiled)):
            rates[name].append(samples_per_second(model, loss, model.parameters(), steps))
    eager_rate, compiled_rate = (statistics.median(rates[k]) for k in ("eager", "compiled"))
    print(f"full {leaves}-leaf tree: eager {eager_rate:,.0f} samples/s, compiled "
          f"{compiled_rate:,.0f} ({compiled_rate / eager_rate:.2f}x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eps", type=float, nargs="+", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help='"cpu" (default) or "cuda"')
    parser.add_argument("--compile", action="store_true", help="eager against torch.compile")
    parser.add_argument("--optimizers", action="store_true",
                        help="the Trainer's flat Adam against per-tensor Adam")  # fmt: skip
    parser.add_argument("--fitted", nargs="*", default=[],
                        help="with --optimizers: saved TreeVAE folders to time")  # fmt: skip
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="with --optimizers: profile N flat-Adam steps")  # fmt: skip
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.compile:
        compare_compiled(args.steps, args.rounds)
        return
    if args.optimizers:
        compare_optimizers(
            args.steps, args.rounds, args.fitted, (args.eps or [1e-3])[0], args.profile
        )
        return
    if args.eps:
        compare_eps(args.eps, args.steps, args.rounds)
        return
    rates = {}
    for leaves in (2, 4, 6, 7, 10):
        model = grown(leaves)
        rates[leaves] = samples_per_second(
            model, lambda x, m=model: m.loss(x, 1.0)["loss"], model.parameters(), args.steps
        )
        print(f"full {leaves}-leaf tree: {rates[leaves]:,.0f} samples/s", flush=True)
    model = grown(9)
    leaf = model.tree.leaves[-1]
    model.split_leaf(leaf)
    new = model.node_modules(model.tree.children(leaf))
    params = [p for m in new for p in m.parameters()]
    params += [*model.post_routers[str(leaf)].parameters()]
    params += [*model.prior_routers[str(leaf)].parameters()]
    rates["subtree"] = samples_per_second(
        model, lambda x: model.subtree_loss(x, leaf, 1.0)["loss"], params, args.steps
    )
    print(f"subtree step (2 new leaves, 9 frozen): {rates['subtree']:,.0f} samples/s")
    epochs = {2: 150, "subtree": 8 * 150, 4: 80, 7: 80, 10: 200}
    hours = sum(n * N_TRAIN / rates[k] for k, n in epochs.items()) / 3600
    print(f"`paper` preset, 10 leaves, {sum(epochs.values())} epochs: ≈ {hours:.1f} h "
          f"of model steps at {args.threads} threads on {DEVICE.type}")  # fmt: skip


if __name__ == "__main__":
    main()
