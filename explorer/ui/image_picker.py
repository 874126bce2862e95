"""The shared image picker: built-in photo, test pattern, upload or camera, remembered per page."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer.codegen import scripts as codegen
from explorer.images import files as image_files
from explorer.images import pictures as images
from explorer.ui.state import kept, one_of, seed

SOURCES = {
    "builtin": "Built-in photo",
    "pattern": "Test pattern",
    "upload": "Upload",
    "camera": "Camera",
    "draw": "Draw",
}
DRAWING_SIDE = 128  # pixels of the drawn picture the pages receive
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"]


@dataclass(frozen=True)
class PickedImage:
    pixels: np.ndarray  # float32, H x W ("L") or H x W x 3 ("RGB"); [0, 1] unless raw_values
    label: str
    source: str  # a key of SOURCES
    notes: tuple[str, ...] = ()
    raw_values: bool = False  # integer lecture numbers rather than intensities
    name: str = ""  # registry key (built-in photo or pattern) or the uploaded file's name
    size: int | None = None  # pattern side in pixels

    def code_source(self) -> codegen.ImageSource:
        """Where the "show the code" scripts read this image from."""
        if self.source in ("builtin", "pattern"):
            return codegen.ImageSource(self.source, self.name, self.size)
        return codegen.ImageSource("upload", self.name or "your_image.png")


@st.cache_data(max_entries=64, show_spinner=False)
def _builtin(name: str, mode: str) -> np.ndarray:
    return images.builtin_image(name, mode=mode)


@st.cache_data(max_entries=64, show_spinner=False)
def _pattern(name: str, size: int, mode: str) -> np.ndarray:
    return images.pattern(name, size=size, mode=mode)


def image_picker(
    page: str,
    *,
    mode: str = "L",
    default: str = "cameraman",
    default_pattern: str = "impulse",
    patterns: list[str] | None = None,
    builtins: list[str] | None = None,
    default_size: int = 64,
) -> PickedImage:
    """Draw the picker (in the current container) and return the chosen image in `mode`."""
    builtins = builtins or list(images.BUILTIN_IMAGES)
    patterns = patterns or list(images.PATTERNS)
    source_key = seed(kept(f"{page}.source"), "builtin", valid=one_of(SOURCES), url="image")
    source = st.radio("Image source", list(SOURCES), format_func=SOURCES.get, horizontal=True,
                      key=source_key)
    if source == "builtin":
        key = seed(kept(f"{page}.builtin"), default, valid=one_of(builtins), url="photo")
        name = st.selectbox("Photo", builtins, format_func=lambda n: images.BUILTIN_IMAGES[n].label,
                            key=key)
        info = images.BUILTIN_IMAGES[name]
        st.caption(info.description)
        return PickedImage(_builtin(name, mode), info.label, source, name=name)
    if source == "pattern":
        key = seed(kept(f"{page}.pattern"), default_pattern, valid=one_of(patterns), url="pattern")
        name = st.selectbox("Pattern", patterns, format_func=lambda n: images.PATTERNS[n].label,
                            key=key)
        spec = images.PATTERNS[name]
        size = default_size
        if not spec.fixed_size:
            key = seed(kept(f"{page}.size"), default_size, valid=one_of(images.PATTERN_SIZES),
                       url="size")
            size = st.select_slider("Size (pixels)", images.PATTERN_SIZES, key=key)
        st.caption(spec.description)
        return PickedImage(_pattern(name, size, mode), spec.label, source, raw_values=spec.raw_values,
                           name=name, size=None if spec.fixed_size else size)
    if source == "upload":
        upload = st.file_uploader("Picture file", type=UPLOAD_TYPES, key=f"{page}.upload")
        return _decoded(page, source, upload, mode, default)
    if source == "draw":
        return _drawn(page, mode)
    shot = st.camera_input("Take a picture", key=f"{page}.camera")
    return _decoded(page, source, shot, mode, default)


def _drawn(page: str, mode: str) -> PickedImage:
    """The drawing pad's picture, 128 x 128 (every page then treats it like an upload)."""
    from explorer.images import drawing
    from explorer.ui.drawing_pad import drawing_pad

    strokes = drawing_pad(f"{page}.pad")
    pixels = drawing.rasterise(strokes, size=DRAWING_SIDE)
    st.caption(f"{len(strokes)} stroke{'s' if len(strokes) != 1 else ''}: each one updates the "
               "page when you lift the pen.")
    return PickedImage(images.as_mode(pixels, mode), "your drawing", "draw",
                       name="your_drawing.png")


def _one_line(name: str, limit: int = 80) -> str:
    """An uploaded file's name as a label: printable, one line, at most `limit` characters."""
    name = "".join(char if char.isprintable() else " " for char in name)
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _file_label(name: str) -> str:
    """A file name shown literally in markdown: as inline code, where * _ $ [ ] and Streamlit's
    :colour[...] / :icon: syntax are plain text (a backtick would end it)."""
    return f"`{_one_line(name).replace('`', chr(39))}`"


def _decoded(page: str, source: str, file, mode: str, default: str) -> PickedImage:
    """Decode a new upload once; on a bad file show why and keep the last good image.

    A refused file is remembered too, so reruns repeat its message without decoding it again.
    """
    store = st.session_state.setdefault(f"{page}.{source}.last", {})
    if file is not None and store.get("file_id") != file.file_id:
        refused = store.get("refused")
        if refused is None or refused[0] != file.file_id:
            try:
                decoded = image_files.read_image(file.getvalue(), mode="RGB")
            except image_files.ImageError as error:
                refused = store["refused"] = (file.file_id, str(error))
            else:
                refused = None
                store.pop("refused", None)
                store.update(file_id=file.file_id, name=file.name, decoded=decoded)
        if refused is not None:
            st.error(f"{_file_label(file.name)}: {refused[1]}",
                     icon=":material/broken_image:")
    if "decoded" not in store:
        st.caption("Showing the default image until a picture loads.")
        return PickedImage(_builtin(default, mode), images.BUILTIN_IMAGES[default].label, "builtin",
                           name=default)
    decoded = store["decoded"]
    if file is not None and store.get("file_id") != file.file_id:
        st.caption(f"Still showing the last good picture, {_file_label(store['name'])}.")
    for note in decoded.notes:
        st.caption(note)
    return PickedImage(images.as_mode(decoded.pixels, mode), _one_line(store["name"]), source,
                       decoded.notes, name=store["name"])
