"""The papers' tables in one command (the same as ``dendrogen bench``; the code lives in
:mod:`dendrogen.bench.paper_tables`, whose docstring describes the protocol and the output).

    python benchmarks/paper_tables.py --data digits --seeds 0 1 2 --out runs/tables
    python benchmarks/paper_tables.py --data fashion-mnist --seeds 0 1 2 --table htvae
"""

from dendrogen.bench.paper_tables import main

if __name__ == "__main__":
    main()
