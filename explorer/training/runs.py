"""A finished training run's exports: the metrics CSV, and weights + settings saved and loaded."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from explorer.networks.weights_files import load_saved
from explorer.training.batches import normalisation
from explorer.training.job import TrainingJob
from explorer.training.nets import build_model
from explorer.training.settings import TrainSettings, settings_from_dict, settings_to_dict
from explorer.training.snapshot import JobSnapshot

CSV_COLUMNS = (
    "step", "epoch", "seconds", "learning_rate", "loss",
    "train_loss", "train_accuracy", "test_loss", "test_accuracy",
)


def metrics_csv(snapshot: JobSnapshot) -> str:
    """One row per recorded step: the (averaged) step loss and, at evaluations, the rest.

    Blank cells where a value was not measured at that step.
    """
    rows: dict[int, dict[str, Any]] = {}
    for step, loss, rate in zip(snapshot.curve_steps, snapshot.curve_losses,
                                snapshot.curve_learning_rates, strict=True):
        rows[step] = {"step": step, "loss": loss, "learning_rate": rate}
    for point in snapshot.evaluations:
        row = rows.setdefault(point.step, {"step": point.step})
        row.update({key: value for key, value in asdict(point).items() if key != "step"})
    for step, row in rows.items():
        row.setdefault("epoch", step / snapshot.steps_per_epoch)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for step in sorted(rows):
        writer.writerow(rows[step])
    return out.getvalue()


def run_payload(job: TrainingJob) -> dict[str, Any]:
    """What save_run writes: only tensors and plain types, so weights_only=True loads it."""
    snap = job.snapshot()
    data = job.dataset
    return {
        "format": "cnn-explorer-run/1",
        "state_dict": job.state_dict(),
        "settings": settings_to_dict(job.settings),
        "dataset": data.name,
        "classes": list(data.classes),
        "in_channels": data.channels,
        "image_size": list(data.image_size),
        "mean": list(normalisation(data)[0]),
        "std": list(normalisation(data)[1]),  # as trained: a constant channel's std floored
        "state": snap.state,
        "steps": snap.step,
        "test_accuracy": snap.final_test_accuracy
        if snap.final_test_accuracy is not None
        else (snap.latest.test_accuracy if snap.latest else None),
    }


def save_run(job: TrainingJob, path: str | Path | IO[bytes]) -> None:
    """torch.save the weights and everything needed to rebuild the model (see run_payload)."""
    torch.save(run_payload(job), path)


@dataclass(frozen=True)
class SavedRun:
    model: nn.Module  # eval mode, weights loaded
    settings: TrainSettings
    classes: tuple[str, ...]
    in_channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_accuracy: float | None


def load_run(source: str | Path | bytes | IO[bytes]) -> SavedRun:
    """Read a file written by save_run (never runs code: weights_only=True); ValueError with a
    readable message when it is not one or does not fit its own architecture."""
    payload = load_saved(source)
    if not isinstance(payload, dict) or "state_dict" not in payload or "settings" not in payload:
        raise ValueError("This file is not a run saved by CNN Explorer (no settings inside).")
    try:
        settings = settings_from_dict(payload["settings"])
        classes = tuple(str(name) for name in payload["classes"])
        in_channels = int(payload["in_channels"])
        height, width = (int(v) for v in payload["image_size"])
        model = build_model(settings.model, in_channels=in_channels, num_classes=len(classes),
                            image_size=(height, width))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"The saved run does not fit its architecture: {exc}") from exc
    return SavedRun(
        model=model.eval(),
        settings=settings,
        classes=classes,
        in_channels=in_channels,
        image_size=(height, width),
        mean=tuple(float(v) for v in payload.get("mean", [0.5] * in_channels)),
        std=tuple(float(v) for v in payload.get("std", [0.5] * in_channels)),
        test_accuracy=payload.get("test_accuracy"),
    )
