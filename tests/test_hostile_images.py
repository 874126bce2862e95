"""Hostile images and zips of images: formats that run programs, strips, bombs, NaN pixels,
damaged members, lying EXIF tags, frame floods. Every hostile input is built inside its test."""

from __future__ import annotations

import contextlib
import io
import struct
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import EpsImagePlugin, GifImagePlugin, Image, ImageFile, TiffImagePlugin, features
from streamlit.testing.v1 import AppTest

from explorer.images import files as image_files
from explorer.images.files import ImageError
from explorer.training import data
from explorer.training.data import DatasetError
from explorer.training.dataset_zip import ZipLimits, dataset_from_zip
from tests.test_pages import caption, picker_script

ALLOWED_NAMES = "PNG, JPEG, GIF, BMP, TIFF or WebP"

# ---------------------------------------------------------------- no program may start

# Audit events of everything that starts another program. A hook cannot be removed once added,
# so one hook is installed for the whole session and does something only while a test arms it.
_PROGRAM_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "os.fork", "os.forkpty", "pty.spawn")
_ARMED: list[list[str]] = []


def _audit(event: str, args: tuple) -> None:
    if _ARMED and event in _PROGRAM_EVENTS:
        _ARMED[-1].append(f"{event} {str(args)[:200]}")
        raise RuntimeError(f"a hostile image tried to start a program ({event})")


sys.addaudithook(_audit)


@pytest.fixture
def no_programs(monkeypatch: pytest.MonkeyPatch):
    """Records (and blocks) every program started while the test runs.

    Ghostscript is made to look installed, so a decoded EPS would really try to run it.
    """
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs")
    started: list[str] = []
    _ARMED.append(started)
    yield started
    _ARMED.remove(started)
    assert started == [], f"programs were started: {started}"


@pytest.fixture
def refused_decoders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Pillow decoder outside the allow-list, replaced by one that records being asked."""
    Image.init()
    asked: list[str] = []
    for fmt, (_factory, accept) in list(Image.OPEN.items()):
        if fmt in image_files.ALLOWED_FORMATS:
            continue

        def recording(fp, filename=None, *, _fmt=fmt):
            asked.append(_fmt)
            raise SyntaxError("a refused decoder was asked")

        monkeypatch.setitem(Image.OPEN, fmt, (recording, accept))
    return asked


# ---------------------------------------------------------------- helpers


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png(height: int = 8, width: int = 8, seed: int = 0) -> bytes:
    return encode(Image.fromarray(noise(height, width, seed)), "PNG")


def float_tiff(values: np.ndarray) -> bytes:
    return encode(Image.fromarray(values.astype(np.float32), "F"), "TIFF")


def zip_of(entries: list[tuple[str, bytes]] | dict[str, bytes],
           method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name, body) pairs; a list may repeat a name."""
    pairs = list(entries.items()) if isinstance(entries, dict) else entries
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, body in pairs:
            if name in archive.NameToInfo:  # a repeated name is the point, not a mistake
                with pytest.warns(UserWarning, match="Duplicate name"):
                    archive.writestr(name, body)
            else:
                archive.writestr(name, body)
    return buffer.getvalue()


def two_classes(per_class: int = 5, size: int = 8) -> dict[str, bytes]:
    return {f"{label}/{i}.png": png(size, size, seed=10 * c + i)
            for c, label in enumerate(("cats", "dogs")) for i in range(per_class)}


def assert_sane(pixels: np.ndarray) -> None:
    """What every page may rely on: finite float32 in [0, 1], no empty or extreme shape."""
    assert pixels.dtype == np.float32
    assert pixels.ndim in (2, 3) and (pixels.ndim == 2 or pixels.shape[2] == 3)
    assert min(pixels.shape[:2]) >= 1
    assert max(pixels.shape[:2]) <= image_files.MAX_ASPECT * (min(pixels.shape[:2]) + 1)
    assert np.isfinite(pixels).all()
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0


def decodes_or_refuses(body: bytes) -> None:
    """A hostile file either decodes to a sane picture or is refused with an ImageError."""
    try:
        decoded = image_files.read_image(body)
    except ImageError as error:
        assert str(error)[0].isupper() and "Traceback" not in str(error)
    else:
        assert_sane(decoded.pixels)


@pytest.fixture
def pixel_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts Pillow's pixel decoding (ImageFile.load); headers alone do not count."""
    calls: list[int] = []
    original = ImageFile.ImageFile.load

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    return calls


# ---------------------------------------------------------------- 1. only allowed formats

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n"
       b"newpath 0 0 moveto 16 16 lineto stroke showpage\n%%EOF\n")
EPS_DOS = struct.pack("<IIIIIIIH", 0xC6D3D0C5, 30, len(EPS), 0, 0, 0, 0, 0xFFFF) + EPS


