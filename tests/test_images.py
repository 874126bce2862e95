"""Unit tests for explorer.images.pictures: built-in photos, synthetic patterns, conversions and uploads."""

from __future__ import annotations

import io
import re
import struct
import time
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from explorer.images import files as image_files
from explorer.images import pictures as images
from explorer.images.files import ImageError
from explorer.lecture import reference as lecture

# ---------------------------------------------------------------- helpers


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    """Save a Pillow image into memory and return the file's bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def rgb_noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR says width x height (RGB, 8 bit) but holds almost no data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
        + chunk(b"IEND", b"")
    )


def corners_image() -> np.ndarray:
    """32 x 48 RGB in 16-pixel blocks: red top-left, green top-right, blue bottom-right."""
    blocks = np.zeros((2, 3, 3), np.uint8)
    blocks[0, 0] = (255, 0, 0)
    blocks[0, 2] = (0, 255, 0)
    blocks[1, 2] = (0, 0, 255)
    blocks[1, 1] = (255, 255, 255)
    return np.repeat(np.repeat(blocks, 16, axis=0), 16, axis=1)


def assert_float_image(pixels: np.ndarray, mode: str) -> None:
    assert pixels.dtype == np.float32
    assert pixels.ndim == (2 if mode == "L" else 3)
    if mode == "RGB":
        assert pixels.shape[2] == 3
    assert np.isfinite(pixels).all()
    assert pixels.min() >= 0.0
    assert pixels.max() <= 1.0


# ---------------------------------------------------------------- built-in images


@pytest.mark.parametrize("name", list(images.BUILTIN_IMAGES))
def test_builtin_image_both_modes(name):
    grey = images.builtin_image(name, mode="L")
    colour = images.builtin_image(name, mode="RGB")
    assert_float_image(grey, "L")
    assert_float_image(colour, "RGB")
    assert colour.shape == (*grey.shape, 3)
    assert grey.std() > 0.01  # a real picture, not a blank
    # the registry's description states the size as height x width
    size = re.search(r"(\d+)x(\d+)", images.BUILTIN_IMAGES[name].description)
    assert size is not None
    assert grey.shape == (int(size[1]), int(size[2]))
    # colour photos have distinct channels; greyscale ones are repeated into three equal ones
    channels_equal = np.allclose(colour[..., 0], colour[..., 1]) and np.allclose(
        colour[..., 1], colour[..., 2]
    )
    assert channels_equal is not images.BUILTIN_IMAGES[name].colour


def test_cameraman_is_the_lecture_size():
    assert images.builtin_image("cameraman", mode="L").shape == (512, 512)
    assert images.builtin_image("cameraman").shape == (512, 512, 3)


@pytest.mark.parametrize("name", ["", "Cameraman", "camera", "lena", "colour_wheel"])
def test_builtin_image_unknown_name(name):
    with pytest.raises(ValueError, match="Unknown built-in image"):
        images.builtin_image(name)


@pytest.mark.parametrize("mode", ["", "rgb", "l", "RGBA", "CMYK", "grey", None])
def test_builtin_image_bad_mode(mode):
    with pytest.raises(ValueError, match="mode"):
        images.builtin_image("cameraman", mode=mode)


# ---------------------------------------------------------------- patterns

FIXED = {
    "lecture 5x5": lecture.CONV_INPUT_5X5,
    "lecture 4x4 (pooling)": lecture.POOL_INPUT_4X4,
}


def test_fixed_size_patterns_are_the_lecture_ones():
    fixed = {name for name, spec in images.PATTERNS.items() if spec.fixed_size}
    assert fixed == set(FIXED)


@pytest.mark.parametrize("size", [5, 37, 64])
@pytest.mark.parametrize("name", list(images.PATTERNS))
def test_pattern_shape_and_range(name, size):
    spec = images.PATTERNS[name]
    pixels = images.pattern(name, size=size)
    assert pixels.dtype == np.float32
    assert np.isfinite(pixels).all()
    if spec.fixed_size:
        assert pixels.shape == np.shape(FIXED[name])
    else:
        assert pixels.shape == (size, size)
    if not spec.raw_values:
        assert pixels.min() >= 0.0
        assert pixels.max() <= 1.0


@pytest.mark.parametrize("name", list(images.PATTERNS))
def test_pattern_rgb_mode(name):
    spec = images.PATTERNS[name]
    grey = images.pattern(name, size=24, mode="L")
    colour = images.pattern(name, size=24, mode="RGB")
    assert colour.dtype == np.float32
    assert colour.shape == (*grey.shape, 3)
    channels_differ = not (
        np.array_equal(colour[..., 0], colour[..., 1])
        and np.array_equal(colour[..., 1], colour[..., 2])
    )
    assert channels_differ is spec.colour
    if not spec.colour:
        np.testing.assert_array_equal(colour[..., 0], grey)


@pytest.mark.parametrize("size", [1, 5, 64, 512])
@pytest.mark.parametrize("name", list(FIXED))
def test_lecture_patterns_keep_size_and_integer_values(name, size):
    expected = np.array(FIXED[name], dtype=np.float32)
    np.testing.assert_array_equal(images.pattern(name, size=size), expected)
    np.testing.assert_array_equal(images.pattern(name, size=size, mode="RGB")[..., 1], expected)


@pytest.mark.parametrize("size", [1, 5, 8, 37, 64])
def test_impulse_is_one_pixel_at_the_centre(size):
    pixels = images.pattern("impulse", size=size)
    assert np.count_nonzero(pixels) == 1
    assert pixels[size // 2, size // 2] == 1.0


@pytest.mark.parametrize("size", [2, 5, 8, 37, 64])
def test_step_edges(size):
    half = size // 2
    vertical = images.pattern("step edge (vertical)", size=size)
    assert (vertical[:, :half] == 0).all()  # dark left
    assert (vertical[:, half:] == 1).all()  # bright right
    horizontal = images.pattern("step edge (horizontal)", size=size)
    assert (horizontal[:half] == 0).all()  # dark top
    assert (horizontal[half:] == 1).all()  # bright bottom


def test_simple_patterns_look_as_described():
    gradient = images.pattern("gradient", size=64)
    assert gradient[:, 0].max() == 0.0
    assert gradient[:, -1].min() == 1.0
    assert (np.diff(gradient, axis=1) > 0).all()
    disk = images.pattern("disk", size=64)
    assert disk[32, 32] == 1.0
    assert disk[0, 0] == disk[0, -1] == disk[-1, 0] == disk[-1, -1] == 0.0
    bars = images.pattern("bars", size=64)
    assert (bars == bars[0]).all()  # vertical stripes: every row the same
    assert np.count_nonzero(np.diff(bars[0]) < 0) == 8  # 8 periods across
    board = images.pattern("checkerboard", size=64)
    assert board.mean() == 0.5
    assert board[0, 0] != board[0, 8]
    assert board[0, 0] != board[8, 0]
    assert board[0, 0] == board[8, 8]


def test_noise_is_reproducible():
    first = images.pattern("noise", size=32)
    np.testing.assert_array_equal(first, images.pattern("noise", size=32))
    assert first.std() > 0.2


def test_colour_chart_patches():
    chart = images.pattern("colour chart", size=48, mode="RGB")
    expected = [
        [(1, 0, 0), (0, 1, 0), (0, 0, 1)],
        [(1, 1, 0), (0, 1, 1), (1, 0, 1)],
        [(0, 0, 0), (0.5, 0.5, 0.5), (1, 1, 1)],
    ]
    for row in range(3):
        for col in range(3):
            np.testing.assert_allclose(chart[row * 16 + 8, col * 16 + 8], expected[row][col])


def test_colour_wheel_is_white_in_the_middle_black_outside():
    wheel = images.pattern("colour wheel", size=65, mode="RGB")
    np.testing.assert_allclose(wheel[32, 32], (1, 1, 1), atol=1e-6)
    np.testing.assert_allclose(wheel[0, 0], (0, 0, 0), atol=1e-6)
    hues = wheel[32, [63, 1]]  # right edge (hue 0: red) and left edge (hue 0.5: cyan)
    assert hues[0].argmax() == 0
    assert hues[1, 0] < 0.1 < hues[1, 1]


@pytest.mark.parametrize("size", [1, 2048])
def test_pattern_size_limits_accepted(size):
    assert images.pattern("step edge (vertical)", size=size).shape == (size, size)


@pytest.mark.parametrize("size", [0, -1, -64, 2049, 10**6])
def test_pattern_size_out_of_range(size):
    with pytest.raises(ValueError, match="between 1 and 2048"):
        images.pattern("impulse", size=size)


@pytest.mark.parametrize("name", ["", "Impulse", "step edge", "lecture 3x3", "colour_chart"])
def test_pattern_unknown_name(name):
    with pytest.raises(ValueError, match="Unknown pattern"):
        images.pattern(name)


@pytest.mark.parametrize("mode", ["rgb", "RGBA", "1", ""])
def test_pattern_bad_mode(mode):
    with pytest.raises(ValueError, match="mode"):
        images.pattern("impulse", mode=mode)


# ---------------------------------------------------------------- conversions


def test_to_grey_uses_luma_weights():
    rgb = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]]], np.float32)
    grey = images.to_grey(rgb)
    assert grey.dtype == np.float32
    assert grey.shape == (1, 5)
    np.testing.assert_allclose(grey[0], [0.299, 0.587, 0.114, 1.0, 0.0], atol=1e-6)


def test_to_rgb_repeats_channels():
    grey = np.linspace(0, 1, 12, dtype=np.float64).reshape(3, 4)
    rgb = images.to_rgb(grey)
    assert rgb.dtype == np.float32
    assert rgb.shape == (3, 4, 3)
    for channel in range(3):
        np.testing.assert_allclose(rgb[..., channel], grey, atol=1e-7)


def test_as_mode_converts_only_when_needed():
    grey = np.random.default_rng(0).random((4, 5), dtype=np.float32)
    rgb = np.random.default_rng(1).random((4, 5, 3), dtype=np.float32)
    assert images.as_mode(grey, "L") is grey
    assert images.as_mode(rgb, "RGB") is rgb
    np.testing.assert_allclose(images.as_mode(rgb, "L"), images.to_grey(rgb))
    np.testing.assert_allclose(images.as_mode(grey, "RGB"), images.to_rgb(grey))


@pytest.mark.parametrize("mode", ["rgb", "RGBA", "L;16", "", None])
def test_as_mode_bad_mode(mode):
    with pytest.raises(ValueError, match="mode must be one of"):
        images.as_mode(np.zeros((2, 2), np.float32), mode)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(-0.5, 0), (0.0, 0), (1 / 255, 1), (0.5, 128), (254.4 / 255, 254), (1.0, 255), (1.7, 255)],
)
def test_to_uint8_rounds_and_clips(value, expected):
    out = images.to_uint8(np.full((2, 3), value, np.float32))
    assert out.dtype == np.uint8
    assert out.shape == (2, 3)
    assert (out == expected).all()


@pytest.mark.parametrize("mode", images.MODES)
def test_encode_png_round_trip(mode):
    rng = np.random.default_rng(5)
    pixels = rng.random((20, 30) if mode == "L" else (20, 30, 3), dtype=np.float32)
    data = images.encode_png(pixels)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(data)).mode == mode
    decoded = image_files.load_image(data, mode=mode)
    assert decoded.shape == pixels.shape
    np.testing.assert_allclose(decoded, pixels, atol=1 / 255)


# ---------------------------------------------------------------- uploads: conversions


def test_rgb_png_exact_values():
    pixels = rgb_noise(17, 23)
    result = image_files.read_image(encode(Image.fromarray(pixels), "PNG"))
    assert result.source_mode == "RGB"
    assert result.original_size == (23, 17)
    assert result.notes == ()
    assert_float_image(result.pixels, "RGB")
    np.testing.assert_array_equal(result.pixels, pixels.astype(np.float32) / 255)


@pytest.mark.parametrize("mode", images.MODES)
def test_output_modes(mode):
    pixels = image_files.load_image(encode(Image.fromarray(rgb_noise(12, 9)), "PNG"), mode=mode)
    assert_float_image(pixels, mode)
    assert pixels.shape[:2] == (12, 9)


def test_greyscale_png():
    grey = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    data = encode(Image.fromarray(grey), "PNG")
    as_grey = image_files.read_image(data, mode="L")
    assert as_grey.source_mode == "L"
    np.testing.assert_array_equal(as_grey.pixels, grey.astype(np.float32) / 255)
    as_rgb = image_files.load_image(data, mode="RGB")
    assert as_rgb.shape == (16, 16, 3)
    for channel in range(3):
        np.testing.assert_array_equal(as_rgb[..., channel], as_grey.pixels)


def _sixteen_bit(values: np.ndarray, fmt: str, mode: str) -> bytes:
    height, width = values.shape
    if mode == "I":
        raw = values.astype("<i4").tobytes()
    else:
        raw = values.astype(">u2" if mode == "I;16B" else "<u2").tobytes()
    return encode(Image.frombytes(mode, (width, height), raw), fmt)


@pytest.mark.parametrize(
    ("fmt", "mode"), [("PNG", "I;16"), ("TIFF", "I;16"), ("TIFF", "I;16B"), ("TIFF", "I")]
)
def test_sixteen_bit_ramp_scales_to_unit_range(fmt, mode):
    ramp = np.linspace(0, 65535, 32 * 64).round().astype(np.uint16).reshape(32, 64)  # 2:1
    result = image_files.read_image(_sixteen_bit(ramp, fmt, mode), mode="L")
    assert_float_image(result.pixels, "L")
    np.testing.assert_allclose(result.pixels, ramp / 65535.0, atol=1e-6)
    assert result.pixels.max() == pytest.approx(1.0)
    assert result.pixels.min() == 0.0
    assert np.count_nonzero(result.pixels >= 1.0) == 1  # only the last pixel, nothing clipped
    assert result.pixels.mean() == pytest.approx(0.5, abs=0.01)


def test_sixteen_bit_keeps_absolute_scale():
    # a dark 16-bit picture stays dark: values are divided by 65535, not stretched to the max
    values = np.full((8, 8), 1000, np.uint16)
    values[0, 0] = 2000
    pixels = image_files.load_image(_sixteen_bit(values, "PNG", "I;16"), mode="RGB")
    assert pixels.shape == (8, 8, 3)
    np.testing.assert_allclose(pixels[1, 1], 1000 / 65535, atol=1e-6)
    np.testing.assert_allclose(pixels[0, 0], 2000 / 65535, atol=1e-6)


def _palette_image() -> Image.Image:
    image = Image.new("P", (4, 1))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0] + [0] * (256 * 3 - 12))
    image.putdata([0, 1, 2, 3])
    return image


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_colours_preserved(fmt):
    result = image_files.read_image(encode(_palette_image(), fmt))
    assert result.source_mode == "P"
    np.testing.assert_array_equal(result.pixels[0], [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]])


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparent_index_becomes_white(fmt):
    pixels = image_files.load_image(encode(_palette_image(), fmt, transparency=1))
    np.testing.assert_array_equal(pixels[0], [[1, 0, 0], [1, 1, 1], [0, 0, 1], [1, 1, 0]])


def test_palette_png_partial_alpha():
    # tRNS with one alpha per palette entry: opaque, transparent, half
    pixels = image_files.load_image(encode(_palette_image(), "PNG", transparency=bytes([255, 0, 128])))
    half = 1 - 128 / 255
    np.testing.assert_allclose(
        pixels[0], [[1, 0, 0], [1, 1, 1], [half, half, 1], [1, 1, 0]], atol=1e-6
    )


def test_rgba_composited_on_white():
    rgba = np.array(
        [[[255, 0, 0, 255], [0, 0, 255, 0], [255, 0, 0, 128], [0, 0, 0, 0]]], dtype=np.uint8
    )
    result = image_files.read_image(encode(Image.fromarray(rgba), "PNG"))
    assert result.source_mode == "RGBA"
    half = 1 - 128 / 255
    expected = [[1, 0, 0], [1, 1, 1], [1, half, half], [1, 1, 1]]
    np.testing.assert_allclose(result.pixels[0], expected, atol=1e-6)
    assert 0.4 < result.pixels[0, 2, 1] < 0.6  # half alpha lies between red and white


@pytest.mark.parametrize("mode", images.MODES)
def test_la_composited_on_white(mode):
    grey = np.array([[100, 100, 0]], np.uint8)
    alpha = np.array([[255, 0, 128]], np.uint8)
    la = Image.merge("LA", [Image.fromarray(grey), Image.fromarray(alpha)])
    result = image_files.read_image(encode(la, "PNG"), mode=mode)
    assert result.source_mode == "LA"
    assert_float_image(result.pixels, mode)
    expected = np.array([100 / 255, 1.0, 1 - 128 / 255], np.float32)
    if mode == "RGB":
        expected = np.repeat(expected[:, None], 3, axis=1)
    np.testing.assert_allclose(result.pixels[0], expected, atol=1e-5)


@pytest.mark.parametrize(
    ("cmyk", "rgb"),
    [
        ((0, 255, 255, 0), (1, 0, 0)),
        ((255, 0, 255, 0), (0, 1, 0)),
        ((255, 255, 0, 0), (0, 0, 1)),
        ((0, 0, 0, 0), (1, 1, 1)),
        ((0, 0, 0, 255), (0, 0, 0)),
        ((0, 128, 255, 0), (1, 0.5, 0)),
    ],
)
def test_cmyk_jpeg_converted_to_rgb(cmyk, rgb):
    data = encode(Image.new("CMYK", (16, 16), cmyk), "JPEG", quality=95)
    result = image_files.read_image(data)
    assert result.source_mode == "CMYK"
    assert_float_image(result.pixels, "RGB")
    np.testing.assert_allclose(result.pixels[8, 8], rgb, atol=0.03)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (6, 4), colour) for colour in ("red", "lime", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    result = image_files.read_image(data)
    assert result.pixels.shape == (4, 6, 3)
    assert (result.pixels == np.array([1, 0, 0], np.float32)).all()
    assert len(result.notes) == 1
    assert "first" in result.notes[0]
    assert "3 frames" in result.notes[0]


def _jpeg_with_orientation(pixels: np.ndarray, orientation: int | None) -> bytes:
    params = {"quality": 95, "subsampling": 0}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif
    return encode(Image.fromarray(pixels), "JPEG", **params)


@pytest.mark.parametrize(("orientation", "turns"), [(3, 2), (6, -1), (8, 1)])
def test_exif_orientation_applied(orientation, turns):
    stored = corners_image()  # 32 x 48
    result = image_files.read_image(_jpeg_with_orientation(stored, orientation))
    upright = np.rot90(stored, turns).astype(np.float32) / 255
    assert result.pixels.shape == upright.shape
    assert result.original_size == (48, 32)  # as stored in the file
    np.testing.assert_allclose(result.pixels, upright, atol=0.1)
    assert any("EXIF" in note for note in result.notes)


@pytest.mark.parametrize("orientation", [None, 1])
def test_exif_upright_left_alone(orientation):
    stored = corners_image()
    result = image_files.read_image(_jpeg_with_orientation(stored, orientation))
    assert result.notes == ()
    np.testing.assert_allclose(result.pixels, stored / 255, atol=0.1)


def test_bilevel_image():
    bits = np.array([[0, 255, 0], [255, 255, 0]], np.uint8)
    data = encode(Image.fromarray(bits).convert("1"), "PNG")
    result = image_files.read_image(data, mode="L")
    assert result.source_mode == "1"
    assert_float_image(result.pixels, "L")
    np.testing.assert_array_equal(result.pixels, bits / 255)


def test_large_image_downscaled():
    width, height = 1500, 600
    data = encode(Image.fromarray(rgb_noise(height, width)), "PNG")
    result = image_files.read_image(data, max_side=300)
    assert result.pixels.shape == (120, 300, 3)
    assert result.original_size == (width, height)
    assert_float_image(result.pixels, "RGB")
    assert len(result.notes) == 1
    assert "Downscaled" in result.notes[0]
    assert "300" in result.notes[0]
    # the default limit keeps the aspect ratio too
    default = image_files.load_image(data, mode="L")
    assert max(default.shape) == image_files.DEFAULT_MAX_SIDE
    assert default.shape[1] / default.shape[0] == pytest.approx(width / height, rel=0.01)


def test_image_at_max_side_not_downscaled():
    data = encode(Image.fromarray(rgb_noise(100, 300)), "PNG")
    result = image_files.read_image(data, max_side=300)
    assert result.pixels.shape == (100, 300, 3)
    assert result.notes == ()


@pytest.mark.parametrize("mode", ["rgb", "RGBA", ""])
def test_read_image_bad_mode(mode):
    with pytest.raises(ValueError, match="mode"):
        image_files.read_image(encode(Image.new("RGB", (2, 2)), "PNG"), mode=mode)


# ---------------------------------------------------------------- uploads: bad files


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.txt", "not really a photo")
    return buffer.getvalue()


def _truncated(fmt: str) -> bytes:
    data = encode(Image.fromarray(rgb_noise(64, 64)), fmt)
    return data[: len(data) // 2]


BAD_FILES = {
    "empty": (lambda: b"", "empty"),
    "garbage": (lambda: np.random.default_rng(0).bytes(2048), "not an image"),
    "text": (lambda: b"Hello, this is my homework.\n" * 20, "not an image"),
    "zip": (_zip_bytes, "not an image"),
    "png signature only": (lambda: b"\x89PNG\r\n\x1a\n", "not an image"),
    "truncated png": (lambda: _truncated("PNG"), "damaged"),
    "truncated jpeg": (lambda: _truncated("JPEG"), "damaged"),
    "bomb header": (lambda: png_claiming(100_000, 100_000), "too large"),
    "over the megapixel limit": (lambda: png_claiming(7_000, 7_000), "megapixels"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_upload_raises_image_error(case):
    make, keyword = BAD_FILES[case]
    data = make()
    filters = list(warnings.filters)
    start = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        image_files.read_image(data)
    assert time.perf_counter() - start < 1.0
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert keyword in message
    assert message[0].isupper()
    assert "Traceback" not in message
    assert warnings.filters == filters  # nothing escalated globally
    with pytest.raises(ImageError):
        image_files.load_image(data)


def test_megapixel_limit_checked_before_decoding(monkeypatch):
    monkeypatch.setattr(image_files, "MAX_PIXELS", 20 * 20 - 1)
    data = encode(Image.fromarray(rgb_noise(20, 20)), "PNG")
    with pytest.raises(ImageError, match="20 x 20"):
        image_files.read_image(data)
    monkeypatch.setattr(image_files, "MAX_PIXELS", 20 * 20)
    assert image_files.load_image(data).shape == (20, 20, 3)
