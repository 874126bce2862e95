"""What a feature visualisation depends on, as one key: identical requests are computed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from explorer.featurevis.optimise import VisSettings
from explorer.jobs.identity import code_version, job_key, module_digest

ROOM = Path(__file__).parent


def vis_key(model: Any, layer: str, units: list[int], mean: tuple[float, ...],
            std: tuple[float, ...], settings: VisSettings) -> str:
    """The network's weights, the layer and channels, its normalisation, the optimisation's
    settings (seed included) and the code."""
    return job_key("featurevis", code_version(ROOM), module_digest(model), layer, tuple(units),
                   tuple(mean), tuple(std), settings)