def _psd() -> bytes:
    """A 4 x 4 RGB Photoshop file, raw (uncompressed) channels."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 4, 4, 8, 3)
    return header + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + bytes(3 * 16)


def _fits() -> bytes:
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8",
             "NAXIS   =                    2", "NAXIS1  =                    4",
             "NAXIS2  =                    4", "END"]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode()
    return header + bytes(16).ljust(2880, b"\0")


def _xpm() -> bytes:
    return (b'/* XPM */\nstatic char *x[] = {\n"2 2 1 1",\n"a c #FF0000",\n"aa",\n"aa"\n};\n')


def _saved(fmt: str, mode: str = "RGB", size: int = 16) -> bytes:
    return encode(Image.new(mode, (size, size), "white" if mode != "1" else 1), fmt)


REFUSED_FORMATS = {
    "EPS": (lambda: EPS, "PostScript"),
    "EPS binary header": (lambda: EPS_DOS, "PostScript"),
    "EPS saved by Pillow": (lambda: _saved("EPS"), "PostScript"),
    "PDF": (lambda: _saved("PDF"), "PDF"),
    "PSD": (_psd, "Photoshop"),
    "ICNS": (lambda: _saved("ICNS"), "icon"),
    "ICO": (lambda: _saved("ICO"), "icon"),
    "XBM": (lambda: _saved("XBM", "1"), "XBM"),
    "XPM": (_xpm, "XPM"),
    "SGI": (lambda: _saved("SGI"), "SGI"),
    "TGA": (lambda: _saved("TGA"), ""),
    "PPM": (lambda: _saved("PPM"), "Netpbm"),
    "PCX": (lambda: _saved("PCX"), ""),
    "DDS": (lambda: _saved("DDS", "RGBA"), "DDS"),
    "QOI": (lambda: _saved("QOI"), "QOI"),
    "IM": (lambda: _saved("IM"), ""),
    "SPIDER": (lambda: _saved("SPIDER", "F"), ""),
    "MSP": (lambda: _saved("MSP", "1"), "Paint"),
    "FITS": (_fits, "FITS"),
    "SVG": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>', "SVG"),
    "JPEG 2000": (lambda: _saved("JPEG2000"), "JPEG 2000"),
    "AVIF": (lambda: _saved("AVIF"), "AVIF"),
}


def _needs(case: str) -> None:
    if case == "JPEG 2000" and not features.check("jpg_2000"):
        pytest.skip("this Pillow has no JPEG 2000 codec to write the test file")
    if case == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec to write the test file")


@pytest.mark.parametrize("case", list(REFUSED_FORMATS))
def test_formats_outside_the_allow_list_are_refused_unread(case, no_programs, refused_decoders):
    _needs(case)
    make, name = REFUSED_FORMATS[case]
    body = make()
    with pytest.raises(ImageError) as caught:
        image_files.read_image(body)
    message = str(caught.value)
    assert ALLOWED_NAMES in message and "not an image we can read" in message
    assert name in message
    with pytest.raises(ImageError):
        image_files.probe(body)
    assert refused_decoders == []  # no refused decoder even looked at the bytes
    assert no_programs == []


def test_an_eps_named_png_never_starts_ghostscript(no_programs, refused_decoders):
    # what the issue saw: `gs ... -f /tmp/...` started for an upload called photo.png
    for body in (EPS, EPS_DOS):
        with pytest.raises(ImageError, match="PostScript"):
            image_files.read_image(body)
    assert no_programs == [] and refused_decoders == []


def test_refused_formats_inside_a_training_zip_are_skipped(no_programs, refused_decoders):
    entries = two_classes() | {"cats/eps.png": EPS, "dogs/psd.jpg": _psd(),
                               "cats/tga.png": _saved("TGA"), "dogs/dos.gif": EPS_DOS}
    ds = dataset_from_zip(zip_of(entries))
    assert sum(ds.class_counts().values()) + sum(ds.class_counts("test").values()) == 10
    assert "Skipped 4 files that could not be read as images" in " ".join(ds.notes)
    assert no_programs == [] and refused_decoders == []


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])
def test_every_allowed_format_still_opens(fmt, no_programs, refused_decoders):
    body = encode(Image.fromarray(noise(12, 20)), fmt)
    decoded = image_files.read_image(body)
    assert decoded.pixels.shape == (12, 20, 3)
    assert_sane(decoded.pixels)
    assert image_files.probe(body).format == fmt


def test_a_multi_picture_jpeg_opens_at_its_first_picture(no_programs, refused_decoders):
    second = Image.new("RGB", (8, 6), "blue")
    body = encode(Image.new("RGB", (8, 6), "red"), "MPO", save_all=True, append_images=[second])
    decoded = image_files.read_image(body)
    np.testing.assert_allclose(decoded.pixels[0, 0], [1, 0, 0], atol=0.02)
    assert image_files.probe(body).format == "MPO"


# ---------------------------------------------------------------- 3. thin strips


@pytest.mark.parametrize(("width", "height"), [
    (1, 5000), (5000, 1), (2, 100), (100, 2), (3, 61), (1, 21), (300, 6001)])
def test_strips_beyond_the_aspect_limit_are_refused_before_decoding(width, height, pixel_decodes):
    body = encode(Image.new("RGB", (width, height)), "PNG")
    with pytest.raises(ImageError) as caught:
        image_files.read_image(body)
    message = str(caught.value)
    assert f"{width} x {height}" in message and "times the other" in message
    assert "20 to 1" in message
    assert pixel_decodes == []


@pytest.mark.parametrize(("width", "height"), [(1, 20), (20, 1), (1, 1), (50, 1000),
                                                (4000, 200)])
def test_shapes_within_the_limit_open_and_stay_within_it(width, height):
    decoded = image_files.read_image(encode(Image.new("RGB", (width, height), "red"), "PNG"))
    assert_sane(decoded.pixels)
    # what a network's "short side to 256" resize would make of it stays small (+1: rounding)
    short, long = sorted(decoded.pixels.shape[:2])
    assert long <= image_files.MAX_ASPECT * (short + 1)


def test_a_strip_in_a_training_zip_is_just_squashed():
    entries = two_classes() | {"cats/strip.png": encode(Image.new("RGB", (1, 5000)), "PNG")}
    ds = dataset_from_zip(zip_of(entries), size=16)
    assert sum(ds.class_counts().values()) + sum(ds.class_counts("test").values()) == 11
    assert ds.image_size == (16, 16)


# ---------------------------------------------------------------- 4. zips that cost too much


@pytest.fixture(scope="module")
def blank_giant() -> bytes:
    """The issue's image: a blank 6300 x 6300 PNG, 115 KB holding 40 megapixels."""
    return encode(Image.new("RGB", (6300, 6300)), "PNG")


