"""The Edit region dock widget: a thin Qt view over :class:`RegionEditor`.

Pick a multiscale Labels layer backed by an OME-Zarr store, pan and zoom to the part to
fix, Edit region, paint, Write back (or Discard).
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import ComboBox, PushButton
from napari.utils.notifications import show_error, show_info, show_warning
from napari.viewer import Viewer

from .editors import row, text_line
from .fitting import ScrollingForm, fit_form
from .layer_list import LayerListWatcher
from .lifetime import Lifetime
from .regions import RegionEditor
from .workers import Failure, outcome

__all__ = ["RegionEditWidget"]

_HELP = "Zoom in on what to fix, Edit region, paint, Write back."
# What opening or writing a region can raise from its input: a bad layer or store, a
# damaged chunk (OSError); shown as its one line.
_STORE_ERRORS = (ValueError, TypeError, OSError)


class RegionEditWidget(ScrollingForm):
    """Hand edits on a region of a large (OME-Zarr-backed) Labels layer."""

    def __init__(self, napari_viewer: Viewer) -> None:
        self.viewer = napari_viewer
        self.model = RegionEditor(napari_viewer)
        self.layer_box = ComboBox(label="labels", choices=self._choices,
                                  tooltip="a multiscale Labels layer backed by an OME-Zarr store")
        self.open_button = PushButton(
            text="Edit region",
            tooltip="open the part on screen at full resolution, as a layer to paint")
        self.write_button = PushButton(
            text="Write back",
            tooltip="write the painted part into the mask's store and record it in the recipe")
        self.discard_button = PushButton(text="Discard", tooltip="close it, writing nothing")
        self.status = text_line()
        self.status.value = _HELP  # until there is something to say
        self._shown: Any = None  # the region layer the status line speaks of
        super().__init__(widgets=[self.layer_box,
                                  row("", self.open_button, self.write_button,
                                      self.discard_button), self.status], labels=True)
        fit_form(self, pickers=[self.layer_box])
        self.open_button.changed.connect(self.open_region)
        self.write_button.changed.connect(self.write_back)
        self.discard_button.changed.connect(self.discard)
        self.model.changed.connect(self._sync)
        self._layer_list = LayerListWatcher(napari_viewer.layers, self._refresh)
        self.lifetime = Lifetime(self, self._on_end, viewer=self.viewer)
        self._sync()

    def _on_end(self) -> None:
        """Its dock closed, the viewer closed or :meth:`close`: no more layer picks. A region
        still open is written back (a widget opened again knows no region to write); one
        that cannot be stays in the viewer, its strokes kept, and a line says so (with no
        Discard left to press, what the person can do with the layer)."""
        self._layer_list.close()
        region = self.model.region
        if region is not None and self.model.source_removed():
            show_warning(f"'{region.layer.name}' was kept with its edits, not written back "
                         "(the layer it came from was removed): save it as a file to keep "
                         "them, or delete it")
        elif region is not None:
            written = self._written_back()
            if isinstance(written, Failure):
                show_warning(f"the edits in '{region.layer.name}' were not written back "
                             f"({written.message}); the region layer is kept")
            else:
                show_info(written)
        self.model.close()

    def _choices(self, *_: Any) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self.model.candidates()]

    def _refresh(self, event: Any = None) -> None:
        self.layer_box.reset_choices()
        self._sync()

    def _sync(self) -> None:
        region = self.model.region
        if region is None and self._shown is not None:
            # Its layer deleted by hand; Write back and Discard say their own line after this.
            self.status.value = (f"'{self._shown.name}' was removed, so the region was "
                                 "discarded; nothing was written")
        self._shown = region.layer if region is not None else None
        is_open = region is not None
        self.open_button.enabled = not is_open and self.layer_box.value is not None
        self.write_button.enabled = self.discard_button.enabled = is_open

    def _say(self, message: str) -> None:
        self.status.value = message
        show_info(message)

    def open_region(self) -> None:
        layer = self.layer_box.value
        if layer is None:
            show_error("open a multiscale Labels layer backed by an OME-Zarr store first")
            return
        try:
            self._say(self.model.open(layer))
        except _STORE_ERRORS as exc:
            show_error(str(exc))

    def _written_back(self) -> str | Failure:
        """The model's line, or its failure's (a bug's traceback logged): it has put the
        store, the layers and the region back."""
        return outcome(self.model.write_back, failed="writing the region back",
                       caught=_STORE_ERRORS)

    def write_back(self) -> None:
        written = self._written_back()
        if isinstance(written, Failure):  # saying the region can be written again (PUT_BACK)
            said = "; ".join([written.message, *written.notes])
            self.status.value = said
            show_error(said)
        else:
            self._say(written)

    def discard(self) -> None:
        try:
            self.model.discard()
        except ValueError as exc:
            show_error(str(exc))
            return
        self._say("the region was closed; nothing was written")
