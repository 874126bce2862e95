"""Unit tests for explorer.images.gallery: the Home page card pictures and their match with the catalogue."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage, stats
from skimage.transform import resize

from explorer.catalogue import PAGES
from explorer.images import gallery
from explorer.images import pictures as images


@functools.cache
def picture(key: str) -> np.ndarray:
    return gallery.CARD_PICTURES[key]()


def halves(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    middle = pixels.shape[1] // 2
    return pixels[:, :middle], pixels[:, middle:]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_catalogue_keys_match_card_pictures():
    keys = [page.key for page in PAGES]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(gallery.CARD_PICTURES)


@pytest.mark.parametrize("key", list(gallery.CARD_PICTURES))
def test_card_picture_is_a_displayable_image(key):
    pixels = picture(key)
    assert isinstance(pixels, np.ndarray)
    assert np.issubdtype(pixels.dtype, np.floating)
    assert pixels.ndim in (2, 3)
    if pixels.ndim == 3:
        assert pixels.shape[2] == 3
    assert np.isfinite(pixels).all()
    assert pixels.min() >= 0.0
    assert pixels.max() <= 1.0
    assert pixels.std() > 0.05  # not blank
    height, width = pixels.shape[:2]
    assert 0.8 * gallery.THUMBNAIL_SIDE <= height <= 1.2 * gallery.THUMBNAIL_SIDE
    assert 1.8 <= width / height <= 2.2


def test_convolution_picture_is_cameraman_and_its_sobel_magnitude():
    camera, magnitude = halves(picture("convolution"))
    assert camera.shape == magnitude.shape
    # left: the cameraman, shrunk to the thumbnail size
    reference = resize(images.builtin_image("cameraman", mode="L"), (camera.shape[0] + 2,) * 2)
    assert correlation(camera, reference[1:-1, 1:-1]) > 0.99
    # right: an edge map, bright on a few edges, dark elsewhere
    assert magnitude.std() > 0.05
    assert magnitude.max() == pytest.approx(1.0)
    assert magnitude.mean() < 0.3 * magnitude.max()
    assert np.median(magnitude) < 0.2
    assert magnitude[:40].mean() < 0.5 * magnitude.mean()  # the smooth sky at the top
    # and it follows the cameraman's edges, computed independently from the left half
    # (rank correlation: the card may stretch the magnitude for display, but keeps its order)
    gradient = np.hypot(ndimage.sobel(camera, axis=0), ndimage.sobel(camera, axis=1))
    ranks = stats.spearmanr(magnitude[1:-1, 1:-1].ravel(), gradient[1:-1, 1:-1].ravel())
    assert ranks.statistic > 0.99
    strong = gradient[1:-1, 1:-1] > np.quantile(gradient, 0.95)
    assert magnitude[1:-1, 1:-1][strong].mean() > 3 * magnitude.mean()


def test_colour_picture_lights_up_where_the_astronaut_is_red():
    astronaut, heat = halves(picture("colour"))
    assert astronaut.shape == heat.shape
    redness = astronaut[..., 0] - astronaut[..., 1:].mean(axis=-1)
    assert correlation(heat.max(axis=-1), ndimage.gaussian_filter(redness, 2.0)) > 0.8
    hottest = np.unravel_index(np.argmax(heat.max(axis=-1)), heat.shape[:2])
    red, green, blue = astronaut[hottest]
    assert red > green
    assert red > blue


def test_cards_are_deterministic():
    for key, build in gallery.CARD_PICTURES.items():
        np.testing.assert_array_equal(build(), picture(key), err_msg=key)


def test_every_card_picture_is_drawn_without_torch():
    """The Home page's first render must not wait for torch (the warm-up loads it later)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys; from explorer.images import gallery; "
            "[make() for make in gallery.CARD_PICTURES.values()]; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
