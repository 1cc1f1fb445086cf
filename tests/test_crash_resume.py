"""Crash test of exact resume: a TreeVAE fit in a subprocess is SIGKILLed at seeded random points
(in the middle of checkpoint writes, at random moments, during ``finetune``), rerun each time with
the same checkpoint folder, and the model it ends with must be bit-identical to an uninterrupted
fit: every tensor ``torch.equal``, the same tree, the same ``labels_`` and the same history.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

CHILD = Path(__file__).with_name("crash_child.py")

#: (where to count, which phase, kill mid-write or at a random moment after it): at least two
#: kills during finetune and at least two in the middle of a checkpoint write.
KILLS = [
    ("any", "mid-write"),
    ("any", "random"),
    ("subtree", "mid-write"),
    ("any", "random"),
    ("finetune", "mid-write"),
    ("finetune", "random"),
]


def _child(*args: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _run_and_kill(result: Path, ckpt: Path, phase: str, how: str, rng: random.Random) -> str:
    """Run the child until the k-th checkpoint write of ``phase`` (k random), then SIGKILL it.

    Returns what happened: "killed" or "finished" (the fit ended before the k-th write).
    """
    target = rng.randint(1, 6)
    seen = 0
    proc = _child(str(result), str(ckpt))
    try:
        for line in proc.stdout:
            if line.startswith("CRASHTEST done"):
                proc.wait(timeout=60)
                return "finished"
            if not line.startswith("CRASHTEST write"):
                continue
            written_phase = line.split()[2]
            if phase in ("any", written_phase):
                seen += 1
            if seen == target:
                if how == "random":  # let it go on, then kill wherever it is
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                    time.sleep(rng.uniform(0.0, 0.05))
                proc.send_signal(signal.SIGKILL)  # mid-write: it is waiting before trainer_state
                proc.wait(timeout=60)
                return "killed"
            proc.stdin.write("go\n")
            proc.stdin.flush()
        proc.wait(timeout=60)
        return "finished"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.heavy(seconds=30)
def test_sigkill_at_random_points_then_resume_gives_the_uninterrupted_model(tmp_path):
    reference_file = tmp_path / "reference.pt"
    subprocess.run(
        [sys.executable, str(CHILD), str(reference_file)],
        check=True,
        env=dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"),
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    reference = torch.load(reference_file, weights_only=True)

    rng = random.Random(20261202)
    ckpt = tmp_path / "ckpt"
    result = tmp_path / "resumed.pt"
    outcomes = []
    for phase, how in KILLS:
        outcomes.append((phase, how, _run_and_kill(result, ckpt, phase, how, rng)))
    killed = [o for o in outcomes if o[2] == "killed"]
    assert len(killed) >= 5, outcomes
    assert any(p == "finetune" for p, _, _ in killed), outcomes
    assert any(h == "mid-write" for _, h, _ in killed), outcomes
    assert not result.exists(), "a killed run must not have finished"

    # The last run goes to the end from whatever the kills left.
    proc = _child(str(result), str(ckpt))
    for line in proc.stdout:
        if line.startswith("CRASHTEST write"):
            proc.stdin.write("go\n")
            proc.stdin.flush()
    assert proc.wait(timeout=120) == 0
    resumed = torch.load(result, weights_only=True)

    assert resumed["tree"] == reference["tree"]
    assert sorted(resumed["state"]) == sorted(reference["state"])
    differing = [
        name
        for name, tensor in reference["state"].items()
        if not torch.equal(tensor, resumed["state"][name])
    ]
    assert not differing, f"{len(differing)} tensors differ, e.g. {differing[:5]}"
    assert torch.equal(resumed["labels"], reference["labels"])
    assert resumed["history"] == reference["history"]  # the losses logged per epoch too
