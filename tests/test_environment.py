"""Unit tests for explorer.environment and for keeping the Home page's modules free of torch."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL
import pytest

from explorer import environment


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No TORCH_HOME / XDG_CACHE_HOME, and a home directory inside tmp_path."""
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def test_torch_home_default_is_under_the_home_cache(clean_env):
    assert environment.torch_home() == clean_env / ".cache" / "torch"


def test_torch_home_honours_xdg_cache_home(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert environment.torch_home() == tmp_path / "xdg" / "torch"


def test_torch_home_honours_torch_home(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert environment.torch_home() == tmp_path / "th"  # TORCH_HOME wins over XDG_CACHE_HOME


@pytest.mark.parametrize("variable", ["TORCH_HOME", "XDG_CACHE_HOME"])
def test_torch_home_expands_user(clean_env, monkeypatch, variable):
    monkeypatch.setenv(variable, "~/models")
    expected = clean_env / "models"
    if variable == "XDG_CACHE_HOME":
        expected = expected / "torch"
    assert environment.torch_home() == expected


@pytest.mark.parametrize("variable", [None, "TORCH_HOME", "XDG_CACHE_HOME"])
def test_weights_dir_is_hub_checkpoints(clean_env, monkeypatch, tmp_path, variable):
    if variable:
        monkeypatch.setenv(variable, str(tmp_path / "cache"))
    assert environment.weights_dir() == environment.torch_home() / "hub" / "checkpoints"


def _write(path: Path, size: int) -> None:
    path.write_bytes(b"\0" * size)


def test_cached_weights_lists_pth_and_pt(tmp_path):
    _write(tmp_path / "resnet18-f37072fd.pth", 2**20)
    _write(tmp_path / "alexnet-owt-7be5be79.pth", 3 * 2**19)
    _write(tmp_path / "small.pt", 2**18)
    _write(tmp_path / "notes.txt", 2**20)
    _write(tmp_path / "resnet50.pth.partial", 2**20)  # an interrupted download
    (tmp_path / "folder.pth").mkdir()
    found = environment.cached_weights(tmp_path)
    assert isinstance(found, tuple)
    assert [w.filename for w in found] == [
        "alexnet-owt-7be5be79.pth",
        "resnet18-f37072fd.pth",
        "small.pt",
    ]
    assert [w.megabytes for w in found] == pytest.approx([1.5, 1.0, 0.25])


def test_cached_weights_empty_and_missing_dirs(tmp_path):
    assert environment.cached_weights(tmp_path) == ()
    assert environment.cached_weights(tmp_path / "missing") == ()
    _write(tmp_path / "file.pth", 10)
    assert environment.cached_weights(tmp_path / "file.pth") == ()  # a file, not a directory


def test_cached_weights_default_directory(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert environment.cached_weights() == ()
    checkpoints = tmp_path / "th" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    _write(checkpoints / "vgg16-397923af.pth", 2**20)
    assert environment.cached_weights() == (environment.CachedWeights("vgg16-397923af.pth", 1.0),)


def test_package_version():
    assert environment.package_version("numpy") == np.__version__
    assert environment.package_version("pillow") == PIL.__version__
    assert environment.package_version("no-such-package-cnn-explorer") is None


def test_environment_values(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    env = environment.environment()
    assert env.python == platform.python_version()
    assert env.python.startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert set(env.packages) == set(environment.PACKAGES)
    assert env.packages["numpy"] == np.__version__
    assert env.packages["pillow"] == PIL.__version__
    assert all(version is None or version[0].isdigit() for version in env.packages.values())
    assert isinstance(env.cpu_threads, int)
    assert env.cpu_threads >= 1
    assert isinstance(env.gpu, str)
    assert env.gpu
    assert env.weights_dir == tmp_path / "th" / "hub" / "checkpoints"
    assert env.cached_weights == ()


@pytest.mark.parametrize(
    "module",
    [
        "explorer.environment",
        "explorer.images.pictures",
        "explorer.images.files",
        "explorer.images.gallery",
        "explorer.catalogue",
        "explorer.lecture.reference",
    ],
)
def test_module_does_not_import_torch(module):
    code = (
        f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
