"""Weights files, uploaded or cached: checked before any tensor is made, loaded without code."""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import torch
from torch import nn

CHUNK = 1 << 20  # files are scanned in pieces of 16 MiB (16 * CHUNK)
LIST_MISMATCHES = 3  # a WeightsError names at most this many keys per kind of problem


class WeightsError(ValueError):
    """A weights file that is unsafe, unreadable, or does not fit the architecture."""


# ---------------------------------------------------------------------------
# Weights files (uploads and the cache)
# ---------------------------------------------------------------------------
# A file is checked before any tensor is made from it. A zip archive (torch.save since PyTorch
# 1.6) by its directory: entry count, uncompressed sizes (a deflated 256 KB entry can unpack to
# 256 MB), then a weights-only load onto the "meta" device, which reads the pickle but no data:
# names and shapes are compared with the architecture first. An old-format file (a pickle
# followed by raw storages) by a pass over its pickle that calls nothing and adds up the
# storage sizes it claims: they must be in the file. Only then are the tensors loaded, with
# weights_only=True (a file can never run code), and checked: layout, dtype, finite values.

MB = 2**20
MAX_WEIGHTS_BYTES = 2 * 2**30  # tensor data any weights file may unpack to (VGG-16's: 0.55 GB)
# A file may hold this many times the architecture's own bytes: float64 (2x) or a checkpoint
# with Adam's two moments (3x) still fit; plus WEIGHTS_SLACK for the pickle and small extras.
WEIGHTS_MARGIN = 4
WEIGHTS_SLACK = 4 * MB
MAX_PICKLE_BYTES = 64 * MB  # data.pkl and the other small entries (ResNet-152's: 0.1 MB)
MAX_ARCHIVE_ENTRIES = 20_000  # one entry per storage: DenseNet-201's file has about 1,200
_ZIP_LOCAL = b"PK\x03\x04"  # torch.load takes a file starting with this for a zip archive
_ZIP_CENTRAL = b"PK\x01\x02"  # starts each entry of the zip's central directory
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_LEGACY_PROTOCOL = 1001  # torch.serialization.PROTOCOL_VERSION
_STORAGE_BYTES = {  # element size of the storage classes an old-format file names
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16,
    "QInt8Storage": 1, "QUInt8Storage": 1, "QInt32Storage": 4,
}
_REAL_FLOATS = "float16, bfloat16, float32 or float64"


def weights_budget(model: nn.Module | None) -> int:
    """Most bytes of tensor data a weights file for `model` may unpack to (any model: the cap)."""
    if model is None:
        return MAX_WEIGHTS_BYTES
    needed = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return max(needed + WEIGHTS_SLACK, min(WEIGHTS_MARGIN * needed + WEIGHTS_SLACK,
                                           MAX_WEIGHTS_BYTES))


def _megabytes(size: int) -> str:
    return f"{size / MB:,.1f} MB" if size < 100 * MB else f"{size / MB:,.0f} MB"


def _image_kind(head: bytes) -> str | None:
    """The image format a file's first bytes announce, if any (a picture renamed .pth)."""
    signatures = {
        b"\x89PNG\r\n\x1a\n": "PNG image", b"\xff\xd8\xff": "JPEG image", b"GIF8": "GIF image",
        b"II*\x00": "TIFF image", b"MM\x00*": "TIFF image", b"BM": "BMP image",
        b"%!PS": "PostScript file", b"%PDF": "PDF file",
    }
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP image"
    return next((kind for magic, kind in signatures.items() if head.startswith(magic)), None)


def _count(file: BinaryIO, needle: bytes, stop: int) -> int:
    """Occurrences of `needle` (4 bytes) in the file, read in pieces; counting ends at `stop`."""
    file.seek(0)
    count, tail = 0, b""
    while count < stop and (piece := file.read(16 * CHUNK)):
        block = tail + piece
        count += block.count(needle)
        tail = block[-(len(needle) - 1):]  # a match across two pieces is counted once
    file.seek(0)
    return count