def test_the_issues_zip_of_blank_giants_is_refused_before_decoding(blank_giant, pixel_decodes):
    entries = {f"{'ab'[i % 2]}/{i}.png": blank_giant for i in range(100)}
    deflated = zip_of(entries)
    assert len(deflated) < 100_000
    with pytest.raises(DatasetError, match="zip bomb"):
        dataset_from_zip(deflated)
    # stored (no zip compression): no ratio to see, but each image is over the pixel limit
    with pytest.raises(DatasetError) as caught:
        dataset_from_zip(zip_of(entries, zipfile.ZIP_STORED))
    assert "Skipped 100 files larger than 16 megapixels" in str(caught.value)
    assert pixel_decodes == []


def test_total_pixels_of_a_zip_are_bounded_before_decoding(pixel_decodes):
    body = zip_of(two_classes(per_class=5, size=40), zipfile.ZIP_STORED)  # 10 x 1600 pixels
    with pytest.raises(DatasetError, match="add up to 0.016 megapixels; the limit is 0.01"):
        dataset_from_zip(body, limits=ZipLimits(max_total_pixels=10_000))
    assert pixel_decodes == []
    assert dataset_from_zip(body, limits=ZipLimits(max_total_pixels=16_000)).num_classes == 2


def test_images_over_the_per_image_limit_are_skipped_and_counted():
    entries = two_classes(per_class=3) | {"cats/big.png": png(50, 50), "dogs/big.png": png(60, 40)}
    ds = dataset_from_zip(zip_of(entries), limits=ZipLimits(max_image_pixels=2000))
    assert sum(ds.class_counts().values()) + sum(ds.class_counts("test").values()) == 6
    assert "Skipped 2 files larger than 0.002 megapixels (e.g. 'cats/big.png')" in " ".join(
        ds.notes)


def test_many_small_members_that_compress_too_well_are_a_bomb_together(pixel_decodes):
    # each member is a 97 KB black BMP (under the 1 MB per-file ratio check); together 2.3 MB
    black = encode(Image.new("RGB", (180, 180)), "BMP")
    entries = {f"{'ab'[i % 2]}/{i}.bmp": black for i in range(24)}
    with pytest.raises(DatasetError, match="compressed .* times overall.*zip bomb"):
        dataset_from_zip(zip_of(entries))
    assert pixel_decodes == []


def test_a_big_jpeg_is_counted_at_the_size_its_decoder_makes():
    body = encode(Image.fromarray(noise(2400, 3200)), "JPEG", quality=70)
    header = image_files.probe(body, max_side=64)
    assert header.size == (3200, 2400)
    assert header.decode_pixels <= 3200 * 2400 // 64  # decoded at 1/8 scale
    decoded = image_files.read_image(body)
    assert decoded.pixels.shape == (768, 1024, 3) and decoded.original_size == (3200, 2400)


def test_a_zip_of_thousands_of_tiny_images_loads():
    red, blue = (encode(Image.new("RGB", (4, 4), colour), "PNG") for colour in ("red", "blue"))
    entries = {f"{label}/{i}.png": body for label, body in (("red", red), ("blue", blue))
               for i in range(1500)}
    ds = dataset_from_zip(zip_of(entries), size=8)
    assert ds.class_counts() == {"blue": 1200, "red": 1200}
    assert ds.class_counts("test") == {"blue": 300, "red": 300}


