"""Names for jobs: everything a job's result depends on, hashed into one key (see registry)."""

from __future__ import annotations

import hashlib
import weakref
from pathlib import Path
from typing import Any

import explorer

_MODULE_DIGESTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_CODE_VERSIONS: dict[str, str] = {}


def code_version(room: Path) -> str:
    """The package version and a digest of a room's source (its folder's .py files): changed
    code makes new keys, so a server never hands out a result of older code."""
    known = _CODE_VERSIONS.get(str(room))
    if known is None:
        digest = hashlib.sha1(explorer.__version__.encode())
        for path in sorted(room.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        known = _CODE_VERSIONS[str(room)] = f"{explorer.__version__}+{digest.hexdigest()[:12]}"
    return known


def module_digest(module: Any) -> str:
    """A network's class and every parameter and buffer, byte for byte (once per module object:
    models are shared and never changed in place; VGG16's 528 MB take about a second)."""
    known = _MODULE_DIGESTS.get(module)
    if known is None:
        digest = hashlib.sha1(type(module).__qualname__.encode())
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        known = _MODULE_DIGESTS[module] = digest.hexdigest()
    return known


def job_key(kind: str, *parts: object) -> str:
    """One key from a job kind and the reprs of what it depends on (frozen dataclasses, tuples,
    digests: their reprs are stable)."""
    return hashlib.sha1("\n".join((kind, *map(repr, parts))).encode()).hexdigest()
