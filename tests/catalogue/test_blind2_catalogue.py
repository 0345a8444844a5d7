"""A definition's default title (the second blind mutation audit's survivor, docs/mutation.md)."""
from __future__ import annotations

from ttfs_symbolic.catalogue import parse_definition


def test_a_definition_without_title_is_titled_by_its_name():
    assert parse_definition({"name": "square", "f": "x**2"}).title == "square"
    assert parse_definition({"name": "square", "f": "x**2", "title": "Square"}).title == "Square"
