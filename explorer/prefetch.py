"""Fetch once what a classroom machine needs offline: ImageNet weights and the datasets."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError

import torch
from torchvision.datasets import CIFAR10, MNIST, FashionMNIST
from torchvision.datasets.utils import check_integrity
from torchvision.models import WeightsEnum, get_model_weights

from explorer.networks import model_registry, zoo
from explorer.training import data

DATASETS = tuple(key for key, spec in data.DATASETS.items() if spec.needs_download)
COMMAND = "python -m explorer.prefetch"


@dataclass(frozen=True)
class Item:
    """One thing to fetch: a model's weights file, or a dataset's archives."""

    kind: str  # "weights" or "dataset"
    name: str  # the registry key: "resnet18", "mnist"
    files: tuple[Path, ...]  # what is downloaded (dataset archives are unpacked beside them)
    size: int  # bytes expected, all files together
    url: str = ""  # weights only
    remotes: tuple[data._Remote, ...] = ()  # datasets only: mirrors, path, md5 per archive
    root: Path | None = None  # datasets only: the folder data.load_dataset reads


def weights_for(name: str) -> WeightsEnum:
    """The weights the Pretrained page loads for a model (its DEFAULT ones)."""
    return get_model_weights(model_registry.model_spec(name).torchvision).DEFAULT


def model_items(names: Sequence[str]) -> list[Item]:
    items = []
    for name in names:
        weights = weights_for(name)
        size = int(weights.meta.get("_file_size", 0) * 2**20)  # torchvision gives MiB
        items.append(Item("weights", name, (zoo.weights_path(weights),), size, url=weights.url))
    return items


def dataset_items(names: Sequence[str], root: Path | None = None) -> list[Item]:
    """The archives data.load_dataset downloads for each dataset, in data_root() by default."""
    root = data.data_root() if root is None else root
    items = []
    for name in names:
        if name == "cifar10":
            remotes = [data._Remote((CIFAR10.url,), root / CIFAR10.filename, CIFAR10.tgz_md5,
                                    data._ARCHIVE_BYTES[CIFAR10.filename])]
        else:
            remotes = data._mnist_remotes(MNIST if name == "mnist" else FashionMNIST, root)
        items.append(Item("dataset", name, tuple(r.path for r in remotes),
                          sum(r.size for r in remotes), remotes=tuple(remotes), root=root))
    return items


def _sha256_ok(path: Path) -> bool:
    """The file's SHA-256 starts with the hex digits after the last "-" of its name (torch.hub's
    convention, as zoo._download checks); a name without them only has to exist."""
    match = torch.hub.HASH_REGEX.search(path.name)
    if match is None:
        return True
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(zoo.CHUNK):
            digest.update(chunk)
    return digest.hexdigest().startswith(match.group(1))


def status(item: Item, verify: bool = True) -> str:
    """ "missing" (a file is not there), "damaged" (a checksum is wrong), else "ok";
    "cached" instead of "ok" when verify is False (files present, checksums not read)."""
    if not all(path.is_file() for path in item.files):
        return "missing"
    if not verify:
        return "cached"
    if item.kind == "weights":
        return "ok" if _sha256_ok(item.files[0]) else "damaged"
    return "ok" if all(check_integrity(r.path, r.md5) for r in item.remotes) else "damaged"


def _readable(item: Item) -> bool:
    """The app's own loader reads the dataset from disk (without downloading)."""
    try:
        data.load_dataset(item.name, root=item.root, download=False)
    except Exception:  # whatever stops the loader means "not ready"
        return False
    return True


def fetch(item: Item, progress: Callable[[int, int], None] | None = None) -> str:
    """Make `item` ready offline: "cached" if it already was, else "fetched" (checksums
    checked by the app's own downloaders). Raises whatever a failed download raises."""
    ready = status(item) == "ok"
    if item.kind == "weights":
        if ready:
            return "cached"
        zoo._download(item.url, item.files[0], progress, zoo.DOWNLOAD_TIMEOUT_S)
        return "fetched"
    if ready and _readable(item):
        return "cached"
    data._download(list(item.remotes), progress)  # fetches what is missing, then unpacks
    if not _readable(item):
        raise RuntimeError("downloaded, but the dataset cannot be read; delete its folder")
    return "cached" if ready else "fetched"


def _amount(size: float) -> str:
    return f"{size / 2**30:.1f} GB" if size >= 2**30 else f"{size / 2**20:.1f} MB"


