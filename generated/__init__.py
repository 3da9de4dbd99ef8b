"""The clients openapi-python-client generates from specs/ (scripts/regenerate.py).

Never edited by hand; private: ``cancelkit`` re-exports the names users need.
"""