def load_saved(source: str | Path | bytes | BinaryIO) -> object:
    """What a file this app saved holds (a run, an adapted network), loaded on the CPU with
    weights_only=True (it never runs code); ValueError with a readable message otherwise."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"Not a PyTorch weights file this app can read safely ({exc}).") from exc


def _safe_load(file: BinaryIO, what: str, map_location: str) -> object:
    """torch.load(weights_only=True) of an open file, every failure a WeightsError."""
    file.seek(0)
    try:
        return torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # "Unsupported global: GLOBAL builtins.open ...", or for a blocked module (os,
        # subprocess, ...) "unsupported GLOBAL posix.system whose module posix is blocked"
        called = re.search(r"unsupported (?:global: )?GLOBAL (\S+)", str(exc), re.IGNORECASE)
        if called:  # the weights-only unpickler met a function or class and stopped there
            raise WeightsError(
                f"{what} was refused without being loaded: it would call {called.group(1)}, and "
                "a file that calls Python code on loading could run anything. Save a plain state "
                "dict: torch.save(model.state_dict(), path)."
            ) from exc
        if "weights only load failed" in str(exc).lower():
            raise WeightsError(
                f"{what} is not a PyTorch weights file: it holds data the safe (weights-only) "
                "loader does not accept."
            ) from exc
        raise WeightsError(f"{what} is not a PyTorch weights file ({_short(exc)}).") from exc
    # torch.load fails in many ways on other files (RuntimeError for a truncated archive,
    # EOFError, KeyError, MemoryError, ...): all mean "not a weights file we can use".
    except Exception as exc:
        raise WeightsError(
            f"{what} is not a complete PyTorch weights file ({type(exc).__name__}: {_short(exc)})."
        ) from exc


def _check_archive(
    file: BinaryIO, what: str, budget: int, fits: Callable[[object], None] | None
) -> None:
    """A zip-format file: refused unless its entries and unpacked size fit the budget and
    fits(what it holds, as meta tensors) raises nothing."""
    if _count(file, _ZIP_CENTRAL, MAX_ARCHIVE_ENTRIES + 1) > MAX_ARCHIVE_ENTRIES:
        raise WeightsError(
            f"{what} is a zip archive of more than {MAX_ARCHIVE_ENTRIES:,} entries, not a "
            "weights file."
        )
    try:
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
    # zipfile fails in many ways on a damaged directory (BadZipFile, EOFError, ValueError,
    # struct.error, OverflowError): all mean "a zip we cannot read".
    except Exception as exc:
        raise WeightsError(
            f"{what} is a damaged or truncated zip archive ({_short(exc)}): not a complete "
            "PyTorch weights file."
        ) from exc
    names = [entry.filename for entry in entries]
    if any(name.endswith("constants.pkl") for name in names):
        raise WeightsError(
            f"{what} is a TorchScript program (torch.jit.save), not a weights file: save a "
            "state dict instead, torch.save(model.state_dict(), path)."
        )
    if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        raise WeightsError(
            f"{what} is a zip archive but not a PyTorch weights file (it has no data.pkl)."
        )
    small = sum(e.file_size for e in entries if "/data/" not in e.filename)  # pickle, version
    if small > MAX_PICKLE_BYTES:
        raise WeightsError(
            f"{what} holds {_megabytes(small)} of pickled data (at most "
            f"{_megabytes(MAX_PICKLE_BYTES)}): refused before unpacking."
        )
    try:
        meta = _safe_load(file, what, "meta")  # names, dtypes and shapes; no data is read
    except WeightsError as exc:
        if isinstance(exc.__cause__, pickle.UnpicklingError):
            raise  # refused code, or a pickle that is not one of weights
        meta = None  # sparse / quantized tensors have no meta form: checked after loading
    if meta is not None and fits is not None:
        fits(meta)
    total = sum(entry.file_size for entry in entries)
    if total > budget:
        packed = max(1, sum(entry.compress_size for entry in entries))
        raise WeightsError(
            f"{what} would unpack to {_megabytes(total)} ({total / packed:,.0f} times its size "
            f"in the file), more than the {_megabytes(budget)} that weights for this network "
            "may take: refused before unpacking."
        )


class _StandIn:
    """What every name in an old-format file's pickle becomes during the size pass: it takes
    any arguments and state and does nothing (no real function or class is ever called)."""

    element_bytes = 16  # a storage class not in _STORAGE_BYTES: the largest element size

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass

    def __setitem__(self, key, value) -> None:
        pass

    def append(self, value) -> None:
        pass

    def extend(self, values) -> None:
        pass


_STAND_INS = {
    name: type(name, (_StandIn,), {"element_bytes": size}) for name, size in _STORAGE_BYTES.items()
}


class _ClaimScanner(pickle.Unpickler):
    """Reads one pickle of an old-format torch file, noting the storage sizes it claims."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.claims: dict[str, int] = {}  # storage key -> bytes

    def find_class(self, module: str, name: str) -> type:
        return _STAND_INS.get(name, _StandIn) if module == "torch" else _StandIn

    def persistent_load(self, pid: object) -> None:
        # ("storage", storage class, key, location, element count, view or None)
        if isinstance(pid, tuple) and len(pid) == 6 and pid[0] in ("storage", b"storage"):
            count = pid[4]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"a storage claims {count!r} elements")
            size = count * getattr(pid[1], "element_bytes", _StandIn.element_bytes)
            key = str(pid[2])
            self.claims[key] = max(self.claims.get(key, 0), size)