# ---------------------------------------------------------------- 8. NaN and infinite pixels


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("size", [(8, 8), (300, 2000)])  # the large one is shrunk first
def test_float_tiffs_with_non_finite_pixels_are_refused(bad, size):
    values = np.linspace(0, 1, size[0] * size[1], dtype=np.float32).reshape(size)
    values[size[0] // 2, size[1] // 3] = bad
    with pytest.raises(ImageError, match=r"not numbers \(NaN\) or are infinite"):
        image_files.read_image(float_tiff(values))


def test_float_tiffs_of_every_sign_and_size_are_finite():
    for values in ([[-3e38, 3e38], [0, 1]], [[1e-45, 0], [0, 0]], [[7, 7], [7, 7]],
                   [[-1, -2], [-3, -4]]):
        decoded = image_files.read_image(float_tiff(np.array(values)))
        assert_sane(decoded.pixels)
    big = np.array([[-3e38, 3e38], [3e38, -3e38]], np.float32)
    assert_sane(image_files.read_image(float_tiff(np.tile(big, (600, 600)))).pixels)
    extremes = np.array([[-(2**31), 2**31 - 1], [0, 65535]], np.int32)
    assert_sane(image_files.read_image(encode(Image.fromarray(extremes, "I"), "TIFF")).pixels)


def test_a_float_tiff_with_inf_in_a_zip_is_skipped_by_name():
    entries = two_classes() | {"cats/inf.tif": float_tiff(np.array([[0, np.inf], [1, 0]]))}
    ds = dataset_from_zip(zip_of(entries))
    assert "could not be read as an image (e.g. 'cats/inf.tif')" in " ".join(ds.notes)


# ---------------------------------------------------------------- 10. damaged members, flat data


def _member_data_offset(body: bytes, name: str) -> int:
    """Where a member's compressed bytes start (after its local header)."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        info = archive.getinfo(name)
    name_length, extra_length = struct.unpack_from("<HH", body, info.header_offset + 26)
    return info.header_offset + 30 + name_length + extra_length


def _damaged(method: int, how: str) -> bytes:
    entries = two_classes() | {"cats/victim.png": png(32, 32, seed=99)}
    body = bytearray(zip_of(entries, method))
    start = _member_data_offset(bytes(body), "cats/victim.png")
    if how == "first byte" and method == zipfile.ZIP_LZMA:
        body[start + 4] = 0xFF  # after the 4-byte header: lc/lp/pb out of range -> LZMAError
    elif how == "first byte":
        body[start] = 0x07  # deflate: final block of the reserved type 3 -> zlib.error
    elif how == "middle":
        for i in range(8):
            body[start + 20 + i] ^= 0xFF
    elif how == "method":  # a compression method zipfile does not know, in both headers
        with zipfile.ZipFile(io.BytesIO(bytes(body))) as archive:
            offset = archive.getinfo("cats/victim.png").header_offset
        body[offset + 8:offset + 10] = struct.pack("<H", 99)
        central = bytes(body).find(b"PK\x01\x02")
        while central >= 0:
            name_length = struct.unpack_from("<H", body, central + 28)[0]
            if body[central + 46:central + 46 + name_length] == b"cats/victim.png":
                body[central + 10:central + 12] = struct.pack("<H", 99)
            central = bytes(body).find(b"PK\x01\x02", central + 4)
    elif how == "local name":  # the local header disagrees with the central directory
        name_at = _member_data_offset(bytes(body), "cats/victim.png") - len("cats/victim.png")
        body[name_at:name_at + 4] = b"dogs"
    return bytes(body)


@pytest.mark.parametrize(("method", "how"), [
    (zipfile.ZIP_DEFLATED, "first byte"), (zipfile.ZIP_DEFLATED, "middle"),
    (zipfile.ZIP_BZIP2, "first byte"), (zipfile.ZIP_BZIP2, "middle"),
    (zipfile.ZIP_LZMA, "first byte"), (zipfile.ZIP_LZMA, "middle"),
    (zipfile.ZIP_STORED, "middle"), (zipfile.ZIP_DEFLATED, "method"),
    (zipfile.ZIP_DEFLATED, "local name"),
])
def test_a_damaged_member_is_skipped_and_counted(method, how):
    ds = dataset_from_zip(_damaged(method, how))
    assert sum(ds.class_counts().values()) + sum(ds.class_counts("test").values()) == 10
    assert "could not be read as an image (e.g. 'cats/victim.png')" in " ".join(ds.notes)


def test_a_zip_cut_short_or_with_a_garbled_directory_is_refused_with_a_message():
    body = zip_of(two_classes())
    for broken in (body[: len(body) // 2], body[:-10], body[:-22] + b"PK\x05\x06" + bytes(18),
                   b"PK\x03\x04" + bytes(100)):
        with pytest.raises(DatasetError):
            dataset_from_zip(broken)


def _normalised(ds: data.Dataset, split: str = "train") -> torch.Tensor:
    images_, _ = ds._split(split)
    mean = torch.tensor(ds.mean).view(1, -1, 1, 1)
    std = torch.tensor(ds.std).view(1, -1, 1, 1)
    return (images_.float() / 255 - mean) / std


def test_a_constant_colour_channel_does_not_divide_by_zero():
    rng = np.random.default_rng(0)
    entries = {}
    for label, channel in (("reds", 0), ("greens", 1)):
        for i in range(5):
            pixels = np.zeros((8, 8, 3), np.uint8)  # blue stays 0 in every image
            pixels[..., channel] = rng.integers(0, 256, (8, 8))
            entries[f"{label}/{i}.png"] = encode(Image.fromarray(pixels), "PNG")
    ds = dataset_from_zip(zip_of(entries))
    assert ds.std[2] == 1.0 and ds.mean[2] == 0.0
    assert ds.std[:2] == data.channel_stats(ds.train_images)[1][:2]  # the others are exact
    assert any("blue channel is (almost) the same" in note for note in ds.notes)
    assert torch.isfinite(_normalised(ds)).all() and torch.isfinite(_normalised(ds, "test")).all()


def test_identical_images_get_a_usable_std_in_every_channel():
    grey = encode(Image.new("RGB", (8, 8), (128, 128, 128)), "PNG")
    ds = dataset_from_zip(zip_of({f"{label}/{i}.png": grey for label in "ab" for i in range(3)}))
    assert ds.std == (1.0, 1.0, 1.0)
    assert any("red, green and blue channels are" in note for note in ds.notes)
    assert torch.isfinite(_normalised(ds)).all()
    # a single-channel dataset built by a loader gets the same floor
    flat = torch.full((4, 1, 2, 2), 7, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 0, 1])
    assert data.make_dataset("flat", ("a", "b"), (flat, labels), (flat, labels)).std == (1.0,)


# ---------------------------------------------------------------- 11. EXIF orientation


def _corners() -> np.ndarray:
    """32 x 48: red top-left, green top-right, blue bottom-right, white bottom-middle."""
    blocks = np.zeros((2, 3, 3), np.uint8)
    blocks[0, 0], blocks[0, 2], blocks[1, 2], blocks[1, 1] = (255, 0, 0), (0, 255, 0), \
        (0, 0, 255), (255, 255, 255)
    return np.repeat(np.repeat(blocks, 16, axis=0), 16, axis=1)


def _exif(type_code: int, count: int, payload: bytes) -> bytes:
    """A little-endian EXIF block holding one Orientation entry of any TIFF type."""
    inline = len(payload) <= 4
    value = payload.ljust(4, b"\0") if inline else struct.pack("<I", 8 + 2 + 12 + 4)
    ifd = struct.pack("<HHHI", 1, 0x0112, type_code, count) + value + struct.pack("<I", 0)
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + (b"" if inline else payload)


def _jpeg_with_exif(exif: bytes | Image.Exif) -> bytes:
    return encode(Image.fromarray(_corners()), "JPEG", quality=95, subsampling=0, exif=exif)


def _upright(orientation: int) -> np.ndarray:
    """Pillow's own answer for a valid orientation."""
    from PIL import ImageOps

    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = Image.open(io.BytesIO(_jpeg_with_exif(exif)))
    return np.asarray(ImageOps.exif_transpose(stored), np.float32) / 255


@pytest.mark.parametrize("orientation", range(2, 9))
def test_orientations_2_to_8_turn_the_picture_upright(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = image_files.read_image(_jpeg_with_exif(exif))
    np.testing.assert_allclose(decoded.pixels, _upright(orientation), atol=0.02)
    assert any("Rotated upright" in note for note in decoded.notes)


BAD_ORIENTATIONS = {
    "9999": (3, 1, struct.pack("<H", 9999)),
    "65535": (3, 1, struct.pack("<H", 65535)),
    "9": (3, 1, struct.pack("<H", 9)),
    "0": (3, 1, struct.pack("<H", 0)),
    "negative": (8, 1, struct.pack("<h", -1)),
    "rational 6/1": (5, 1, struct.pack("<II", 6, 1)),
    "text '6'": (2, 2, b"6\0"),
    "float 6.0": (11, 1, struct.pack("<f", 6.0)),
    "huge long": (4, 1, struct.pack("<I", 2**32 - 1)),
}


@pytest.mark.parametrize("case", list(BAD_ORIENTATIONS))
def test_other_orientation_values_leave_the_picture_as_stored(case):
    decoded = image_files.read_image(_jpeg_with_exif(_exif(*BAD_ORIENTATIONS[case])))
    np.testing.assert_allclose(decoded.pixels, _corners() / 255, atol=0.1)
    assert not any("Rotated" in note for note in decoded.notes)
    if case != "0":  # 0 means "unknown" in EXIF: nothing to say
        assert any("Ignored the camera's orientation tag" in note for note in decoded.notes)
    assert not any("'6'" in note or "6/1" in note for note in decoded.notes)  # no file text


def test_a_malformed_exif_block_costs_only_the_orientation():
    for exif in (b"Exif\0\0" + bytes(range(256)) * 4, b"Exif\0\0MM\0*\xff\xff\xff\xff",
                 b"Exif\0\0II*\0" + struct.pack("<IH", 8, 60000)):
        decoded = image_files.read_image(_jpeg_with_exif(exif))
        np.testing.assert_allclose(decoded.pixels, _corners() / 255, atol=0.1)


def test_orientation_in_a_png_exif_chunk():
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = image_files.read_image(encode(Image.fromarray(_corners()), "PNG", exif=exif))
    assert decoded.pixels.shape == (48, 32, 3)
    exif[0x0112] = 9999
    decoded = image_files.read_image(encode(Image.fromarray(_corners()), "PNG", exif=exif))
    assert decoded.pixels.shape == (32, 48, 3)


# ---------------------------------------------------------------- frames and pages


def _gif(frames: int, width: int = 1, height: int = 1) -> bytes:
    """A GIF with a 2-colour table and `frames` 1 x 1 frames, written by hand (Pillow would
    merge identical frames)."""
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b";"


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(owner, name)

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def test_a_gif_with_a_million_frames_is_not_walked(monkeypatch):
    body = _gif(1_000_000)
    seeks = _count_calls(monkeypatch, GifImagePlugin.GifImageFile, "_seek")
    decoded = image_files.read_image(body)
    assert decoded.pixels.shape == (1, 1, 3)
    assert any("first" in note for note in decoded.notes)
    assert len(seeks) <= 4  # open, is_animated and back: not one per frame


def _tiff_pages(pages: int) -> bytes:
    """A little-endian TIFF of `pages` 1 x 1 grey pages sharing one pixel, written by hand
    (Pillow's save_all takes minutes for thousands of pages)."""
    tags = [(256, 1), (257, 1), (258, 8), (259, 1), (262, 1), (273, 8), (277, 1), (278, 1),
            (279, 1)]  # width, height, bits, no compression, black is 0, strip at byte 8, ...
    ifd_size = 2 + 12 * len(tags) + 4
    out = bytearray(b"II*\0" + struct.pack("<I", 12) + b"\xc8\0\0\0")  # first IFD at 12
    for page in range(pages):
        here = 12 + page * ifd_size
        out += struct.pack("<H", len(tags))
        for tag, value in tags:
            out += struct.pack("<HHII", tag, 3 if tag != 273 else 4, 1, value)
        out += struct.pack("<I", here + ifd_size if page < pages - 1 else 0)
    return bytes(out)


def test_a_tiff_with_thousands_of_pages_is_not_walked(monkeypatch):
    body = _tiff_pages(20_000)
    assert len(body) > 256 * 1024
    seeks = _count_calls(monkeypatch, TiffImagePlugin.TiffImageFile, "_seek")
    decoded = image_files.read_image(body)
    assert decoded.pixels.shape == (1, 1, 3)
    assert any("first" in note and "pages" in note for note in decoded.notes)
    assert len(seeks) <= 4


def test_small_animations_say_how_many_frames_and_use_the_first():
    frames = [Image.new("RGB", (6, 4), colour) for colour in ("red", "lime", "blue")]
    for fmt in ("GIF", "PNG", "WEBP", "TIFF"):
        params = {"lossless": True} if fmt == "WEBP" else {}
        body = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                      **params)
        decoded = image_files.read_image(body)
        assert decoded.pixels.shape == (4, 6, 3), fmt
        np.testing.assert_allclose(decoded.pixels[2, 3], [1, 0, 0], atol=0.02, err_msg=fmt)
        assert any("first of its 3" in note for note in decoded.notes), (fmt, decoded.notes)


def test_gifs_without_frames_or_pixels_are_refused_or_sane():
    for body in (_gif(0), _gif(0, 0, 0), _gif(1, 0, 0), _gif(1, 65535, 65535)[:40]):
        decodes_or_refuses(body)
    with pytest.raises(ImageError):
        image_files.read_image(_gif(0))


# ---------------------------------------------------------------- structures Pillow walks slowly


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    import zlib

    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def _png_with(filler: bytes, *, after: bool = False) -> bytes:
    import zlib

    head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = _png_chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
    middle = idat + filler if after else filler + idat
    return head + middle + _png_chunk(b"IEND", b"")


def _jpeg(**params) -> bytes:
    return encode(Image.new("RGB", (8, 8), "red"), "JPEG", **params)


def _tiff_strips(strips: int, width: int = 4, height: int = 4) -> bytes:
    """One grey page (all 0x80) cut into `strips` strips; more strips than rows all point at
    the same byte (as a hostile file would)."""
    rows = max(1, height // strips)  # RowsPerStrip
    size = width * rows if strips <= height else 1
    tags = [(256, 3, 1, width), (257, 3, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
            (262, 3, 1, 1), (277, 3, 1, 1), (278, 3, 1, rows)]
    arrays_at = 8 + 2 + 12 * (len(tags) + 2) + 4
    pixels_at = arrays_at + 8 * strips
    offsets = [pixels_at + (i * size if strips <= height else 0) for i in range(strips)]
    out = b"II*\0" + struct.pack("<IH", 8, len(tags) + 2)
    for tag in tags:
        out += struct.pack("<HHII", *tag)
    out += struct.pack("<HHII", 273, 4, strips, arrays_at)
    out += struct.pack("<HHII", 279, 4, strips, arrays_at + 4 * strips) + struct.pack("<I", 0)
    out += struct.pack(f"<{strips}I", *offsets) + struct.pack(f"<{strips}I", *[size] * strips)
    return out + b"\x80" * (width * height)


GIF_HEAD = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
GIF_FRAME = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"

SLOW_STRUCTURES = {
    "PNG of a million empty chunks": lambda: _png_with(_png_chunk(b"abCd", b"") * 1_000_000),
    "PNG with a million chunks after its pixels":
        lambda: _png_with(_png_chunk(b"abCd", b"") * 1_000_000, after=True),
    "PNG of 100,000 text chunks": lambda: _png_with(_png_chunk(b"tEXt", b"k\0v") * 100_000),
    "JPEG of a million empty comments": lambda: _jpeg()[:2] + b"\xff\xfe\0\x02" * 1_000_000
        + _jpeg()[2:],
    "JPEG of 10,000 scans": lambda: _jpeg() + b"\xff\xda\0\x02" * 10_000,
    "GIF comment in 2-byte blocks": lambda: GIF_HEAD + b"\x21\xfe" + b"\x01x" * 2_000_000
        + b"\0" + GIF_FRAME + b";",
    "GIF frame in 2-byte blocks": lambda: GIF_HEAD + GIF_FRAME[:10] + b"\x02"
        + b"\x01\x44" * 2_000_000 + b"\0" + GIF_FRAME + b";",
    "TIFF of 200,000 strips": lambda: _tiff_strips(200_000),
}


@pytest.mark.parametrize("case", list(SLOW_STRUCTURES))
def test_structures_pillow_would_walk_slowly_are_refused_unread(case, monkeypatch):
    body = SLOW_STRUCTURES[case]()
    opened: list[int] = []
    original = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(1) or original(*a, **k))
    with pytest.raises(ImageError, match="built in an unusual way"):
        image_files.read_image(body)
    with pytest.raises(ImageError, match="built in an unusual way"):
        image_files.probe(body)
    assert opened == []  # refused by a scan of the bytes, before Pillow parsed anything


def test_files_with_many_ordinary_parts_still_open():
    import zlib

    rows = b"".join(b"\0" + bytes(np.random.default_rng(i).integers(0, 256, 300, np.uint8))
                    for i in range(100))
    packed = zlib.compress(rows)
    idats = b"".join(_png_chunk(b"IDAT", packed[i:i + 8]) for i in range(0, len(packed), 8))
    head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100, 100, 8, 2, 0,
                                                                           0, 0))
    assert image_files.read_image(head + idats + _png_chunk(b"IEND", b"")).pixels.shape == (100, 100, 3)
    photo = Image.fromarray(noise(60, 80))
    assert image_files.read_image(encode(photo, "JPEG", progressive=True)).pixels.shape == (60, 80, 3)
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # a 60 KB description in APP1
    assert image_files.read_image(encode(photo, "JPEG", exif=exif)).pixels.shape == (60, 80, 3)
    stray = _jpeg()[:2] + b"\xff\xfe\0\x02" + bytes(2_000_000) + _jpeg()[2:]  # Pillow skips fast
    assert image_files.read_image(stray).pixels.shape == (8, 8, 3)
    strips = image_files.read_image(_tiff_strips(64, width=4, height=64), mode="L").pixels
    assert strips.shape == (64, 4)


