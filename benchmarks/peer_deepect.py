"""clustpy's DeepECT in the peer environment: ``.venv-peers/bin/python benchmarks/peer_deepect.py``
is ``python -m dendrogen.bench.peer_deepect`` (the code and its options live there)."""

from dendrogen.bench.peer_deepect import main

if __name__ == "__main__":
    main()
