"""What a transfer run's result depends on, as one key: identical runs are trained once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from explorer.jobs.identity import code_version, job_key, module_digest
from explorer.training.identity import ROOM as TRAINING_ROOM
from explorer.training.identity import dataset_digest
from explorer.transfer.adapt import TransferSettings
from explorer.transfer.backbones import Backbone
from explorer.transfer.tasks import TransferTask

ROOM = Path(__file__).parent


def transfer_key(settings: TransferSettings, backbone: Backbone, task: TransferTask) -> str:
    """The settings (all but the thread count), the backbone's weights and the task's examples,
    and the code of the transfer and training rooms."""
    return job_key(
        "transfer", code_version(ROOM), code_version(TRAINING_ROOM),
        dataclasses.replace(settings, threads=1),
        (backbone.key, backbone.family, module_digest(backbone.model), backbone.input_size,
         backbone.mean, backbone.std, sorted(backbone.architecture.items())),
        (task.name, task.source, task.evaluated_on_training, dataset_digest(task.dataset)))
