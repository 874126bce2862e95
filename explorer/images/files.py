"""Uploaded image files decoded safely: an allow-list of formats, structure checks and limits
before any pixel is decoded, EXIF orientation, and a bounded size."""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from explorer.images.pictures import as_float, as_mode, check_mode

MAX_PIXELS = 40_000_000
"""Uploads claiming more pixels than this (about 6300 x 6300) are refused before decoding."""

# Pillow warns at 89 megapixels (and raises at 179) while opening a header, before our own,
# stricter MAX_PIXELS check refuses it: the warning would only add noise to the server log.
# Set once at import (catch_warnings around each call is process-wide and not thread-safe).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Pillow's plugins also warn about what they skip in a damaged file ("Corrupt EXIF data",
# "Truncated File Read"): about the student's file, not the server; each file that matters is
# refused or decoded with a message in the page.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")

DEFAULT_MAX_SIDE = 1024


class ImageError(ValueError):
    """An upload that cannot be used as an image; the message is meant for a student."""


class ImageTooLarge(ImageError):
    """An image refused for its size alone (more than MAX_PIXELS, or a decompression bomb)."""


# ---------------------------------------------------------------- uploads

ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
"""The only Pillow decoders an upload reaches. Pillow knows ~40 formats; some run programs
(EPS starts Ghostscript) or are rarely fuzzed, so everything else is refused unread."""

_ALLOWED_NAMES = "PNG, JPEG, GIF, BMP, TIFF or WebP"

MAX_ASPECT = 20.0
"""Longest side / shortest side of an upload. A 1 x 5000 strip resized to a network's 256-pixel
short side would become 256 x 1,280,000 pixels; at 20:1 no later resize can explode."""

_CHEAP_FRAME_COUNT_BYTES = 256 * 2**10
"""GIF and TIFF count frames by walking the whole file (~2 us per byte of tiny frames):
only files up to this size are counted; PNG and WebP state their count in a header."""


