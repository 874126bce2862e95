"""Generated images judged by the app's default Shapes network: the share it recognises (top
probability >= 0.5) and how many classes those cover (the issue's benchmark for image models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

THRESHOLD = 0.5  # "recognised": the network's top class has at least this probability


@dataclass(frozen=True)
class Verdict:
    count: int
    recognised: int  # samples whose top probability >= THRESHOLD
    classes: tuple[str, ...]  # the classes recognised samples were given, sorted
    labels: tuple[str, ...]  # each sample's top class
    confidences: tuple[float, ...]  # each sample's top probability

    @property
    def share(self) -> float:
        return self.recognised / self.count if self.count else 0.0

    def as_dict(self) -> dict:
        return {"recognised_share": round(self.share, 4), "recognised": self.recognised,
                "count": self.count, "classes_covered": len(self.classes),
                "classes": list(self.classes)}


def probabilities(samples: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Softmax of the default Shapes network for samples (N, C, H, W) or (N, H, W) in [0, 1]
    (grey samples are repeated to RGB; other sizes are resized by the network's transforms)
    -> ((N, classes) float32, class names)."""
    from explorer.training.app_networks import default_network

    net = default_network()
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) -> (N, 1, H, W)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"samples must be (N, 1|3, H, W) or (N, H, W) images, not {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = net.transforms(x.clamp(0, 1))  # resize + normalise, batched
    with torch.inference_mode():
        probs = torch.softmax(net.model.eval()(x), dim=1)
    return probs.numpy(), tuple(net.categories)


def judge(samples: np.ndarray) -> Verdict:
    """How many samples the default Shapes network recognises, and which classes."""
    probs, names = probabilities(samples)
    top = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    ok = confidence >= THRESHOLD
    return Verdict(len(probs), int(ok.sum()), tuple(sorted({names[i] for i in top[ok]})),
                   tuple(names[i] for i in top), tuple(float(c) for c in confidence))


def named_correctly(images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> int:
    """How many of images (N, C, H, W) in [0, 1] the default Shapes network gives their own class
    (labels (N,) index `classes`; a class the network does not know is never named). Used on
    reconstructions: a model whose reconstructions lose the shape cannot sample it either."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    verdict = judge(images)
    pairs = zip(verdict.labels, labels, strict=True)
    return sum(named == classes[int(label)] for named, label in pairs)