# ---------------------------------------------------------------- empty, tiny, odd


def _bmp(width: int, height: int, bits: int = 24, colours: int = 0) -> bytes:
    row = ((width * bits + 31) // 32) * 4
    palette = bytes(4 * colours)
    offset = 14 + 40 + len(palette)
    stored = min(row * abs(height), 4096)  # a big header may promise more than the file holds
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, stored, 2835, 2835,
                       colours, 0)
    return (b"BM" + struct.pack("<IHHI", offset + stored, 0, 0, offset) + info + palette
            + bytes(stored))


def _png_chunks(width: int, height: int, *chunks: tuple[bytes, bytes], colour: int = 2,
                depth: int = 8) -> bytes:
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    for kind, payload in chunks:
        out += chunk(kind, payload)
    return out + chunk(b"IEND", b"")


def test_images_without_pixels_are_refused():
    import zlib

    for body in (_bmp(0, 0), _bmp(0, 5), _bmp(5, 0),
                 _png_chunks(0, 0, (b"IDAT", zlib.compress(b""))),
                 _png_chunks(0, 7, (b"IDAT", zlib.compress(b"")))):
        with pytest.raises(ImageError):
            image_files.read_image(body)


def test_one_pixel_and_odd_bmps():
    decoded = image_files.read_image(encode(Image.new("RGB", (1, 1), "red"), "PNG"))
    assert decoded.pixels.shape == (1, 1, 3)
    for body in (_bmp(4, -4), _bmp(4, 4, bits=8, colours=256), _bmp(4, 4, bits=8, colours=100000),
                 _bmp(4, 4, bits=1, colours=2), _bmp(2**20, 2**20), _bmp(4, 4, bits=7)):
        decodes_or_refuses(body)


