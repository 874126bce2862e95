"""The pattern-matching tab's "Show the code": a SciPy / scikit-image script that places the
template in the scene and finds it by plain and by normalised correlation."""

from __future__ import annotations

import numpy as np

from explorer.codegen.inputs import array_literal
from explorer.convolution import pattern_matching as pm

_SCENES = {  # the scene's lines, as explorer.convolution.pattern_matching.BACKGROUNDS builds it
    "dim noise": ["X = np.random.default_rng({seed}).uniform(0.0, 0.3, ({side}, {side}))"],
    "noise and a bright square": [
        "X = np.random.default_rng({seed}).uniform(0.0, 0.3, ({side}, {side}))",
        "X[10:34, 58:82] = 1.0  # a uniform bright square",
    ],
    "cameraman": ["X = resize(skimage.data.camera() / 255.0, ({side}, {side}), "
                  "anti_aliasing=True)"],
}


def pattern_code(template: np.ndarray, background: str, row: int, col: int, seed: int = 0) -> str:
    """A runnable script for the tab's current settings; it prints both peaks."""
    w = pm.check_template(template)
    imports = ["import numpy as np", "import scipy.signal"]
    if background == "cameraman":
        imports += ["import skimage.data", "from skimage.transform import resize"]
    imports.append("from skimage.feature import match_template")
    k1, k2 = w.shape
    lines = [
        *imports,
        "",
        "# The template W (K1 x K2)",
        *array_literal("W", w),
        "",
        f"# The scene X ({pm.SIDE} x {pm.SIDE}), the pattern placed at {pm.PATCH_GAIN:g} "
        f"contrast with its corner at ({row}, {col})",
        *[line.format(seed=seed, side=pm.SIDE) for line in _SCENES[background]],
        f"X[{row}:{row + k1}, {col}:{col + k2}] = {pm.PATCH_GAIN!r} * W",
        "",
        "# Plain correlation: Z[j1, j2] = sum_k W[k1, k2] X[j1 + k1, j2 + k2]",
        'Z = scipy.signal.correlate2d(X, W, mode="valid")',
        "print('peak of Z at', tuple(int(i) for i in np.unravel_index(np.argmax(Z), Z.shape)))",
    ]
    if np.ptp(w) > 0:
        lines += [
            "",
            "# Normalised cross-correlation: window and template minus their means, / both norms",
            "ncc = match_template(X, W)",
            "print('peak of NCC at', tuple(int(i) for i in np.unravel_index(np.argmax(ncc), ncc.shape)))",
        ]
    return "\n".join(lines) + "\n"
