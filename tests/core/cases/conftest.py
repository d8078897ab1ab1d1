"""Case tests use the shared fixtures of tests/fixtures/cases.py (city, make_case)."""

from tests.fixtures.cases import MakeCase

__all__ = ["MakeCase"]
