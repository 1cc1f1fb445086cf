"""Test-wide settings.

Tests run torch on one thread: the suite is many small models, for which a second OpenMP thread
buys little, and on a machine where other work competes for the cores, OpenMP threads spinning at
barriers can make each step tens of times slower. One thread also keeps results reproducible.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)

import pytest  # noqa: E402


@pytest.fixture
def cli():
    """``cli(*args)`` runs ``dendrogen ARGS...`` in-process and fails the test on a non-zero
    exit, showing the command's output."""
    from typer.testing import CliRunner

    from dendrogen.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result

    return invoke


def pytest_collection_modifyitems(config, items):
    """Order the tests for `make test`'s two pytest-xdist workers: the tests marked
    ``heavy(seconds=...)`` go first, longest first, so that they run beside the many short tests
    instead of leaving one worker busy alone at the end."""

    def seconds(item) -> float:
        heavy = item.get_closest_marker("heavy")
        return heavy.kwargs["seconds"] if heavy else 0.0

    items.sort(key=seconds, reverse=True)  # stable: the rest keep their order
