"""The papers' tables and the peer library's runs (``dendrogen bench``).

:mod:`dendrogen.bench.paper_tables` fits and scores every row of a paper table;
:mod:`dendrogen.bench.peer_deepect` runs clustpy's DeepECT inside the peer environment
(``make peers``) and is never imported by the main one.
"""
