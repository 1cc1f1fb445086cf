"""``python -m dendrogen``: the command line, so that ``torchrun -m dendrogen fit ...`` works."""

from dendrogen.cli import app

if __name__ == "__main__":
    app(prog_name="dendrogen")