def _check_legacy(file: BinaryIO, what: str, file_size: int) -> None:
    """An old-format file must hold the storages its pickle claims (torch would allocate each
    claimed size before reading it). Files that are not of that format are left to torch.load,
    whose first steps allocate nothing (and refuse code)."""
    file.seek(0)
    try:
        header = [_ClaimScanner(file).load() for _ in range(2)]
    # Any failure here means the file does not start like an old-format torch file.
    except Exception:
        return
    if header != [_LEGACY_MAGIC, _LEGACY_PROTOCOL]:
        return
    try:
        _ClaimScanner(file).load()  # system info (byte order, type sizes)
        scanner = _ClaimScanner(file)
        scanner.load()
        _ClaimScanner(file).load()  # the keys of the storages that follow
    # The pickle after a valid header is damaged in some way: torch would fail there too.
    except Exception as exc:
        raise WeightsError(
            f"{what} is a damaged PyTorch weights file (old format): {_short(exc)}."
        ) from exc
    claimed = sum(scanner.claims.values())
    held = file_size - file.tell()
    if claimed > held:
        raise WeightsError(
            f"{what} is damaged or forged: its tensors claim {_megabytes(claimed)} of data but "
            f"the file holds only {_megabytes(held)} after them."
        )
    if claimed > MAX_WEIGHTS_BYTES:
        raise WeightsError(
            f"{what} holds {_megabytes(claimed)} of tensor data, more than the "
            f"{_megabytes(MAX_WEIGHTS_BYTES)} any weights file may hold here."
        )


def _check_sizes(state_dict: Mapping[str, torch.Tensor], budget: int) -> None:
    """The tensors' own sizes (shape x element size: a stride-0 view of one number can claim
    a terabyte) must fit the budget before anything reads them."""
    total = sum(v.numel() * v.element_size() for v in state_dict.values())
    if total > budget:
        raise WeightsError(
            f"The file's tensors would take {_megabytes(total)}, more than the "
            f"{_megabytes(budget)} that weights may take here."
        )


def _check_tensors(state_dict: Mapping[str, torch.Tensor]) -> None:
    """Dense, unquantized tensors only (what a network's parameters and buffers are)."""
    for key, value in state_dict.items():
        if value.layout != torch.strided:
            raise WeightsError(
                f"{key} is a {str(value.layout).removeprefix('torch.')} tensor: only dense "
                "tensors can be a network's weights."
            )
        if value.is_quantized:
            raise WeightsError(
                f"{key} is a quantized tensor ({str(value.dtype).removeprefix('torch.')}): save "
                "the float weights."
            )