class Bar:
    """Progress on stderr: one line redrawn on a terminal, a line per 10 % otherwise."""

    def __init__(self, label: str, expected: int) -> None:
        self.label, self.expected = label, expected
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        total = total or self.expected
        percent = min(100, 100 * done // total) if total else 0
        step = 1 if self.tty else 10
        if percent // step == self.shown // step:
            return
        self.shown = percent
        line = f"  {self.label:<20} {percent:3d} %  {_amount(done)} of {_amount(total)}"
        print("\r" + line if self.tty else line, end="" if self.tty else "\n", file=sys.stderr,
              flush=True)

    def close(self) -> None:
        if self.tty and self.shown >= 0:
            print(file=sys.stderr, flush=True)


def _where(item: Item) -> str:
    """The file, or its folder and number of files, under the weights or datasets folder."""
    first = item.files[0].relative_to(item.root) if item.root else Path(item.files[0].name)
    return str(first) if len(item.files) == 1 else f"{first.parent} ({len(item.files)} files)"


def _reason(exc: BaseException) -> str:
    """One line: why a download failed, with a hint when the network was not reached."""
    cause = exc.__cause__ if isinstance(exc, zoo.DownloadError) and exc.__cause__ else exc
    text = str(getattr(cause, "reason", None) or cause).strip() or type(cause).__name__
    offline = isinstance(cause, (URLError, TimeoutError, ConnectionError)) and not isinstance(
        cause, HTTPError)
    return text.splitlines()[0] + (" (is this machine offline?)" if offline else "")


def _names(text: str, choices: Sequence[str], what: str) -> list[str]:
    if text.strip() == "all":
        return list(choices)
    if text.strip() == "none":
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if what == "model":
            model_registry.model_spec(name)  # ValueError naming the choices
        elif name not in choices:
            raise ValueError(f"Unknown dataset {name!r}: choose from {', '.join(choices)}.")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Download, once, what CNN Explorer needs to work offline: the ImageNet "
                    "weights of the Pretrained page's networks (into torch's cache, "
                    "$TORCH_HOME/hub/checkpoints) and the Train page's datasets (into "
                    "$EXPLORER_DATA). Files already there and intact are skipped.",
    )
    parser.add_argument("--models", default="all", metavar="all|none|NAME,...",
                        help=f"networks whose weights to fetch (default all: "
                             f"{', '.join(model_registry.MODELS)})")
    parser.add_argument("--datasets", default="all", metavar="all|none|NAME,...",
                        help=f"datasets to fetch (default all: {', '.join(DATASETS)})")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true",
                      help="show what is cached and what is missing, with sizes; download nothing")
    mode.add_argument("--check", action="store_true",
                      help="verify the cached files' checksums; exit 1 if any is missing or "
                           "damaged; download nothing")
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON on stdout (progress stays on stderr)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        items = (model_items(_names(args.models, list(model_registry.MODELS), "model"))
                 + dataset_items(_names(args.datasets, DATASETS, "dataset")))
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")

    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    say(f"Weights: {zoo.weights_dir()}\nDatasets: {data.data_root()}")
    results = []
    try:
        for item in items:
            message = ""
            if args.list or args.check:
                state = status(item, verify=args.check)
            else:
                bar = Bar(item.name, item.size)
                try:
                    state = fetch(item, bar)
                except Exception as exc:  # one line per item, never a traceback
                    state, message = "failed", _reason(exc)
                finally:
                    bar.close()
            say(f"  {item.kind:<8} {item.name:<20} {_amount(item.size):>9}  {state:<8} "
                f"{_where(item)}" + (f": {message}" if message else ""))
            results.append({"kind": item.kind, "name": item.name, "status": state,
                            "bytes": item.size, "files": [str(p) for p in item.files],
                            "message": message})
    except KeyboardInterrupt:
        print("Interrupted: run the command again to go on (finished files are kept).",
              file=sys.stderr)
        return 130

    bad = [r for r in results if r["status"] in ("missing", "damaged", "failed")]
    if args.json:
        print(json.dumps({"weights_dir": str(zoo.weights_dir()), "data_dir": str(data.data_root()),
                          "items": results}, indent=1))
    elif not bad:
        say("Everything is here and intact." if args.check else "Nothing is missing (--check verifies the checksums)."
            if args.list else f"Done: all {len(results)} items are here, ready for offline use.")
    elif args.list or args.check:
        size = sum(r["bytes"] for r in bad)
        what = "missing" if args.list else "missing or damaged"
        say(f"{len(bad)} of {len(results)} {what} ({_amount(size)}): run "
            f"`{COMMAND}` while online to fetch them.")
    else:
        say(f"{len(bad)} of {len(results)} failed: run `{COMMAND}` again while online "
            "(what was fetched is kept).")
    return 1 if bad and not args.list else 0


if __name__ == "__main__":
    sys.exit(main())
