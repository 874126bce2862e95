"""`python -m explorer.prefetch`: listing, downloading, skipping, checking; all offline.

The real download code runs (zoo._download, data._download, torchvision's unpacking and the
app's dataset loader) against an in-memory server: urllib.request.urlopen is replaced, and the
files it serves are small ones in the real formats (a torch state dict, gzipped idx files,
a CIFAR-10 tar.gz of pickled batches), with checksums that match.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import struct
import subprocess
import sys
import tarfile
import types
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
from torchvision.datasets import CIFAR10, MNIST

from explorer import prefetch
from explorer.networks import model_registry

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = "[Errno -3] Temporary failure in name resolution"


def _idx(array: np.ndarray) -> bytes:
    """MNIST's idx format: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, the bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _mnist_archives() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), np.uint8),
        "train-labels-idx1-ubyte": np.arange(20) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (10, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(10) % 10,
    }
    return {name + ".gz": gzip.compress(_idx(array), mtime=0) for name, array in arrays.items()}


def _cifar_archive() -> bytes:
    """cifar-10-python.tar.gz: Python 2 style pickles (str keys) in cifar-10-batches-py/."""
    rng = np.random.default_rng(1)
    members = {
        name: pickle.dumps({"data": rng.integers(0, 256, (4, 3072), np.uint8),
                            "labels": rng.integers(0, 10, 4).tolist()}, protocol=2)
        for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    }
    members["batches.meta"] = pickle.dumps({"label_names": [f"c{i}" for i in range(10)]},
                                           protocol=2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def _weights() -> bytes:
    buffer = io.BytesIO()
    torch.save({"conv.weight": torch.arange(12.0).reshape(1, 3, 2, 2)}, buffer)
    return buffer.getvalue()


class _Response(io.BytesIO):
    """Enough of an HTTP response for both download loops."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.length = len(body)
        self.headers = {"Content-Length": str(len(body))}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> types.SimpleNamespace:
    """Empty caches in tmp_path and a fake internet serving small files by URL basename.

    resnet18's weights are a tiny state dict named tiny-<sha256 prefix>.pth (no small file can
    match the real name's hash); MNIST and CIFAR-10 are made files whose md5 the registry
    (torchvision's class attributes) is told.
    """
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path / "data"))
    weights = _weights()
    name = f"tiny-{hashlib.sha256(weights).hexdigest()[:8]}.pth"
    fake = types.SimpleNamespace(url=f"https://download.pytorch.org/models/{name}",
                                 meta={"_file_size": len(weights) / 2**20})
    monkeypatch.setattr(prefetch, "weights_for", lambda model: fake)

    files = {name: weights, **_mnist_archives(), CIFAR10.filename: _cifar_archive()}
    monkeypatch.setattr(MNIST, "resources",
                        [(n, hashlib.md5(files[n]).hexdigest()) for n in _mnist_archives()])
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(files[CIFAR10.filename]).hexdigest())
    # torchvision also compares each unpacked batch with the real one's md5: files that exist pass.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity",
                        lambda path, md5=None: Path(path).is_file())

    state = types.SimpleNamespace(files=files, requests=[], offline=False,
                                  weights=tmp_path / "torch" / "hub" / "checkpoints" / name,
                                  data=tmp_path / "data")

    def urlopen(url, *args, **kwargs):
        url = getattr(url, "full_url", url)
        state.requests.append(url)
        if state.offline:
            raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))
        body = state.files.get(url.rsplit("/", 1)[-1])
        if body is None:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return _Response(body)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return state


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = prefetch.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _lines(out: str, status: str) -> list[str]:
    return [line for line in out.splitlines() if f"  {status} " in line]


ONE_OF_EACH = ("--models", "resnet18", "--datasets", "mnist,cifar10")


def test_list_on_an_empty_cache_shows_everything_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("no download"))
    code, out, _ = _run(capsys, "--list")
    assert code == 0
    missing = _lines(out, "missing")
    assert len(missing) == len(model_registry.MODELS) + len(prefetch.DATASETS)
    for name in [*model_registry.MODELS, *prefetch.DATASETS]:
        assert any(f" {name} " in line for line in missing), name
    assert "resnet18-f37072fd.pth" in out and "527.8 MB" in out  # the real file name, VGG16's size
    assert "MNIST/raw (4 files)" in out and str(tmp_path / "torch") in out
    assert f"{len(missing)} of {len(missing)} missing" in out

    code, out, _ = _run(capsys, "--list", "--json", "--models", "none", "--datasets", "cifar10")
    report = json.loads(out)
    assert code == 0 and [item["status"] for item in report["items"]] == ["missing"]
    assert report["items"][0]["files"] == [str(tmp_path / "data" / "cifar-10-python.tar.gz")]


def test_download_writes_the_files_with_progress(
    server: types.SimpleNamespace, capsys: pytest.CaptureFixture
) -> None:
    code, out, err = _run(capsys, *ONE_OF_EACH)
    assert code == 0, out
    assert len(_lines(out, "fetched")) == 3 and "ready for offline use" in out
    assert server.weights.read_bytes() == server.files[server.weights.name]
    raw = server.data / "MNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte.gz").is_file()
    assert (raw / "train-images-idx3-ubyte").is_file()  # unpacked as the app reads it
    assert (server.data / "cifar-10-batches-py" / "data_batch_5").is_file()
    for name in ("resnet18", "mnist", "cifar10"):
        assert any(name in line and "100 %" in line for line in err.splitlines()), err
    assert not list(server.data.rglob("*.part")) and not list(server.weights.parent.glob("*.part"))


def test_a_second_run_skips_what_is_there(
    server: types.SimpleNamespace, capsys: pytest.CaptureFixture
) -> None:
    assert _run(capsys, *ONE_OF_EACH)[0] == 0
    server.requests.clear()
    code, out, err = _run(capsys, *ONE_OF_EACH)
    assert code == 0 and len(_lines(out, "cached")) == 3
    assert server.requests == [] and err == ""


def test_check_finds_a_damaged_file_and_a_run_repairs_it(
    server: types.SimpleNamespace, capsys: pytest.CaptureFixture
) -> None:
    assert _run(capsys, *ONE_OF_EACH)[0] == 0
    code, out, _ = _run(capsys, "--check", *ONE_OF_EACH)
    assert code == 0 and len(_lines(out, "ok")) == 3 and "intact" in out

    body = bytearray(server.weights.read_bytes())
    body[-1] ^= 0xFF
    server.weights.write_bytes(bytes(body))
    archive = server.data / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:-3])  # truncated
    code, out, _ = _run(capsys, "--check", *ONE_OF_EACH)
    assert code == 1
    assert [line.split()[1] for line in _lines(out, "damaged")] == ["resnet18", "mnist"]
    assert "2 of 3 missing or damaged" in out

    (server.data / "cifar-10-python.tar.gz").unlink()
    code, out, _ = _run(capsys, "--check", "--models", "none", "--datasets", "cifar10")
    assert code == 1 and len(_lines(out, "missing")) == 1

    code, out, _ = _run(capsys, *ONE_OF_EACH)
    assert code == 0 and len(_lines(out, "fetched")) == 3
    assert _run(capsys, "--check", *ONE_OF_EACH)[0] == 0


def test_offline_every_item_fails_with_one_line_and_the_exit_code_says_so(
    server: types.SimpleNamespace, capsys: pytest.CaptureFixture
) -> None:
    server.offline = True
    code, out, _ = _run(capsys, *ONE_OF_EACH)
    assert code == 1
    failed = _lines(out, "failed")
    assert [line.split()[1] for line in failed] == ["resnet18", "mnist", "cifar10"]  # all tried
    assert all(OFFLINE in line and "offline?" in line for line in failed), out
    assert "3 of 3 failed" in out
    assert not server.weights.parent.exists() or not list(server.weights.parent.iterdir())
    assert not [p for p in server.data.rglob("*") if p.is_file()]  # nothing half-written


def test_a_download_with_the_wrong_checksum_is_refused(
    server: types.SimpleNamespace, capsys: pytest.CaptureFixture
) -> None:
    server.files[server.weights.name] = b"not the published file"
    code, out, _ = _run(capsys, "--models", "resnet18", "--datasets", "none")
    assert code == 1 and "checksum mismatch" in _lines(out, "failed")[0]
    assert not server.weights.exists()


def test_unknown_names_are_refused(capsys: pytest.CaptureFixture) -> None:
    for argv in (["--models", "resnet18,lenet"], ["--datasets", "shapes"]):
        with pytest.raises(SystemExit) as exit_info:
            prefetch.main(argv)
        assert exit_info.value.code == 2
        assert "error:" in capsys.readouterr().err


def test_help_in_a_subprocess() -> None:
    result = subprocess.run([sys.executable, "-m", "explorer.prefetch", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "--models" in result.stdout and "--check" in result.stdout
    assert "efficientnet_b0" in result.stdout and "cifar10" in result.stdout
