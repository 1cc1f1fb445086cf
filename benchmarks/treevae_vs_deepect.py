"""TreeVAE (dendrogen) against DeepECT (clustpy, the peer library) on the same data, each at its
defaults and at the same wall-clock budget, interleaved seed by seed in one run so that the
machine's load falls on both alike.

    python benchmarks/treevae_vs_deepect.py --data digits --seeds 0 1 2 --out runs/vs_deepect

Per seed, one after another, each at one thread:

1. DeepECT at clustpy's defaults (its published budget: 100 pretraining + 150 clustering epochs),
   in the peer environment (``make peers``);
2. TreeVAE at dendrogen's defaults (``preset="fast"``), in this process;
3. DeepECT at TreeVAE's budget: both of its epoch counts scaled by the ratio of this seed's
   TreeVAE fit time to DeepECT's default fit time (step 1 and 2 of the same seed), so that its
   fit takes as long as TreeVAE's did. DeepECT's budget is two epoch counts whose cost is
   proportional to them, so this scaling is faithful; TreeVAE's is four phase budgets, an epoch
   cap and a growth schedule, which do not scale as one knob. The fit time actually taken is
   reported beside the target.

``--treevae-at-deepect-time REF.json`` runs the other direction, per seed: DeepECT at its
defaults, then TreeVAE with every phase budget of its preset (steps and epoch cap) scaled by
the ratio of that DeepECT fit time to TreeVAE's default fit time of the same seed in the earlier
run ``REF.json`` (this script's record; TreeVAE's default fits are not repeated).

Both are fitted on the train split and scored on the test split with dendrogen's metrics (DP,
LP on the tree of ``--leaves`` leaves; ACC, NMI on its leaves as clusters: with ``--leaves``
equal to the number of classes, the same fit). Fit time is the model's ``fit`` alone (no
process start, imports, data loading or scoring). Output in ``--out``: ``vs_deepect_<data>.json``
(every row, the summary) and ``.md``; the TreeVAE rows are in the paper table's row format
(method ``TreeVAE``), so ``dendrogen bench --merge`` can take them.

``--merge A.json B.json ...`` summarises the rows of earlier records of this script (say, one
process per seed run side by side) into one table, without fitting anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from dendrogen.bench.paper_tables import (
    PEERS_PYTHON,
    load_split,
    run_peer_process,
    score_peer,
    summarize,
)

METRICS = ("dp", "lp", "acc", "nmi")
DEEPECT_DEFAULT = "DeepECT (clustpy), defaults"
TREEVAE_DEFAULT = "TreeVAE"
DEEPECT_MATCHED = "DeepECT (clustpy), TreeVAE's fit time"
TREEVAE_MATCHED = "TreeVAE, DeepECT's fit time"
#: clustpy's default epochs (the published budget; dendrogen.bench.peer_deepect's "paper").
DEEPECT_EPOCHS = {"pretrain_epochs": 100, "clustering_epochs": 150}


def deepect(args, seed: int, n_classes: int, name: str, epochs: dict | None = None) -> dict:
    options = ["--data", args.data, "--seed", str(seed), "--preset", "paper",
               "--max-leaves", str(args.leaves), "--n-classes", str(n_classes)]  # fmt: skip
    for key, value in (epochs or {}).items():
        options += [f"--{key.replace('_', '-')}", str(value)]
    if args.limit:
        options += ["--limit", str(args.limit)]
    tag = "default" if epochs is None else "matched"
    out_file = args.out / f"deepect_{tag}_{args.data}_seed{seed}.json"
    result = run_peer_process(args.peers, options, out_file)
    scores = score_peer(result)
    row = {"method": name, "seed": seed, "fit_s": round(result["times"]["fit_s"], 1)}
    return row | {k: scores[k] for k in (*METRICS, "n_leaves")} | {"epochs": result["budget"]}


def treevae(args, seed: int, X, Xt, yt, schedule: dict | None = None) -> dict:
    from dendrogen import TreeVAE

    model = TreeVAE(max_leaves=args.leaves, preset=args.treevae_preset, random_state=seed,
                    schedule=schedule)  # fmt: skip
    start = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - start
    scores = model.evaluate(Xt, yt)
    name = TREEVAE_DEFAULT if schedule is None else TREEVAE_MATCHED
    row = {"method": name, "seed": seed, "fit_s": round(seconds, 1)}
    row |= {k: float(scores[k]) for k in (*METRICS, "n_leaves")}
    return row if schedule is None else row | {"schedule": schedule}


def scaled_schedule(preset: str, ratio: float) -> dict:
    """TreeVAE's phase budgets of ``preset`` (steps, and the epoch cap) times ``ratio``."""
    from dendrogen.training.presets import TREEVAE_PRESETS

    schedule = TREEVAE_PRESETS[preset]["schedule"]
    if schedule["unit"] != "steps":
        raise SystemExit(f"preset {preset!r} counts epochs; scaling needs a steps preset")
    out = {k: max(1, round(schedule[k] * ratio)) if schedule[k] else 0
           for k in ("initial", "subtree", "intermediate", "finetune")}  # fmt: skip
    if schedule.get("max_epochs"):
        out["max_epochs"] = schedule["max_epochs"] * ratio
    return out