@dataclass(frozen=True)
class DecodedImage:
    """An uploaded image after decoding: pixels plus what was done to them."""

    pixels: np.ndarray  # float32 in [0, 1], H x W or H x W x 3
    original_size: tuple[int, int]  # (width, height) as stored in the file
    source_mode: str  # Pillow mode of the file, e.g. "P", "RGBA", "I;16", "CMYK"
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says, read without decoding any pixels."""

    format: str  # Pillow's name: one of ALLOWED_FORMATS (or "MPO", a JPEG with extra pictures)
    size: tuple[int, int]  # (width, height) as stored
    decode_size: tuple[int, int]  # (width, height) the decoder will produce (JPEGs shrink in it)

    @property
    def decode_pixels(self) -> int:
        """Pixels the decoder will write: a measure of the time and memory decoding costs."""
        return self.decode_size[0] * self.decode_size[1]


_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transposition that turns the stored picture upright (as ImageOps)
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_UNREADABLE = f"This file is not an image we can read. Upload a {_ALLOWED_NAMES} picture."

_DAMAGED = (
    "This image file is damaged or incomplete (it may have been cut off while copying). "
    "Try saving or exporting it again."
)

# Formats refused, recognised by their first bytes only to name them in the message: those
# Pillow does not know, then Pillow plugins whose `accept` test checks a distinctive signature
# (TGA, PCX and CUR have none worth the name: a TGA passes CUR's test). Order matters: XPM's
# "/* XPM */" before XBM's "/*".
_OTHER_SIGNATURES = (
    (b"%PDF", "PDF"),
    (b"<svg", "SVG"),
    (b"<?xml", "XML (perhaps SVG)"),
    (b"PK\x03\x04", "zip"),
)
_PILLOW_NAMES = {
    "EPS": "PostScript (EPS)", "ICNS": "Apple icon (ICNS)", "PSD": "Photoshop (PSD)",
    "XPM": "X11 pixmap (XPM)", "XBM": "X11 bitmap (XBM)", "DDS": "DirectDraw texture (DDS)",
    "QOI": "QOI", "JPEG2000": "JPEG 2000", "AVIF": "AVIF", "FITS": "FITS",
    "BLP": "Blizzard texture (BLP)", "HDF5": "HDF5", "GRIB": "GRIB", "BUFR": "BUFR",
    "FTEX": "Firaxis texture (FTEX)", "WMF": "Windows metafile (WMF/EMF)",
    "GBR": "GIMP brush (GBR)", "DCX": "multi-page PCX (DCX)", "PIXAR": "Pixar",
    "ICO": "Windows icon (ICO)", "SGI": "SGI", "PPM": "Netpbm (PBM/PGM/PPM)",
    "MSP": "Windows Paint (MSP)", "MPEG": "MPEG video", "SUN": "Sun raster",
    "XVTHUMB": "XV thumbnail",
}


def _format_name(data: bytes) -> str | None:
    """The name of a format we refuse, from the file's first bytes; None if unknown.

    Uses Pillow plugins' `accept` tests, pure checks of the first 16 bytes: no plugin parses
    anything, so no refused decoder (nor Ghostscript) ever runs.
    """
    prefix = data[:16]
    for signature, name in _OTHER_SIGNATURES:
        if prefix.startswith(signature):
            return name
    if prefix[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "HEIC"
    try:
        Image.init()
        for fmt, name in _PILLOW_NAMES.items():
            accept = Image.OPEN.get(fmt, (None, None))[1]
            if accept is not None and accept(prefix) is True:
                return name
    except Exception:  # a plugin's test failing only costs the friendlier name
        return None
    return None


def _refused_format(data: bytes) -> str:
    name = _format_name(data)
    if name is None:
        return _UNREADABLE
    return (
        f"This file is not an image we can read: it looks like a file in the {name} format. "
        f"Upload a {_ALLOWED_NAMES} picture (save or export it as PNG or JPEG first)."
    )


# Pillow walks some file structures in Python, one small step at a time, before any pixel:
# a 12 MB PNG of a million empty chunks took 21 s, a JPEG of a million empty markers ~8 s per
# 4 MB, a GIF of 2-byte sub-blocks ~2.5 s per 4 MB, a TIFF of 200,000 one-byte strips 6 s.
# These caps are far above what any camera or editor writes, and the scans below cost at most
# a few tens of milliseconds.
_MAX_PNG_CHUNKS = 50_000  # an encoder writing 8 KB IDAT chunks needs ~6,000 for 50 MB
_MAX_JPEG_STEPS = 5_000  # markers before the first scan: about 20 in practice
_MAX_JPEG_SCANS = 500  # progressive JPEGs have ~10; each scan re-decodes the whole picture
_MAX_GIF_BLOCKS = 300_000  # sub-blocks up to the second frame (a 50 MB frame has ~200,000)
_MAX_TIFF_PARTS = 32_768  # strips or tiles of the first page (one per row of 28,000 rows)


def _too_complex(what: str) -> ImageError:
    return ImageError(
        f"This image file is built in an unusual way ({what}); reading it would take the "
        "server too long. Open it in an image editor and save or export it again."
    )


def _check_structure(data: bytes) -> None:
    """Refuse files whose structure would make Pillow's Python-level parsing slow."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        _check_png(data)
    elif data.startswith(b"\xff\xd8"):
        _check_jpeg(data)
    elif data.startswith((b"GIF87a", b"GIF89a")):
        _check_gif(data)
    elif data.startswith((b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")):
        _check_tiff(data)


def _check_png(data: bytes) -> None:
    position, chunks = 8, 0
    while position + 8 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        position += 12 + length
        chunks += 1
        if chunks > _MAX_PNG_CHUNKS:
            raise _too_complex(f"more than {_MAX_PNG_CHUNKS:,} PNG chunks")
        if kind == b"IEND":
            return


def _check_jpeg(data: bytes) -> None:
    # Markers 0xFFD0-0xFFD9 and 0xFF01 stand alone; every other one has a 2-byte length.
    position, steps = 2, 0
    while position + 1 < len(data):
        steps += 1
        if steps > _MAX_JPEG_STEPS:
            raise _too_complex(f"more than {_MAX_JPEG_STEPS:,} markers before the picture")
        if data[position] != 0xFF:  # stray bytes: skipped (quickly, by Pillow too)
            position = data.find(b"\xff", position)
            if position < 0:
                break
            continue
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: the C decoder takes over from here
            break
        if marker in (0xFF, 0x00):
            position += 1
        elif 0xD0 <= marker <= 0xD9 or marker == 0x01:
            position += 2
        else:
            position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    scans = data.count(b"\xff\xda")  # 0xFF in coded data is always followed by 0x00
    if scans > _MAX_JPEG_SCANS:
        raise _too_complex(f"{scans:,} scans; progressive JPEGs have about 10")


def _check_gif(data: bytes) -> None:
    flags = data[10] if len(data) > 10 else 0
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    blocks = frames = 0
    while position < len(data):
        introducer = data[position]
        if introducer == 0x21:  # extension: label, then sub-blocks
            position += 2
        elif introducer == 0x2C:  # image: descriptor, local colours, LZW size, sub-blocks
            frames += 1
            if frames == 2:
                return
            local = data[position + 9] if position + 9 < len(data) else 0
            position += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
        else:  # trailer or junk: Pillow stops here too
            return
        while position < len(data) and data[position]:
            position += 1 + data[position]
            blocks += 1
            if blocks > _MAX_GIF_BLOCKS:
                raise _too_complex(f"more than {_MAX_GIF_BLOCKS:,} GIF data blocks")
        position += 1


def _check_tiff(data: bytes) -> None:
    order = "little" if data[:2] == b"II" else "big"
    big = data[2:4] in (b"+\0", b"\0+")  # BigTIFF: 8-byte offsets and counts
    try:
        if big:
            offset = int.from_bytes(data[8:16], order)
            entries = int.from_bytes(data[offset:offset + 8], order)
            start, size, count_at, count_size = offset + 8, 20, 4, 8
        else:
            offset = int.from_bytes(data[4:8], order)
            entries = int.from_bytes(data[offset:offset + 2], order)
            start, size, count_at, count_size = offset + 2, 12, 4, 4
    except (IndexError, ValueError):
        return  # Pillow will find the damage and say so
    for index in range(min(entries, 65_535)):
        entry = data[start + index * size:start + (index + 1) * size]
        if len(entry) < size:
            return
        tag = int.from_bytes(entry[:2], order)
        if tag in (273, 279, 324, 325):  # strip / tile offsets and byte counts
            count = int.from_bytes(entry[count_at:count_at + count_size], order)
            if count > _MAX_TIFF_PARTS:
                raise _too_complex(f"{count:,} strips or tiles in one page")


def _open(
    data: bytes, max_side: int, max_aspect: float | None
) -> tuple[Image.Image, tuple[int, int]]:
    """Open (header only) with the allowed decoders, check the size, shrink JPEG decoding.

    Returns the image and its (width, height) as stored (draft() may shrink image.size).
    Raises ImageError for files we refuse; Pillow's own exceptions pass through.
    """
    if not data:
        raise ImageError("The file is empty (0 bytes). Choose a picture file and upload it again.")
    _check_structure(data)
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError as error:
        raise ImageError(_refused_format(data)) from error
    if image.format not in ALLOWED_FORMATS + ("MPO",):  # belt and braces: formats= did this
        raise ImageError(_UNREADABLE)
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"This image has no pixels ({width} x {height}). Upload a real picture.")
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"This image says it is {width} x {height} pixels ({width * height / 1e6:.0f} "
            f"megapixels); the limit is {MAX_PIXELS / 1e6:.0f} megapixels. "
            "Resize it before uploading."
        )
    if max_aspect is not None and max(width, height) > max_aspect * min(width, height):
        raise ImageError(
            f"This image is {width} x {height} pixels: one side is "
            f"{max(width, height) / min(width, height):.0f} times the other, and the limit is "
            f"{max_aspect:.0f} to 1. Crop it to a less extreme shape before uploading."
        )
    if image.format in ("JPEG", "MPO") and max(width, height) >= 4 * max_side:
        # The JPEG decoder can scale by 1/2, 1/4 or 1/8 for free; ask for twice max_side.
        scale = 2 * max_side / max(width, height)
        image.draft(None, (max(1, int(width * scale)), max(1, int(height * scale))))
    return image, (width, height)


