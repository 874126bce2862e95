"""Teachable-Machine style examples for the Transfer page: name 2-10 classes, add pictures to each."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.images import files as image_files
from explorer.images import plots
from explorer.transfer.tasks import MAX_CLASSES, MIN_CLASSES
from explorer.ui.image_picker import UPLOAD_TYPES

PAGE = "transfer"
KEPT_SIDE = 64  # examples are kept as 64 x 64 uint8 thumbnails (12 KB each) in the session
PAGE_MAX_EXAMPLES = 100  # per class on the page (a zip takes more)
DECODE_SIDE = 512  # uploads are decoded at most this large before the thumbnail is made
DEFAULT_NAMES = ("cat", "dog", "bird", "fish", "car", "tree", "cup", "shoe", "book", "phone")


def _thumbnail(data: bytes) -> np.ndarray:
    """An uploaded file -> (KEPT_SIDE, KEPT_SIDE, 3) uint8, squashed to a square; ImageError
    (a ValueError with a sentence) for anything that is not an allowed picture."""
    from explorer.transfer.tasks import example_image

    pixels = image_files.read_image(data, mode="RGB", max_side=DECODE_SIDE, max_aspect=None).pixels
    return example_image(pixels, KEPT_SIDE, "The picture").permute(1, 2, 0).numpy()


def _decoded(upload) -> np.ndarray | str:
    """The thumbnail of an upload, or why it was refused; decoded once per file."""
    store = st.session_state.setdefault(f"{PAGE}.decoded", {})
    if upload.file_id not in store:
        try:
            store[upload.file_id] = _thumbnail(upload.getvalue())
        except (ValueError, MemoryError) as error:  # ImageError is a ValueError
            store[upload.file_id] = f"**{upload.name}** was left out: {error}"
    return store[upload.file_id]


def _forget_unused(live: set[str]) -> None:
    """Drop decoded uploads no uploader holds any more (bounded session memory)."""
    store = st.session_state.get(f"{PAGE}.decoded", {})
    for file_id in set(store) - live:
        del store[file_id]


def _camera_shots(index: int) -> list[np.ndarray]:
    return st.session_state.setdefault(f"{PAGE}.camera.{index}", [])


def _clear_camera(index: int) -> None:
    st.session_state[f"{PAGE}.camera.{index}"] = []


def _class_panel(index: int, live: set[str]) -> tuple[str, list[np.ndarray]]:
    """One class: its name, uploads, optional camera shots, count and thumbnails."""
    name = st.text_input(f"Class {index + 1} name", value=DEFAULT_NAMES[index],
                         key=f"{PAGE}.class_name.{index}", max_chars=40)
    uploads = st.file_uploader(f"Pictures of '{name.strip() or index + 1}'", type=UPLOAD_TYPES,
                               accept_multiple_files=True, key=f"{PAGE}.uploads.{index}")
    kept: list[np.ndarray] = []
    for upload in uploads or []:
        live.add(upload.file_id)
        result = _decoded(upload)
        if isinstance(result, str):
            st.warning(result, icon=":material/image_not_supported:")
        else:
            kept.append(result)
    shots = _camera_shots(index)
    if st.toggle("Use the camera", key=f"{PAGE}.camera_on.{index}"):
        photo = st.camera_input("Take a picture", key=f"{PAGE}.camera_input.{index}")
        last = f"{PAGE}.camera_last.{index}"
        if photo is not None and st.session_state.get(last) != photo.file_id:
            st.session_state[last] = photo.file_id
            try:
                shots.append(_thumbnail(photo.getvalue()))
            except (ValueError, MemoryError) as error:
                st.warning(f"That photo was left out: {error}")
        if shots:
            st.button("Forget the camera's pictures", key=f"{PAGE}.camera_clear.{index}",
                      on_click=_clear_camera, args=(index,))
    kept += shots
    if len(kept) > PAGE_MAX_EXAMPLES:
        st.caption(f"Using the first {PAGE_MAX_EXAMPLES} of {len(kept)} pictures (use a zip of "
                   "class folders for more).")
        kept = kept[:PAGE_MAX_EXAMPLES]
    st.caption(f"**{len(kept)}** example{'s' if len(kept) != 1 else ''}")
    if kept:
        grid = plots.image_grid(np.stack(kept[:24]), columns=8, pad=2)
        st.image(plots.png_bytes(grid), width="stretch", output_format="PNG")
    return name, kept


def examples_panel() -> list[tuple[str, list[np.ndarray]]]:
    """Draw the editor; [(class name as typed, [(64, 64, 3) uint8 pictures])] in order (a list,
    not a dict, so duplicate names reach transfer_tasks' checks and get their message)."""
    count = st.number_input("How many classes?", MIN_CLASSES, MAX_CLASSES, value=2, step=1,
                            key=f"{PAGE}.class_count")
    st.caption("Give each class a name and a few pictures (upload several at once, or take "
               "them with the camera). With 5 or more per class, a fifth of each class is kept "
               "apart to test on.")
    live: set[str] = set()
    classes: list[tuple[str, list[np.ndarray]]] = []
    columns = st.columns(2)
    for index in range(int(count)):
        with columns[index % 2], st.container(border=True):
            classes.append(_class_panel(index, live))
    _forget_unused(live)
    return classes
