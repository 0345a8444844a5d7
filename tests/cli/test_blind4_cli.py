"""The command line's checks of --out and --precision (the fourth blind mutation audit's survivors,
docs/mutation.md): a dangling symbolic link is not written through without --overwrite, and kernel mode's
stated largest precision is accepted."""
from __future__ import annotations

import pytest

from ttfs_symbolic.cli.checks import MAX_KERNEL_PRECISION, MAX_PRECISION, check_out_file, check_precisions


def test_a_dangling_link_as_out_is_not_written_through(tmp_path):
    """--out LINK, LINK pointing nowhere: writing would create the file at the link's target, somewhere the
    user did not name. Without --overwrite it is refused as existing; with it, as not a regular file."""
    link = tmp_path / "conv.json"
    link.symlink_to(tmp_path / "elsewhere" / "target.json")
    assert not link.exists() and link.is_symlink()
    with pytest.raises(ValueError, match=r"--out .*conv.json exists; pass --overwrite to replace it"):
        check_out_file(link, {}, overwrite=False)
    with pytest.raises(ValueError, match=r"does not exist"):
        check_out_file(link, {}, overwrite=True)
    assert not (tmp_path / "elsewhere").exists()
    # a new plain path is fine
    assert check_out_file(tmp_path / "new.json", {}, overwrite=False) == tmp_path / "new.json"


@pytest.mark.parametrize("modes", [("kernel",), ("exact", "quantized", "kernel")])
def test_kernel_mode_takes_its_stated_largest_precision(modes):
    check_precisions([1, 1024, MAX_KERNEL_PRECISION], modes)
    with pytest.raises(ValueError, match=f"--precision {MAX_KERNEL_PRECISION + 1}: kernel mode takes a time "
                                         f"precision of at most {MAX_KERNEL_PRECISION}"):
        check_precisions([MAX_KERNEL_PRECISION + 1], modes)


def test_quantized_mode_takes_precisions_up_to_its_own_maximum():
    check_precisions([MAX_KERNEL_PRECISION + 1, MAX_PRECISION], ("quantized",))
    for bad in (0, MAX_PRECISION + 1):
        with pytest.raises(ValueError, match=rf"a time precision is an integer in \[1, {MAX_PRECISION}\], got {bad}"):
            check_precisions([bad], ("quantized",))


class _Stop(Exception):
    pass


@pytest.mark.parametrize("flags, want", [
    (["--sigmas", "3"], {"sigmas": 3.0, "margin": 0.0, "range_kind": None, "product": None, "residual": None}),
    (["--sigmas", "0", "--margin", "0.5", "--range-kind", "neuron", "--product", "paper", "--residual", "neuron"],
     {"sigmas": 0.0, "margin": 0.5, "range_kind": "neuron", "product": "paper", "residual": "neuron"}),
])
def test_budget_passes_its_settings_to_the_converter(flags, want, tmp_path, monkeypatch):
    """ttfs budget --sigmas S (and the other conversion flags) reach convert(): the budget is that of the
    network the user asked for, not the preset's."""
    import ttfs_symbolic.conversion.convert as conv
    from ttfs_symbolic.cli.main import main

    seen = {}

    def fake_convert(model, data, **kw):
        seen.update(kw)
        raise _Stop

    monkeypatch.setattr(conv, "convert", fake_convert)
    with pytest.raises(_Stop):
        main(["budget", "digits", "--calib", "4", "--inputs", "2", "--out", str(tmp_path / "b"), "--no-progress"]
             + flags)
    assert {k: seen[k] for k in want} == want
    assert seen["preset"] == "accurate"
