"""What the default Shapes network makes of a tab's pictures, as one caption line: how many
samples it recognises, and how many reconstructions it names as their own class. Cached: the
same grid is judged once, not on every rerun (about 36 ms for 64 pictures)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.generative.judge import judge, named_correctly
from explorer.images.synthetic import SHAPE_CLASSES


def _floats(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255 if images.dtype == np.uint8 else images


@st.cache_data(max_entries=32, show_spinner=False)
def samples_verdict(images: np.ndarray) -> str:
    """How many of the samples (N, C, H, W) it recognises (colour pictures only, else "")."""
    if images.ndim != 4 or images.shape[1] != 3:
        return ""
    verdict = judge(_floats(images))
    return (f"The default Shapes network recognises **{verdict.recognised} of {verdict.count}** "
            f"(probability ≥ 0.5), as {len(verdict.classes)} classes: "
            f"{', '.join(verdict.classes) or 'none'}.")


@st.cache_data(max_entries=32, show_spinner=False)
def reconstructions_verdict(originals: np.ndarray, reconstructions: np.ndarray,
                            labels: np.ndarray, classes: tuple[str, ...]) -> str:
    """How many originals and how many of their reconstructions it names as their own class
    (Shapes only, else ""): the shape a reconstruction loses, samples cannot have."""
    if tuple(classes) != SHAPE_CLASSES or originals.ndim != 4 or originals.shape[1] != 3:
        return ""
    seen = named_correctly(_floats(originals), labels, classes)
    kept = named_correctly(_floats(reconstructions), labels, classes)
    return (f"The default Shapes network names the class of **{kept} of {len(labels)}** "
            f"reconstructions ({seen} of the originals).")