def matched_epochs(target_s: float, default_s: float) -> dict:
    """DeepECT's default epochs scaled by ``target_s / default_s`` (at least one each)."""
    ratio = target_s / default_s
    return {k: max(1, round(v * ratio)) for k, v in DEEPECT_EPOCHS.items()}


def markdown(summary: dict, rows: list[dict]) -> str:
    lines = ["| method | DP | LP | ACC | NMI | leaves | fit s | seeds |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for method, stats in summary.items():
        cells = [f"{100 * stats[m]['mean']:.1f} ± {100 * stats[m]['std']:.1f}" for m in METRICS]
        leaves = [r["n_leaves"] for r in rows if r["method"] == method]
        fit = stats["fit_s"]
        lines.append(f"| {method} | {' | '.join(cells)} | {min(leaves):.0f}–{max(leaves):.0f} | "
                     f"{fit['mean']:.0f} ± {fit['std']:.0f} | {stats['dp']['n']} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--leaves", type=int, default=10, help="max leaves of both trees")
    ap.add_argument("--treevae-preset", default="fast", help="TreeVAE's default: fast")
    ap.add_argument("--limit", type=int, help="use the first N training samples")
    ap.add_argument("--peers", type=Path, default=PEERS_PYTHON, help="the peer env's python")
    ap.add_argument("--out", type=Path, default=Path("runs/vs_deepect"))
    ap.add_argument("--treevae-at-deepect-time", type=Path, metavar="REF.json",
                    help="the other direction: TreeVAE scaled to DeepECT's default fit time, "
                         "TreeVAE's default fit times taken from this earlier record")  # fmt: skip
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="RECORD.json",
        help="summarise the rows of these records of this script; fits nothing",
    )
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args, argv)
    reference = {}
    if args.treevae_at_deepect_time:
        rows = json.loads(args.treevae_at_deepect_time.read_text())["rows"]
        reference = {r["seed"]: r["fit_s"] for r in rows if r["method"] == TREEVAE_DEFAULT}
        missing = set(args.seeds) - set(reference)
        if missing:
            raise SystemExit(f"no TreeVAE default fit time for seeds {sorted(missing)}")
    if not args.peers.exists():
        raise SystemExit(f"{args.peers} does not exist: run `make peers`")
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    X, _, Xt, yt = load_split(args.data, args.limit)
    n_classes = len(np.unique(yt))
    started = time.perf_counter()
    rows: list[dict] = []
    for seed in args.seeds:
        default = deepect(args, seed, n_classes, DEEPECT_DEFAULT)
        if reference:  # TreeVAE at DeepECT's time, against its default time of the record
            schedule = scaled_schedule(args.treevae_preset, default["fit_s"] / reference[seed])
            matched = treevae(args, seed, X, Xt, yt, schedule)
            matched |= {"target_s": default["fit_s"], "default_fit_s": reference[seed]}
            done = (default, matched)
        else:
            tree = treevae(args, seed, X, Xt, yt)
            epochs = matched_epochs(tree["fit_s"], default["fit_s"])
            matched = deepect(args, seed, n_classes, DEEPECT_MATCHED, epochs)
            matched["target_s"] = tree["fit_s"]
            done = (default, tree, matched)
        for row in done:
            rows.append(row)
            print(json.dumps(row), flush=True)
    wall = time.perf_counter() - started
    return write(args, argv, rows, bool(reference), {"wall_s": round(wall, 1)})


