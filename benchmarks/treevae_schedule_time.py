"""Two TreeVAE schedules timed in the same run, fit by fit, as ratios.

The VM is shared and noisy, so fit times from different runs cannot be compared. This script fits
both variants on each seed back to back at one thread, in alternating order (A then B on even
seeds, B then A on odd ones, so a slow spell does not fall on one variant), and reports each
seed's time ratio B / A and their median, with each fit's scores (the same rows
``treevae_seeds.py`` gives, so quality comes along).

    python benchmarks/treevae_schedule_time.py --data digits-all --seeds 0-4 \\
        --b schedule.subtree_epochs=10 --json benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
from treevae_seeds import fit_one, parse_seeds, parse_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="digits-all")
    ap.add_argument("--seeds", default="0-4", type=parse_seeds)
    ap.add_argument("--a", action="append", default=[], help="key=value of variant A (default)")
    ap.add_argument("--b", action="append", default=[], help="key=value of variant B")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    variants = {"A": parse_settings(args.a), "B": parse_settings(args.b)}
    rows: list[dict] = []
    started = time.perf_counter()
    for i, seed in enumerate(args.seeds):
        order = "AB" if i % 2 == 0 else "BA"
        pair = {}
        for name in order:
            pair[name] = fit_one((args.data, seed, variants[name], False))
            r = pair[name]
            print(f"seed {seed} {name}: DP {r.get('dp', 0):.3f} ACC {r.get('acc', 0):.3f} "
                  f"leaves {r['n_leaves']:.0f} fit {r['fit_s']:.1f} s", flush=True)  # fmt: skip
        ratio = pair["B"]["fit_s"] / pair["A"]["fit_s"]
        print(f"seed {seed}: fit time B / A = {ratio:.3f}", flush=True)
        rows.append({"seed": seed, "order": order, "A": pair["A"], "B": pair["B"], "ratio": ratio})
    ratios = np.asarray([r["ratio"] for r in rows])
    wall = time.perf_counter() - started
    print(f"\n{args.data}, seeds {args.seeds}, A {variants['A'] or 'default'}, "
          f"B {variants['B'] or 'default'}; wall {wall:.0f} s")  # fmt: skip
    print(f"fit time B / A: median {np.median(ratios):.3f}, "
          f"range {ratios.min():.3f}–{ratios.max():.3f}")  # fmt: skip
    for name in "AB":
        for key in ("dp", "acc"):
            v = np.asarray([r[name][key] for r in rows])
            print(f"{name} {key}: {v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "data": args.data, "variants": variants, "date": str(date.today()),
            "machine": platform.processor() or platform.machine(), "threads": 1, "rows": rows,
        }  # fmt: skip
        args.json.write_text(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