def test_palettes_huge_short_or_missing():
    import zlib

    pixels = zlib.compress(b"".join(b"\0" + bytes(range(4)) for _ in range(4)))
    for palette in (bytes(range(256)) * 3, bytes(3 * 300), bytes(3), bytes(2), b""):
        decodes_or_refuses(_png_chunks(4, 4, (b"PLTE", palette), (b"IDAT", pixels), colour=3))
    decodes_or_refuses(_png_chunks(4, 4, (b"IDAT", pixels), colour=3))  # no palette at all
    transparency = (b"tRNS", bytes(1000))
    decodes_or_refuses(
        _png_chunks(4, 4, (b"PLTE", bytes(768)), transparency, (b"IDAT", pixels), colour=3))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"])
def test_files_cut_anywhere_are_refused_or_sane(fmt):
    image = Image.fromarray(noise(24, 32))
    if fmt == "GIF":
        image = image.quantize(64)
    body = encode(image, fmt)
    for cut in sorted({1, 2, 8, 16, 30, len(body) // 4, len(body) // 2, len(body) - 2,
                       len(body) - 1}):
        decodes_or_refuses(body[:cut])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"])
def test_files_with_flipped_bytes_are_refused_or_sane(fmt, no_programs):
    """A small deterministic fuzz: every outcome is a sane picture or an ImageError."""
    image = Image.fromarray(noise(16, 16, seed=1))
    if fmt == "GIF":
        image = image.quantize(16)
    body = encode(image, fmt)
    rng = np.random.default_rng(sum(fmt.encode()))
    for _ in range(60):
        mutant = bytearray(body)
        for at in rng.integers(0, len(body), rng.integers(1, 6)):
            mutant[at] = int(rng.integers(0, 256))
        decodes_or_refuses(bytes(mutant))
        with contextlib.suppress(ImageError):
            image_files.probe(bytes(mutant))


