"""Helpers shared by the test suite (importable as ``support``; pytest puts ``tests/`` on sys.path)."""
