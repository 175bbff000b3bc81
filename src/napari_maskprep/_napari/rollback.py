"""The viewer put back as it was when a writer fails half way (no Qt).

A writer (an Apply's, a preview's, a replay's or re-run's, Train's) changes layers one
line after another on the GUI thread: a bug half way left a preview renamed and labelled
as an output the Apply never made, or a layer's data replaced (or written in place) under
its old name and metadata. :class:`ViewerState` notes, before a writer runs, what each
layer is — its data array (the object, not a copy), name, placement, metadata, features,
look and undo history — and puts all of it back after a failure: a replaced array by its
reference, one written in place by undoing the writes napari's Labels history recorded,
one removed by adding it back where it was. :func:`keeps` does the same for the attributes
of the model that wrote; a model every writer in its viewer may change through events (a
Recorder recording the step an Apply announced) is :func:`follow`-ed, and put back too.

No copy of a layer's data is made (a 16 MP layer is noted in microseconds), so a write into
an array that napari's Labels history did not record cannot be undone: an Image's data
written in place (``np.copyto``), or a Labels write staged in a brush stroke still being
drawn. Writers replace an Image's data with a new array and write a Labels layer in place
through ``data_setitem`` alone.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from napari.layers import Labels, Layer

from .layers import unwrapped

__all__ = ["NOT_PUT_BACK", "FollowedState", "ViewerState", "follow", "keeps", "unfollow"]

_LOG = logging.getLogger(__name__)

# Said after a writer's error when :meth:`ViewerState.restore` could not put all back.
NOT_PUT_BACK = "the viewer could not be put back fully after it; a bug: its traceback is logged"

_LOOK = ("colormap", "contrast_limits", "contour", "selected_label", "opacity", "visible")

F = TypeVar("F", bound=Callable[..., Any])

# Models a failed writer puts back: each has ``viewer`` and ``savepoint()``, a callable
# that puts the model back as it is now.
_FOLLOWED: weakref.WeakSet[Any] = weakref.WeakSet()


def follow(model: Any) -> None:
    """Have every :class:`ViewerState` of ``model.viewer`` note ``model.savepoint()`` and
    call what it returns when a writer fails: what the model did, hearing of the writer's
    work (a step recorded for an output put back), is undone too."""
    _FOLLOWED.add(model)


def unfollow(model: Any) -> None:
    _FOLLOWED.discard(model)


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, np.ndarray | list | tuple):
        return bool(np.array_equal(a, b))
    return isinstance(a, bool | int | float | str) and a == b


class _LayerState:
    """What one layer is; :meth:`restore` sets back only what differs (each setter
    redraws the layer)."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.data = layer.data
        self.name = layer.name
        self.scale, self.translate = np.array(layer.scale), np.array(layer.translate)
        self.metadata = dict(layer.metadata)  # a writer may update it in place
        self.features = getattr(layer, "features", None)  # an Image has none
        self.look = {name: getattr(layer, name) for name in _LOOK if hasattr(layer, name)}
        # napari 0.9 has no public call for a Labels layer's undo history.
        self.undo = list(layer._undo_history) if isinstance(layer, Labels) else []
        self.redo = list(layer._redo_history) if isinstance(layer, Labels) else []

    def restore(self) -> None:
        layer = self.layer
        if isinstance(layer, Labels):
            self._restore_labels(layer)
        elif layer.data is not self.data:
            layer.data = self.data
        metadata = layer.metadata
        if metadata.keys() != self.metadata.keys() or any(
                metadata[k] is not v for k, v in self.metadata.items()):
            layer.metadata = self.metadata  # before the name: a preview again when renamed
        if layer.name != self.name:
            layer.name = self.name
        if not _same(layer.scale, self.scale):
            layer.scale = self.scale
        if not _same(layer.translate, self.translate):
            layer.translate = self.translate
        if self.features is not None and layer.features is not self.features:
            layer.features = self.features
        for name, value in self.look.items():
            if not _same(getattr(layer, name), value):
                setattr(layer, name, value)

    def _restore_labels(self, layer: Labels) -> None:
        """Writes into the same array undone (only the pixels they changed, which napari's
        history holds), a replaced array set back; then the history as it was."""
        if layer.data is self.data:
            while layer._undo_history and all(
                    layer._undo_history[-1] is not x for x in self.undo):
                layer.undo()
        else:
            layer.data = self.data
        layer._undo_history = deque(self.undo, maxlen=layer._history_limit)
        layer._redo_history = deque(self.redo, maxlen=layer._history_limit)


class FollowedState:
    """The :func:`follow`-ed models of a viewer as they are now; :meth:`restore` puts them
    back, the layers left as they are (what a listener did hearing of a written layer
    undone, the layer kept)."""

    def __init__(self, viewer: Any) -> None:
        layers = unwrapped(viewer.layers)
        self._put_backs = [x.savepoint() for x in list(_FOLLOWED)
                           if unwrapped(x.viewer.layers) is layers]

    def restore(self) -> None:
        for put_back in self._put_backs:
            try:
                put_back()
            except Exception:  # the next model is put back all the same
                _LOG.exception("a model could not be put back after a failed write")


class ViewerState:
    """A viewer's layers as they are now: their list, order, selection and each layer's
    state, and its :func:`follow`-ed models; :meth:`restore` removes the layers added since,
    adds back those removed (a preview whose type changed) and puts all back.

    It keeps the viewer's own layer list, not the proxy of it napari hands a plugin widget,
    whose layers and selection come as new proxies at each access, never one noted."""

    def __init__(self, viewer: Any) -> None:
        self._layers = unwrapped(viewer.layers)
        self._states = [_LayerState(x) for x in self._layers]
        self._active, self._selected = self._layers.selection.active, list(self._layers.selection)
        self._models = FollowedState(viewer)

    def restore(self) -> bool:
        """Whether all was put back. A part failing (a listener's bug) is logged and the
        rest put back all the same: raised, it hid the writer's error."""
        parts = [self._restore_list, *(x.restore for x in self._states),
                 self._restore_selection, self._models.restore]  # models last: what the
        complete = True  # layers' events told them is undone
        for part in parts:
            try:
                part()
            except Exception:
                _LOG.exception("the viewer could not be put back fully after a failed write")
                complete = False
        return complete

    def _restore_list(self) -> None:
        layers = self._layers
        known = [x.layer for x in self._states]
        for layer in [x for x in layers if all(x is not y for y in known)]:
            layers.remove(layer)
        for at, layer in enumerate(known):  # its model (keeps) knows it again
            if layer not in layers:
                layers.insert(at, layer)
            elif layers.index(layer) != at:
                layers.move(layers.index(layer), at)

    def _restore_selection(self) -> None:
        layers = self._layers
        selected = [x for x in self._selected if x in layers]
        if set(map(id, layers.selection)) != set(map(id, selected)):
            layers.selection.clear()
            layers.selection.update(selected)
        if self._active is not layers.selection.active and (
                self._active is None or self._active in layers):
            layers.selection.active = self._active


def keeps(*names: str) -> Callable[[F], F]:
    """A method that, should it raise, leaves its object's attributes ``names`` as they
    were (a dict or list one copied first: it may be changed in place)."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def kept(self: Any, *args: Any, **kwargs: Any) -> Any:
            saved = {n: (v.copy() if isinstance(v := getattr(self, n), dict | list) else v)
                     for n in names}
            try:
                return method(self, *args, **kwargs)
            except Exception:
                for name, value in saved.items():
                    setattr(self, name, value)
                raise

        return kept  # type: ignore[return-value]

    return decorate