def probe(
    data: bytes, *, max_side: int = DEFAULT_MAX_SIDE, max_aspect: float | None = MAX_ASPECT
) -> ImageHeader:
    """Read a file's header as read_image would, without decoding pixels.

    Raises ImageError for what read_image would refuse from the header alone.
    """
    try:
        image, stored = _open(data, max_side, max_aspect)
        return ImageHeader(image.format, stored, image.size)
    except ImageError:
        raise
    except Exception as error:
        raise _pillow_error(error) from error


def _pillow_error(error: Exception) -> ImageError:
    """A Pillow exception on hostile bytes -> the message a student sees."""
    if isinstance(error, Image.DecompressionBombError):
        return ImageTooLarge(
            "This image is too large to open safely (it may be a 'decompression bomb'). "
            "Resize it before uploading."
        )
    if isinstance(error, MemoryError):
        return ImageTooLarge("This image needs more memory than the server has. Resize it.")
    return ImageError(_DAMAGED)


def _orientation(image: Image.Image) -> tuple[Image.Transpose | None, str | None]:
    """The EXIF orientation's transposition (2-8 only) and a note; a broken EXIF is ignored."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # a malformed EXIF block must not cost the picture
        return None, None
    if value is None or (type(value) is int and value in (0, 1)):
        return None, None
    if type(value) is int and value in _UPRIGHT:
        return _UPRIGHT[value], "Rotated upright using the camera's orientation tag (EXIF)."
    # the value itself is shown only when it is a number: text from the file stays out of pages
    shown = f" {value}" if type(value) is int else ""
    return None, (f"Ignored the camera's orientation tag (EXIF): its value{shown} is not a "
                  "whole number from 1 to 8, so the picture is shown as stored.")


def _frames_note(image: Image.Image, size_in_bytes: int) -> str | None:
    """Animated images and multi-page TIFFs: say that only the first frame is used."""
    if not getattr(image, "is_animated", False):
        return None
    what = "pages" if image.format == "TIFF" else "frames"
    opening = "Multi-page image" if what == "pages" else "Animated image"
    if image.format in ("PNG", "WEBP") or size_in_bytes <= _CHEAP_FRAME_COUNT_BYTES:
        return f"{opening}: showing the first of its {image.n_frames} {what}."
    return f"{opening} with many {what}: showing the first."


def read_image(
    data: bytes,
    *,
    mode: str = "RGB",
    max_side: int = DEFAULT_MAX_SIDE,
    max_aspect: float | None = MAX_ASPECT,
) -> DecodedImage:
    """Decode an uploaded file safely; raise ImageError with a student-readable message.

    Only ALLOWED_FORMATS are decoded. Refused before any pixel is decoded: other formats, no
    pixels, more than MAX_PIXELS, a side more than max_aspect times the other (None: any
    shape). Refused after decoding: NaN or infinite values (float TIFFs). Images larger than
    max_side are shrunk to it (anti-aliased); beyond 2 max_side, Pillow first shrinks them by
    a whole factor (a JPEG already in its decoder), so no full-size float copy ever exists.
    """
    check_mode(mode)
    try:
        image, (width, height) = _open(data, max_side, max_aspect)
        notes = []
        frames = _frames_note(image, len(data))
        if frames:
            image.seek(0)
            notes.append(frames)
        source_mode = image.mode
        image.load()
        upright, orientation_note = _orientation(image)
        if orientation_note:
            notes.append(orientation_note)
        image = _working_mode(image)
        if upright is not None:
            image = image.transpose(upright)
        image = _shrink(image, max_side)
        pixels = _pillow_to_float(image)  # (H, W) or (H, W, 3), longest side <= 2 max_side
    except ImageError:
        raise
    except Exception as error:
        # A decoder fed hostile bytes may raise nearly anything (OSError, SyntaxError,
        # struct.error, IndexError, ...): each one means "this file is damaged".
        raise _pillow_error(error) from error

    if upright in (Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE,
                   Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270):
        shown_size = (height, width)
    else:
        shown_size = (width, height)
    if max(pixels.shape[:2]) > max_side:
        pixels = _downscale(pixels, max_side)
    if pixels.shape[:2] != (shown_size[1], shown_size[0]):
        notes.append(
            f"Downscaled from {shown_size[0]} x {shown_size[1]} to {pixels.shape[1]} x "
            f"{pixels.shape[0]} pixels (longest side at most {max_side})."
        )
    return DecodedImage(as_mode(pixels, mode), (width, height), source_mode, tuple(notes))


def load_image(
    data: bytes,
    *,
    mode: str = "RGB",
    max_side: int = DEFAULT_MAX_SIDE,
    max_aspect: float | None = MAX_ASPECT,
) -> np.ndarray:
    """Decode an upload to float32 in [0, 1]: H x W for mode "L", H x W x 3 for "RGB"."""
    return read_image(data, mode=mode, max_side=max_side, max_aspect=max_aspect).pixels


def _working_mode(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> I, F, L, LA, RGB or RGBA: modes that Image.reduce averages correctly
    (it would average palette indices of "P") and that _pillow_to_float reads."""
    if image.mode in ("I", "F", "L", "LA", "RGB", "RGBA"):
        return image
    if image.mode.startswith("I;16"):
        return image.convert("I")
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("P", "PA", "RGBa"):
        return image.convert("RGBA")
    if image.mode == "La":
        return image.convert("LA")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """Box-average by a whole factor, in Pillow, until the longest side is <= 2 max_side.

    A 40-megapixel upload then never becomes a 480 MB float array; the final anti-aliased
    resize to max_side (_downscale) starts from at most 2 max_side. Pictures up to 2 max_side
    skip this step, so their numbers are exactly those of the page's "show the code" script.
    """
    factor = math.ceil(max(image.size) / (2 * max_side))
    return image.reduce(factor) if factor >= 2 else image


def _pillow_to_float(image: Image.Image) -> np.ndarray:
    """A Pillow image in a mode of _working_mode -> float32 H x W or H x W x 3 in [0, 1]."""
    if image.mode == "I":
        values = np.asarray(image, dtype=np.float32)
        # 16-bit greyscale; Pillow opens some 16-bit PNGs as 32-bit "I" holding 0..65535
        return np.clip(values / 65535.0, 0.0, 1.0)
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ImageError(
                "This image holds pixel values that are not numbers (NaN) or are infinite, "
                "so it cannot be shown or filtered. Save it with ordinary values (for example "
                "as an 8-bit or 16-bit PNG)."
            )
        return as_float(values)
    if image.mode == "L":
        return np.asarray(image, dtype=np.float32) / 255.0
    if image.mode in ("LA", "RGBA"):
        # composite on white so transparent regions read as paper, not black
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:4]
        return rgba[..., :3] * alpha + (1.0 - alpha)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _downscale(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longest side is max_side, with anti-aliasing."""
    from skimage.transform import resize

    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale))) + pixels.shape[2:]
    return resize(pixels, shape, anti_aliasing=True, preserve_range=True).astype(np.float32)