# ---------------------------------------------------------------- zips: names and nesting


def test_nested_zips_are_not_opened():
    inner = zip_of(two_classes())
    entries = two_classes() | {"cats/inner.zip": inner, "dogs/zip.png": inner}
    ds = dataset_from_zip(zip_of(entries))
    notes = " ".join(ds.notes)
    assert "Skipped 1 file that is not an image (e.g. 'cats/inner.zip')" in notes
    assert "Skipped 1 file that could not be read as an image (e.g. 'dogs/zip.png')" in notes


def test_backslashes_and_absolute_windows_paths():
    ds = dataset_from_zip(zip_of({name.replace("/", "\\"): body
                                  for name, body in two_classes().items()}))
    assert ds.classes == ("cats", "dogs")
    for evil in ("\\etc\\x.png", "C:\\x.png", "c:x.png", "\\\\server\\share\\x.png"):
        with pytest.raises(DatasetError, match="absolute path"):
            dataset_from_zip(zip_of(two_classes() | {evil: png()}))
    for evil in ("..\\x.png", "cats\\..\\..\\x.png"):
        with pytest.raises(DatasetError, match="leaves its folder"):
            dataset_from_zip(zip_of(two_classes() | {evil: png()}))


def test_unicode_class_names():
    entries = {f"{label}/{i}.png": png(seed=i) for label in ("猫", "собаки", "café ☕")
               for i in range(3)}
    ds = dataset_from_zip(zip_of(entries))
    assert set(ds.classes) == {"猫", "собаки", "café ☕"}