def _conform(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Each tensor in the model's dtype: floating-point weights from any real float type,
    counters (BatchNorm's num_batches_tracked) from any real number type; the rest refused."""
    conformed = {}
    for key, value in state_dict.items():
        target = expected[key].dtype
        dtype = str(value.dtype).removeprefix("torch.")
        if value.is_complex():
            raise WeightsError(f"{key} holds complex numbers ({dtype}); weights are real.")
        if target.is_floating_point and not value.is_floating_point():
            raise WeightsError(
                f"{key} holds {dtype} values; this network's weights are floating-point "
                f"numbers ({_REAL_FLOATS})."
            )
        conformed[key] = value.to(target).contiguous()  # (a stride-0 view becomes real)
    return conformed


def _finite(tensor: torch.Tensor) -> bool:
    if not (tensor.is_floating_point() or tensor.is_complex()):
        return True
    # A sum is finite only if every term is: one pass, no mask as large as the tensor (VGG-16's
    # fc1 is 103 M values). Finite values whose sum overflows get the exact test.
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


def _check_finite(state_dict: Mapping[str, torch.Tensor]) -> None:
    """Refuse NaN or infinity, naming the first tensor that holds any."""
    bad = [k for k, v in state_dict.items() if not _finite(v)]
    if bad:
        count = int((~torch.isfinite(state_dict[bad[0]])).sum())
        more = f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else ""
        raise WeightsError(
            f"The weights hold NaN or infinity: {bad[0]} has {count:,} such values{more}. A "
            "network with them outputs NaN for every picture (training diverged?)."
        )


def _load_checked(
    source: bytes | Path, what: str, budget: int, fits: Callable[[object], None] | None = None
) -> object:
    """torch.load(weights_only=True) of a file whose sizes (and, for a zip, fits(content as meta
    tensors)) were checked first; every problem a WeightsError."""
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    if size == 0:
        raise WeightsError(f"{what} is empty.")
    with open(source, "rb") if isinstance(source, Path) else io.BytesIO(source) as file:
        head = file.read(16)
        if head.startswith(_ZIP_LOCAL):
            _check_archive(file, what, budget, fits)
        elif kind := _image_kind(head):
            raise WeightsError(
                f"{what} is a {kind}, not a PyTorch weights file (one written by "
                "torch.save(model.state_dict(), path))."
            )
        else:
            _check_legacy(file, what, size)
        return _safe_load(file, what, "cpu")


def _read_state_dict(
    source: bytes | Path,
    model: nn.Module | None = None,
    *,
    what: str = "The file",
    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
) -> dict[str, torch.Tensor]:
    """A weights file -> a state dict that fits `model` (when given), checked as described above.

    `model` may live on the meta device (only its names, shapes and dtypes are used). Every
    problem is a WeightsError."""
    budget = weights_budget(model)

    def state_of(content: object) -> dict[str, torch.Tensor]:
        state_dict = _unwrap(content)
        state_dict = adapt(state_dict) if adapt else state_dict
        if model is None:
            _check_sizes(state_dict, budget)
        else:
            check_fits(state_dict, model)  # names and shapes first: nothing is read yet
        return state_dict

    state_dict = state_of(_load_checked(source, what, budget, state_of))
    _check_tensors(state_dict)
    if model is not None:
        state_dict = _conform(state_dict, model.state_dict())
    _check_finite(state_dict)
    return state_dict


def load_weights_file(
    source: bytes | Path, *, what: str = "The file", budget: int = MAX_WEIGHTS_BYTES
) -> object:
    """What a weights file holds (any structure of tensors), read safely: weights only, sizes
    checked before unpacking (at most `budget` bytes of tensor data). WeightsError if not."""
    return _load_checked(source, what, budget)


def _short(exc: BaseException, limit: int = 120) -> str:
    """The first sentence of an error message (torch's can run to several lines)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.split(". ")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")  # where checkpoints keep weights
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel, torch.compile


def _article(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def _unwrap(obj: object) -> dict[str, torch.Tensor]:
    """A state dict from a plain one, or from a checkpoint {"state_dict": ...} / {"model": ...}
    (nested up to three deep); a DataParallel "module." or torch.compile "_orig_mod." prefix
    is removed."""
    for _ in range(3):
        if not isinstance(obj, Mapping) or all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in _CHECKPOINT_KEYS
                      if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj:
        held = "an empty mapping" if isinstance(obj, Mapping) else _article(type(obj).__name__)
        raise WeightsError(
            f"The file holds {held}, not a state dict (a mapping from layer names to tensors), "
            "nor a checkpoint with a 'state_dict' or 'model' entry."
        )
    for key, value in obj.items():
        if not isinstance(key, str):
            raise WeightsError(
                f"Not a state dict: the key {key!r} is {_article(type(key).__name__)}, not a "
                "layer name (text such as 'conv1.weight')."
            )
        if not isinstance(value, torch.Tensor):
            raise WeightsError(
                f"Not a state dict: entry {key!r} is {_article(type(value).__name__)}, not a "
                "tensor."
            )
    state_dict = dict(obj)
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state_dict):
            state_dict = {k.removeprefix(prefix): v for k, v in state_dict.items()}
    return state_dict


def _names(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:LIST_MISMATCHES])
    more = len(keys) - LIST_MISMATCHES
    return shown + (f" (and {more} more)" if more > 0 else "")


def check_fits(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> None:
    """Raise WeightsError naming missing / unexpected keys and shape mismatches, if any.

    A missing BatchNorm num_batches_tracked is fine (old files lack it; load_state_dict adds it).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k} is {tuple(expected[k].shape)} in the model but {tuple(v.shape)} in the file"
        for k, v in state_dict.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected: {_names(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch: {_names(shapes)}")
    if problems:
        raise WeightsError(
            f"The weights do not fit this {type(model).__name__}: " + "; ".join(problems) + "."
        )


def read_weights(data: bytes, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """An uploaded weights file -> state dict, loaded with weights_only=True (code is refused
    without being run), its sizes checked before unpacking. With `model`, it must fit exactly
    (see check_fits) and comes back in the model's dtypes; NaN or infinity is refused.
    WeightsError (a ValueError) explains any problem."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WeightsError(f"Weights must be the bytes of a file, not {type(data).__name__}.")
    return _read_state_dict(bytes(data), model)
