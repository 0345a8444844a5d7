"""The size limit of the files a user names, at its boundary (the second blind mutation audit's survivor,
docs/mutation.md)."""
from __future__ import annotations

import pytest

from ttfs_symbolic.userfiles import check_regular_file, read_regular_file


def test_a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_refused(tmp_path):
    path = tmp_path / "conv.json"
    path.write_bytes(b"x" * 64)
    assert check_regular_file(path, "conversion file", 64) == path
    assert read_regular_file(path, "conversion file", 64) == b"x" * 64
    with pytest.raises(ValueError, match=rf"^conversion file {path} has 64 bytes, more than the 63 read at most$"):
        check_regular_file(path, "conversion file", 63)
    with pytest.raises(ValueError, match="has 64 bytes, more than the 63 read at most"):
        read_regular_file(path, "conversion file", 63)
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert read_regular_file(empty, "file", 0) == b""
