"""Benchmarks: cancelkit against bare httpx and the official SDKs, side by side.

``python -m benchmarks`` (``make bench``) writes ``benchmarks/RESULTS.md``;
``python -m benchmarks --smoke`` runs a few iterations of everything (``make test``).
"""
