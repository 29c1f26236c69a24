"""Outputs are written whole or not at all, with ordinary permissions."""
import os

import pytest

from echem.output import atomic_write


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.csv"
    target.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]


def test_written_file_has_the_permissions_of_a_new_file(tmp_path):
    umask = os.umask(0o022)
    try:
        p = atomic_write(tmp_path / "x.csv", lambda tmp: tmp.write_text("a,b\n"))
    finally:
        os.umask(umask)
    assert p.read_text() == "a,b\n"
    assert (p.stat().st_mode & 0o777) == 0o644
