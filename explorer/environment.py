"""What this machine offers the app (versions, CPU threads, GPU, cached weights), without importing torch."""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

PACKAGES = ("streamlit", "torch", "torchvision", "numpy", "scipy", "scikit-image", "plotly", "pillow")


@dataclass(frozen=True)
class CachedWeights:
    """A pretrained-weights file in torch's hub cache."""

    filename: str
    megabytes: float


@dataclass(frozen=True)
class Environment:
    python: str
    packages: dict[str, str | None]  # distribution name -> version, None when not installed
    cpu_threads: int
    gpu: str  # a short description, "none found" when there is none
    weights_dir: Path
    cached_weights: tuple[CachedWeights, ...]


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_threads() -> int:
    """CPUs this process may run on (respects container limits set by affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def torch_home() -> Path:
    """torch.hub.get_dir()'s parent, computed the same way without importing torch."""
    if "TORCH_HOME" in os.environ:
        return Path(os.environ["TORCH_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", str(Path("~/.cache").expanduser()))
    return Path(cache).expanduser() / "torch"


def weights_dir() -> Path:
    """Where torchvision stores and looks for pretrained weights."""
    return torch_home() / "hub" / "checkpoints"


def cached_weights(directory: Path | None = None) -> tuple[CachedWeights, ...]:
    directory = weights_dir() if directory is None else directory
    if not directory.is_dir():
        return ()
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".pth", ".pt"))
    return tuple(CachedWeights(p.name, p.stat().st_size / 2**20) for p in files)


def gpu_description() -> str:
    """An NVIDIA GPU seen through the driver, without initialising CUDA."""
    if Path("/proc/driver/nvidia/gpus").is_dir():
        names = []
        for info in Path("/proc/driver/nvidia/gpus").glob("*/information"):
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
        if names:
            return ", ".join(names)
    if shutil.which("nvidia-smi"):
        return "NVIDIA driver present"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "Apple silicon (MPS may be available)"
    return "none found: everything runs on the CPU"


def environment() -> Environment:
    return Environment(
        python=platform.python_version(),
        packages={name: package_version(name) for name in PACKAGES},
        cpu_threads=cpu_threads(),
        gpu=gpu_description(),
        weights_dir=weights_dir(),
        cached_weights=cached_weights(),
    )
