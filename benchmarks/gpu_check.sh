#!/usr/bin/env bash
# One call on a lent GPU machine (the workplace's `device` tool), planned to end inside its
# budget: the GPU tests, then Fashion-MNIST fits on the GPU side by side, all at once.
#
#   - tests/test_gpu.py (`pytest -m gpu`): fit, predict and sample on CUDA, bf16 autocast;
#   - TreeVAE, the `fast` preset: the 20-leaf run (DP, LP) and the 10-leaf run (ACC, NMI, and
#     the full tree's training throughput) for seeds 0, 1, 2: six processes sharing the GPU;
#   - HTVAE, 20 epochs at the spec's widths 32/64 in fp32, seed 0.
#
# Processes still running at the deadline are stopped; their logs say how far they got.
# Needs the Fashion-MNIST IDX files under $DENDROGEN_DATA/fashion-mnist (default .gpudata/,
# which the call carries). Everything lands in $OUT: gpu_tests.log, results.json (every
# finished fit's row), logs.tar.gz.
#
#   DEADLINE=480 bash benchmarks/gpu_check.sh
#   SMOKE=1 bash benchmarks/gpu_check.sh   # the same plumbing on the CPU in a minute
set -u
DEVICE=cuda TREEVAE_ARGS="" HTVAE_ARGS="--epochs 20"
if [ -n "${SMOKE:-}" ]; then
    DEVICE=cpu TREEVAE_ARGS="--preset tiny --limit 600" HTVAE_ARGS="--epochs 1 --train-limit 600"
fi
OUT=${OUT:-runs/gpu_check}
DEADLINE=${DEADLINE:-480}
RUNS=runs/gpu
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15
export DENDROGEN_DATA=${DENDROGEN_DATA:-$PWD/.gpudata}
start=$(date +%s)
PYTHON=${PYTHON:-python3}
nvidia-smi -L
$PYTHON -c "import torch, sys; print(sys.version.split()[0], torch.__version__)"
nproc

for run in dp acc; do
    for seed in 0 1 2; do
        $PYTHON benchmarks/treevae_fashion.py --device $DEVICE --runs $run --seeds $seed \
            --threads 2 --ll-samples 0 --out $RUNS/$run$seed $TREEVAE_ARGS \
            >$RUNS/$run$seed.log 2>&1 &
    done
done
$PYTHON benchmarks/htvae_fashion.py --models htvae --seeds 0 --widths 32 64 $HTVAE_ARGS \
    --threads 2 --param map_sizes=16x16,4x4,2x2 --param device=$DEVICE \
    --json $RUNS/htvae.jsonl >$RUNS/htvae.log 2>&1 &

timeout 240 $PYTHON -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider >"$OUT/gpu_tests.log" 2>&1
echo "gpu tests: exit $? after $(($(date +%s) - start)) s"
tail -3 "$OUT/gpu_tests.log"

while [ -n "$(jobs -r)" ] && [ $(($(date +%s) - start)) -lt "$DEADLINE" ]; do
    sleep 5
done
echo "stopping at $(($(date +%s) - start)) s; still running: $(jobs -r | wc -l)"
kill $(jobs -rp) 2>/dev/null
sleep 2

$PYTHON - "$RUNS" "$OUT/results.json" <<'EOF'
import json, sys
from pathlib import Path

runs, rows = Path(sys.argv[1]), []
for f in sorted(runs.glob("*/results.json")):
    rows += json.loads(f.read_text())["runs"]
htvae = runs / "htvae.jsonl"
if htvae.exists():
    rows += [json.loads(line) for line in htvae.read_text().splitlines() if line.strip()]
Path(sys.argv[2]).write_text(json.dumps(rows, indent=1))
for r in rows:
    keys = ("run", "seed", "n_leaves", "fit_seconds", "dp", "lp", "acc", "nmi",
            "train_samples_per_s_full_tree", "predict_proba_seconds")
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k in keys}
          if "run" in r else {k: v for k, v in r.items() if not isinstance(v, (list, dict))})
EOF
for log in "$RUNS"/*.log; do  # the last progress line of each, for the rate where unfinished
    echo "== $log: $(tr '\r' '\n' <"$log" | grep -v '^\s*$' | tail -1 | cut -c1-200)"
done
tar czf "$OUT/logs.tar.gz" "$RUNS"/*.log
