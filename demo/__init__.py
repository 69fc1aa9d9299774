"""`make demo` and `make demo-down`, the top floor: python -m demo up|down (see __main__.py)."""
