"""Where the catalogue is read from (TTFS_NEURONS, the checkout's neurons/, the packaged copy) and
that a folder is parsed once: repeated calls reuse it, an edited, added or removed file is noticed."""
from __future__ import annotations

import os

import pytest

from ttfs_symbolic import catalogue
from ttfs_symbolic.catalogue import DefinitionError, catalogue_dir, get, load_catalogue

ROOT = catalogue.SOURCE_DIR.parent


def _neuron(folder, name, f="x"):
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\nf = "{f}"\nh = "x"\n')
    return path


@pytest.fixture
def counted(monkeypatch):
    """The files load_definition reads, in order."""
    read = []
    original = catalogue.load_definition

    def counting(path):
        read.append(os.path.basename(path))
        return original(path)

    monkeypatch.setattr(catalogue, "load_definition", counting)
    return read


# --------------------------------------------------------------------------
# catalogue_dir
# --------------------------------------------------------------------------

def test_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("TTFS_NEURONS", str(tmp_path))
    assert catalogue_dir() == tmp_path


def test_source_checkout_reads_neurons_folder(monkeypatch):
    monkeypatch.delenv("TTFS_NEURONS", raising=False)
    assert (ROOT / "pyproject.toml").is_file()          # these tests run from a checkout
    assert catalogue_dir() == ROOT / "neurons"
    monkeypatch.setenv("TTFS_NEURONS", "")              # empty: as if unset
    assert catalogue_dir() == ROOT / "neurons"


def test_installed_package_reads_packaged_copy(monkeypatch, tmp_path):
    monkeypatch.delenv("TTFS_NEURONS", raising=False)
    monkeypatch.setattr(catalogue, "SOURCE_DIR", tmp_path / "site-packages" / "neurons")  # no checkout
    packaged = tmp_path / "neurons_data"
    monkeypatch.setattr(catalogue, "PACKAGED_DIR", packaged)
    assert catalogue_dir() == packaged
    with pytest.raises(DefinitionError, match="lacks its packaged catalogue.*TTFS_NEURONS"):
        load_catalogue()
    packaged.mkdir()
    _neuron(packaged, "packed")
    assert list(load_catalogue()) == ["packed"] and get("packed").name == "packed"


def test_missing_environment_folder_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TTFS_NEURONS", str(tmp_path / "absent"))
    with pytest.raises(DefinitionError, match=r"no neuron catalogue folder at .*absent \(from TTFS_NEURONS"):
        get("relu")


def test_no_packaged_copy_in_the_source_tree():
    """The build makes the copy in its build folder (setup.py); one in the checkout would go stale."""
    assert not catalogue.PACKAGED_DIR.exists(), \
        f"{catalogue.PACKAGED_DIR} is made by the build from neurons/; remove it from the source tree"


# --------------------------------------------------------------------------
# parsed once, re-read when the folder changes
# --------------------------------------------------------------------------

def test_folder_is_parsed_once(tmp_path, counted):
    _neuron(tmp_path, "one")
    _neuron(tmp_path, "two")
    first = load_catalogue(tmp_path)
    assert sorted(counted) == ["one.toml", "two.toml"]
    second = load_catalogue(tmp_path)
    assert second == first and len(counted) == 2         # nothing read again
    second.pop("one")                                    # a caller's dict is its own
    assert "one" in load_catalogue(tmp_path)


def test_get_uses_the_cache(monkeypatch, tmp_path, counted):
    monkeypatch.setenv("TTFS_NEURONS", str(tmp_path))
    _neuron(tmp_path, "one")
    _neuron(tmp_path, "two")
    for _ in range(5):
        assert get("one").name == "one" and get("two").name == "two"
    assert len(counted) == 2
    with pytest.raises(KeyError, match="no neuron 'three'.*known: one, two"):
        get("three")


def test_edited_added_and_removed_files_are_noticed(tmp_path, counted):
    path = _neuron(tmp_path, "one")
    assert load_catalogue(tmp_path)["one"].f == "x"
    path.write_text('name = "one"\nf = "tanh(x)"\nh = "x"\n')     # other size
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # and a later mtime, whatever the clock
    assert load_catalogue(tmp_path)["one"].f == "tanh(x)"
    _neuron(tmp_path, "two")
    assert sorted(load_catalogue(tmp_path)) == ["one", "two"]
    path.unlink()
    assert sorted(load_catalogue(tmp_path)) == ["two"]
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [\n")
    with pytest.raises(DefinitionError, match="not valid TOML"):
        load_catalogue(tmp_path)
    bad.unlink()
    assert sorted(load_catalogue(tmp_path)) == ["two"]


def test_reload_forgets(tmp_path, counted):
    _neuron(tmp_path, "one")
    load_catalogue(tmp_path)
    load_catalogue(tmp_path)
    assert counted == ["one.toml"]
    catalogue.reload()
    load_catalogue(tmp_path)
    assert counted == ["one.toml", "one.toml"]


def test_default_catalogue_is_cached(monkeypatch, counted):
    monkeypatch.delenv("TTFS_NEURONS", raising=False)
    catalogue.reload()
    get("relu")
    n = len(counted)
    assert n == len(list(catalogue_dir().glob("*.toml"))) > 10
    get("mish")
    load_catalogue()
    assert len(counted) == n