def test_long_and_unprintable_member_names_are_shortened_in_messages():
    long_name = "cats/" + "x" * 5000 + ".png"
    ds = dataset_from_zip(zip_of(two_classes() | {long_name: b"junk",
                                                 "dogs/line\nbreak\x07.png": b"junk"}))
    notes = " ".join(ds.notes)
    assert "x" * 100 not in notes and "..." in notes
    with pytest.raises(DatasetError) as caught:
        dataset_from_zip(zip_of(two_classes() | {"/" + "y" * 5000: png()}))
    assert len(str(caught.value)) < 300
    with pytest.raises(DatasetError) as caught:
        dataset_from_zip(zip_of(two_classes() | {"../a\nb.png": png()}))
    assert "\n" not in str(caught.value)


def test_a_path_twice_is_used_once_and_counted():
    entries = list(two_classes().items()) + [("cats/0.png", png(seed=77)),
                                              ("cats\\1.png", png(seed=78))]
    ds = dataset_from_zip(zip_of(entries))
    assert sum(ds.class_counts().values()) + sum(ds.class_counts("test").values()) == 10
    assert "Skipped 2 files whose paths appear twice in the zip" in " ".join(ds.notes)


def test_when_nothing_is_left_the_refusal_says_what_was_skipped():
    entries = {"cats/a.png": EPS, "dogs/b.png": b"junk", "dogs/c.txt": b"text"}
    with pytest.raises(DatasetError) as caught:
        dataset_from_zip(zip_of(entries))
    message = str(caught.value)
    assert "no images we can read" in message
    assert "Skipped 2 files that could not be read as images" in message


# ---------------------------------------------------------------- through the picker


@pytest.fixture
def picker(no_programs) -> AppTest:
    at = AppTest.from_function(picker_script, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    at.radio(key="keep.harness.source").set_value("upload").run()
    return at


def _upload(at: AppTest, name: str, body: bytes) -> AppTest:
    at.file_uploader(key="harness.upload").set_value((name, body, "image/png")).run()
    assert not at.exception, at.exception
    return at


def test_picker_refuses_an_eps_named_png_by_name(picker, no_programs):
    _upload(picker, "photo.png", EPS)
    errors = " ".join(e.value for e in picker.error)
    assert "`photo.png`" in errors and "PostScript" in errors and ALLOWED_NAMES in errors
    assert picker.subheader[0].value == "Input: Chelsea the cat"
    assert no_programs == []


def test_picker_names_a_float_tiff_with_inf_and_keeps_the_last_picture(picker):
    _upload(picker, "red.png", encode(Image.new("RGB", (40, 60), "red"), "PNG"))
    _upload(picker, "stars.tif", float_tiff(np.array([[0, np.inf], [1, 0]])))
    errors = " ".join(e.value for e in picker.error)
    assert "`stars.tif`" in errors and "infinite" in errors
    assert picker.subheader[0].value == "Input: red.png"
    assert caption(picker) == "shape (60, 40, 3)"


def test_picker_decodes_a_refused_file_once(picker, monkeypatch):
    calls: list[int] = []
    original = image_files.read_image

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(image_files, "read_image", counting)
    _upload(picker, "strip.png", encode(Image.new("RGB", (1, 5000)), "PNG"))
    picker.run()
    picker.run()
    assert not picker.exception
    assert len(calls) == 1
    assert any("times the other" in e.value for e in picker.error)  # still said on each rerun


def test_picker_shows_a_markdown_file_name_literally(picker):
    name = "my $x$ *bold* :red[oops] `tick`.png"
    _upload(picker, name, b"not an image")
    errors = " ".join(e.value for e in picker.error)
    assert "`my $x$ *bold* :red[oops] 'tick'.png`" in errors