def merge(args, argv: list[str] | None) -> dict:
    """The table of the rows of earlier records (``--merge``); they must agree on the setting."""
    records = [json.loads(path.read_text()) for path in args.merge]
    setting = {(r["data"], r["leaves"], r["treevae_preset"], limit_of(r),
                bool(r["treevae_reference"])) for r in records}  # fmt: skip
    if len(setting) > 1:
        raise SystemExit(f"records differ in data, leaves, preset, limit or direction: {setting}")
    first = records[0]
    args.data, args.leaves = first["data"], first["leaves"]
    args.treevae_preset, args.limit = first["treevae_preset"], limit_of(first)
    args.treevae_at_deepect_time = first["treevae_reference"] or None  # the direction, kept
    args.seeds = sorted({s for r in records for s in r["seeds"]})
    rows = [row for r in records for row in r["rows"]]
    extra = {"wall_s": None, "merged_from": [str(p) for p in args.merge],
             "commands": [r["command"] for r in records]}  # fmt: skip
    return write(args, argv, rows, bool(first["treevae_reference"]), extra)


def limit_of(record: dict) -> int | None:
    """The record's ``--limit``; records written before it was a field carry it in the command."""
    if "limit" in record:
        return record["limit"]
    words = record["command"].split()
    return int(words[words.index("--limit") + 1]) if "--limit" in words else None


def write(
    args, argv: list[str] | None, rows: list[dict], treevae_matched: bool, extra: dict
) -> dict:
    """Summarise ``rows`` and write ``vs_deepect_<data>[_treevae_matched].json`` and ``.md``."""
    methods = ((DEEPECT_DEFAULT, TREEVAE_MATCHED) if treevae_matched
               else (DEEPECT_DEFAULT, TREEVAE_DEFAULT, DEEPECT_MATCHED))  # fmt: skip
    summary = summarize(rows, methods, METRICS)
    table = markdown(summary, rows)
    record = {
        "data": args.data, "seeds": args.seeds, "leaves": args.leaves, "limit": args.limit,
        "treevae_preset": args.treevae_preset, "deepect_default_epochs": DEEPECT_EPOCHS,
        "treevae_reference": str(args.treevae_at_deepect_time or ""), "threads_per_fit": 1,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        **extra, "rows": rows, "summary": summary,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"vs_deepect_{args.data}{'_treevae_matched' if treevae_matched else ''}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1))
    subset = f", first {args.limit} training images" if args.limit else ""
    wall = "merged" if extra.get("wall_s") is None else f"wall {extra['wall_s']:.0f} s"
    title = (f"TreeVAE vs DeepECT, {args.data} (test split{subset}), seeds "
             f"{' '.join(map(str, args.seeds))}; %, mean ± std; {wall}")  # fmt: skip
    stem.with_suffix(".md").write_text(f"{title}\n\n{table}\n")
    print(f"{title}\n\n{table}\n\nwritten: {stem}.md, .json")
    return record


if __name__ == "__main__":
    main()
