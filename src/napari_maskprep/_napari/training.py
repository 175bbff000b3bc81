"""The Train widget: paint scribbles, train a pixel classifier, watch its prediction, apply it.

:class:`TrainingModel` (no Qt) holds the image and scribble layers, the features of the
image's visible plane (computed once per plane, so a retrain after a stroke fits only
LightGBM to the labelled pixels) and the latest classifier. Its jobs touch no viewer state:
:class:`TrainWidget` runs them in a worker thread and hands the result back on the GUI
thread. Apply saves the model file, runs ``segment.pixel_classifier`` on the whole image
(every plane of a stack) and announces the step to the Recorder as the stage widgets do,
so replay and batch work unchanged.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, Label, PushButton
from napari.layers import Image, Labels, Layer
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer

from ..core.errors import MaskprepError
from ..core.registry import get_op
from ..learning import PixelClassifier, feature_matrix, fit_classifier, sampled_pixels
from ..recipe import Step
from .applied import PREVIEW_KEY, PREVIEW_SUFFIX, is_preview
from .fitting import ScrollingForm
from .jobs import digest
from .layer_list import LayerListWatcher
from .layers import is_large, unwrapped
from .lifetime import Lifetime, drop_results
from .outputs import output_metadata, replace_data, style_output
from .planes import plane_at
from .rollback import keeps
from .stage import AppliedStep, applied_steps
from .workers import JOB_ERRORS, Failure, create_worker, error_line, outcome, written_outcome

__all__ = ["OP", "ApplyJob", "PredictJob", "TrainJob", "TrainWidget", "TrainingModel"]

OP = "segment.pixel_classifier"
BACKGROUND, FOREGROUND = 1, 2
# A plane's features are kept while they take at most this much memory (a 1 MP grey plane:
# 132 MB; RGB planes above about 1.6 MP are computed again for each preview).
KEEP_FEATURE_BYTES = 1 << 30
_STROKE_PAUSE_MS = 400  # retrain once the strokes pause this long


def scribble_colormap() -> DirectLabelColormap:
    return DirectLabelColormap(color_dict={None: "yellow", 0: "transparent",
                                           BACKGROUND: "magenta", FOREGROUND: "lime"})


@dataclass
class TrainJob:
    """One retrain: fit to the labelled pixels of a plane, then predict the whole plane."""

    plane: np.ndarray
    scribbles: np.ndarray
    known: tuple[list[str], np.ndarray] | None  # the plane's feature names and values
    key: tuple[Any, ...] = ()  # which image data and plane
    source: str = ""  # what it trains on, for the status line: "of plane 5 of 16 ..."
    names: list[str] = field(default_factory=list)
    features: np.ndarray | None = None
    classifier: PixelClassifier | None = None
    prediction: np.ndarray | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self) -> TrainJob:
        start = time.perf_counter()
        self.names, self.features = self.known or feature_matrix(self.plane)
        fitted = time.perf_counter()
        picks = sampled_pixels(self.scribbles)
        targets = self.scribbles.ravel()[picks] == FOREGROUND
        self.classifier = fit_classifier(self.features[picks], targets, self.names)
        trained = time.perf_counter()
        probability = self.classifier.model.probability_of(self.features)
        self.prediction = (probability >= 0.5).astype(np.uint8).reshape(self.scribbles.shape)
        self.seconds = {"features": fitted - start, "train": trained - fitted,
                        "predict": time.perf_counter() - trained}
        return self


@dataclass
class PredictJob:
    """The classifier's prediction of another plane of a stack (the one now shown)."""

    plane: np.ndarray
    classifier: PixelClassifier
    known: tuple[list[str], np.ndarray] | None
    key: tuple[Any, ...]
    names: list[str] = field(default_factory=list)
    features: np.ndarray | None = None
    prediction: np.ndarray | None = None
    seconds: float = 0.0

    def run(self) -> PredictJob:
        start = time.perf_counter()
        self.names, self.features = self.known or feature_matrix(self.plane)
        probability = self.classifier.model.probability_of(self.features)
        self.prediction = (probability >= 0.5).astype(np.uint8).reshape(self.plane.shape[:2])
        self.seconds = time.perf_counter() - start
        return self


def plane_name(index: tuple[int, ...]) -> str:
    return f"plane {index[0]}" if len(index) == 1 else f"plane {index}"


def plane_of(layer: Image, index: tuple[int, ...]) -> str:
    """'plane 5 of 16' ('plane z=5 of 16' where the layer names its axis; 'plane t=1, z=5
    of 3 x 16' on two leading axes)."""
    labels = [str(label) for label in layer.axis_labels[: len(index)]]
    named = [i if label.lstrip("-").isdigit() else f"{label}={i}"  # napari's own: '-3'
             for label, i in zip(labels, index, strict=True)]
    shape = layer.data.shape[: len(index)]
    return (f"plane {', '.join(str(n) for n in named)} of "
            f"{' x '.join(str(n) for n in shape)}")


class TrainingModel:
    """The Train widget's state: layers, cached features, the latest classifier."""

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.image: Image | None = None
        self.scribbles: Labels | None = None
        self.classifier: PixelClassifier | None = None
        self.preview: Labels | None = None  # the latest prediction, over self.image
        self.preview_plane: tuple[int, ...] = ()  # the plane of a stack it predicts
        # (image, plane, shape) -> the plane's feature names and values
        self._features: tuple[tuple[Any, ...], tuple[list[str], np.ndarray]] | None = None
        self._applied: tuple[weakref.ref[Labels], Any] | None = None  # (mask, its digest)

    # -- layers --------------------------------------------------------------------------
    def set_layers(self, image: Image | None, scribbles: Labels | None) -> None:
        """Follow the chosen layers; the preview of an image no longer chosen (or removed)
        is removed with it, and one removed by hand is let go (the next is a new layer)."""
        preview = self.preview if image is not self.image else None
        self.image, self.scribbles = image, scribbles
        if self.preview is not None and self.preview not in self.viewer.layers:
            self.preview = None  # its data is not held after it is gone
        if preview is not None:
            self.preview = None
            if preview in self.viewer.layers:
                self.viewer.layers.remove(preview)

    def plane_index(self) -> tuple[int, ...]:
        """The leading indices of the plane shown (empty for a 2D image)."""
        return () if self.image is None else plane_at(self.image, self.viewer.dims.point)

    def add_scribble_layer(self) -> Labels:
        """An empty Labels layer over the image, for strokes: 1 background, 2 foreground."""
        if self.image is None:
            raise MaskprepError("choose an image first")
        shape = self.image.data.shape[:-1] if self.image.rgb else self.image.data.shape
        layer = self.viewer.add_labels(
            np.zeros(shape, np.uint8), name=f"{self.image.name} scribbles",
            scale=self.image.scale, translate=self.image.translate, units=self.image.units,
            axis_labels=self.image.axis_labels, colormap=scribble_colormap())
        layer.selected_label = FOREGROUND
        layer.brush_size = 5
        layer.mode = "paint"
        self.scribbles = layer
        return layer

    # -- training ------------------------------------------------------------------------
    def _plane(self) -> np.ndarray:
        data = np.asarray(self.image.data[self.plane_index()])
        return data[..., :3] if self.image.rgb else data

    def train_job(self) -> TrainJob:
        """A retrain on the visible plane's strokes; raises in one line if it cannot run."""
        if self.image is None or self.scribbles is None:
            raise MaskprepError("choose an image and a scribble layer (or add one)")
        if is_large(self.image):
            raise MaskprepError(f"'{self.image.name}' is a pyramid or lazy image: train on a "
                                "region of it loaded as an image layer")
        # The whole shape, before a plane is taken: the plane's index into scribbles of
        # fewer planes fails (IndexError), into 2D scribbles it takes a row.
        shape = self.image.data.shape[:-1] if self.image.rgb else self.image.data.shape
        if self.scribbles.data.shape != shape:
            raise MaskprepError(f"the scribbles' shape {self.scribbles.data.shape} is not the "
                                f"image's {shape}; accepted: scribbles of the image's shape "
                                "(New scribble layer adds them)")
        index = self.plane_index()
        strokes = np.asarray(self.scribbles.data[index]) if index else np.asarray(
            self.scribbles.data)
        plane = self._plane()
        if strokes.max() > FOREGROUND:
            raise MaskprepError("scribbles hold labels above 2; paint with 1 (background) "
                                "and 2 (objects) only")
        background, foreground = (strokes == BACKGROUND).any(), (strokes == FOREGROUND).any()
        if not (background and foreground):  # one class trains no classifier: say which
            on = f" on {plane_of(self.image, index)}" if index else ""
            held = ("hold only background (1): paint 2 on objects too" if background else
                    "hold only objects (2): paint 1 on background too" if foreground else "")
            raise MaskprepError(f"the strokes{on} {held}" if held else
                                f"paint both classes{on}: label 1 on background, 2 on objects")
        key = (id(self.image), id(self.image.data), index)
        return TrainJob(plane, strokes.astype(np.uint8), self._known(key), key,
                        self._source(index, strokes))

    def _source(self, index: tuple[int, ...], strokes: np.ndarray) -> str:
        """What a retrain uses, said in the status line: on a stack, the plane shown only
        (its features are computed per plane), and how many strokes elsewhere it leaves."""
        if not index:
            return ""
        unused = int(np.count_nonzero(self.scribbles.data)) - int(np.count_nonzero(strokes))
        left = f" (the {unused} on other planes are not used)" if unused else ""
        return f" of {plane_of(self.image, index)}{left}"

    def _known(self, key: tuple[Any, ...]) -> tuple[list[str], np.ndarray] | None:
        return self._features[1] if self._features and self._features[0] == key else None

    def _keep(self, job: TrainJob | PredictJob) -> None:
        if job.features is not None and job.features.nbytes <= KEEP_FEATURE_BYTES:
            self._features = (job.key, (job.names, job.features))

    def preview_is_shown_plane(self) -> bool:
        """Whether the preview (a 2D layer over every plane) predicts the plane shown."""
        return self.preview is None or self.preview_plane == self.plane_index()

    def predict_job(self) -> PredictJob | None:
        """The prediction of the plane shown by the latest classifier; None when the
        preview already shows it (or there is none to follow)."""
        if (self.preview_is_shown_plane() or self.classifier is None or self.image is None
                or self.preview not in self.viewer.layers):
            return None
        key = (id(self.image), id(self.image.data), self.plane_index())
        return PredictJob(self._plane(), self.classifier, self._known(key), key)

    @keeps("preview_plane")  # a failure: the layer is put back by written_outcome, so is this
    def finish_prediction(self, job: PredictJob) -> Labels | None:
        """Show a plane's prediction; None (nothing shown) once the image, the classifier
        or the plane shown changed while it ran."""
        if (self.image is None or job.key != (id(self.image), id(self.image.data),
                                              self.plane_index())
                or job.classifier is not self.classifier or self.preview is None
                or self.preview not in self.viewer.layers):
            return None
        self._keep(job)
        self.preview.data = job.prediction
        self.preview_plane = job.key[2]
        self.preview.visible = True
        return self.preview

    @keeps("classifier", "preview", "preview_plane")  # as the preview's layer, on a failure
    def finish(self, job: TrainJob) -> Labels | None:
        """Keep the job's classifier and features; show its prediction as the preview.
        None if its image was removed or another chosen while it trained."""
        if self.image is None or job.key[0] != id(self.image):
            return None
        self.classifier = job.classifier
        self._keep(job)
        name = f"{self.image.name}-pixel_classifier{PREVIEW_SUFFIX}"
        layer = self.preview
        if layer is not None and layer in self.viewer.layers:
            replace_data(layer, job.prediction)
            layer.name = name  # the image may have been renamed
        else:
            image = self.image
            layer = self.viewer.add_labels(job.prediction, name=name, scale=image.scale[-2:],
                                           translate=image.translate[-2:],
                                           units=image.units[-2:],
                                           axis_labels=image.axis_labels[-2:], opacity=0.5,
                                           metadata={PREVIEW_KEY: True})  # never an input
            style_output(layer, job.prediction)
            if self.scribbles in self.viewer.layers:  # the strokes stay visible above it
                layers = self.viewer.layers
                layers.move(layers.index(layer), layers.index(self.scribbles))
        self.preview, self.preview_plane = layer, job.key[2]
        layer.visible = True
        if self.scribbles is not None:  # keep painting on the scribbles, not the preview
            self.viewer.layers.selection.active = self.scribbles
        return layer

    # -- applying ------------------------------------------------------------------------
    def apply_job(self, path: str | Path) -> ApplyJob:
        """Save the model to ``path`` (quick) and prepare the whole image's segmentation."""
        if self.image is None:
            raise MaskprepError("choose an image first")
        if self.classifier is None:
            raise MaskprepError("train first")
        if is_large(self.image):  # read whole here; a pyramid's data reads as its smallest level
            raise MaskprepError(
                f"'{self.image.name}' is a pyramid or lazy image, which this Apply would read "
                "whole: apply to an image held in memory, or run the saved model on it with "
                "the Segment widget's pixel classifier (tiled, into OME-Zarr)")
        ref = self.classifier.save(path)
        per_plane = self.image.ndim - (3 if self.image.rgb else 2) > 0
        step = Step(op=OP, params=get_op(OP).plain_params({"model": ref.to_plain()}),
                    per_plane=per_plane)
        return ApplyJob(self.image, np.asarray(self.image.data), step)

    @keeps("_applied")  # as the layer, on a failure: the next Apply must not keep it as painted
    def finish_apply(self, job: ApplyJob) -> tuple[Labels, Layer | None]:
        """Write the mask to ``<image>-pixel_classifier`` and announce the step; the layer
        written, and one kept: a layer of that name not holding what the last Apply wrote
        (painted since, or not its mask) is never overwritten, the mask goes into a new
        layer. Raises in one line for an image removed while it was segmented."""
        image, mask = job.image, job.mask
        if image not in self.viewer.layers:  # a Recorder would keep the removed layer
            raise MaskprepError(f"'{image.name}' was removed while {OP} ran; nothing was "
                                "written")
        name = f"{image.name}-pixel_classifier"
        metadata = output_metadata(job.step, image, {})
        layer = next((x for x in self.viewer.layers if x.name == name), None)
        kept = None
        if layer is not None and not self._holds_last_apply(layer):
            kept, layer = layer, None
        if layer is not None:
            replace_data(layer, mask)
            layer.metadata.update(metadata)
        else:  # napari names it apart from a layer kept: '<name> [1]'
            layer = self.viewer.add_labels(mask, name=name, scale=image.scale[:mask.ndim],
                                           translate=image.translate[:mask.ndim],
                                           units=image.units[:mask.ndim],
                                           axis_labels=image.axis_labels[:mask.ndim],
                                           metadata=metadata)
        style_output(layer, mask)
        self._applied = (weakref.ref(unwrapped(layer)), digest(layer.data))
        applied_steps.applied.emit(AppliedStep(step=job.step, input_layer=image,
                                               extra_layers={}, output_layer=layer,
                                               in_place=False))
        return layer, kept

    def _holds_last_apply(self, layer: Layer) -> bool:
        """Whether ``layer`` is the last Apply's mask, as it wrote it."""
        return (self._applied is not None and self._applied[0]() is unwrapped(layer)
                and digest(layer.data) == self._applied[1])


@dataclass
class ApplyJob:
    """``segment.pixel_classifier`` on the whole image (every plane of a stack)."""

    image: Image
    data: np.ndarray
    step: Step
    mask: np.ndarray | None = None

    def run(self) -> ApplyJob:
        self.mask = get_op(OP)(self.data, per_plane=self.step.per_plane, **self.step.params)
        return self


def default_model_path(image_name: str, classifier: PixelClassifier | None) -> Path:
    digest = hashlib.sha256(classifier.text.encode()).hexdigest()[:8] if classifier else "model"
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in image_name) or "image"
    return Path.cwd() / f"{stem}-{digest}.lgbm.txt"


class TrainWidget(ScrollingForm):
    """Train a pixel classifier on scribbles: 1 on background, 2 on objects."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self.model = TrainingModel(napari_viewer)
        self.viewer = napari_viewer
        self.image_box = ComboBox(label="image", choices=self._images)
        self.scribble_box = ComboBox(label="scribbles", choices=self._labels, nullable=True)
        self.add_button = PushButton(text="New scribble layer")
        self.live_box = CheckBox(text="retrain as I paint", value=True)
        self.train_button = PushButton(text="Train")
        self.status = Label(value="Paint 1 on background and 2 on objects, then Train.")
        self.path_edit = FileEdit(label="model file", mode="w", filter="*.txt")
        self.apply_button = PushButton(text="Apply to the whole image")
        super().__init__(widgets=[self.image_box, self.scribble_box, self.add_button,
                                  self.live_box, self.train_button, self.status,
                                  self.path_edit, self.apply_button])
        self.status.native.setWordWrap(True)
        self.training = self.applying = self.predicting = False
        self._default_path: Path | None = None  # the model file named here, not by hand
        self._again = False
        self._workers: list[Any] = []  # running ones: a closed widget drops their results
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(_STROKE_PAUSE_MS)
        self._timer.timeout.connect(self.train)
        self.add_button.changed.connect(self._on_add)
        self.train_button.changed.connect(self.train)
        self.apply_button.changed.connect(self._on_apply)
        self.image_box.changed.connect(self._on_pick)
        self.scribble_box.changed.connect(self._on_pick)
        self._layer_list = LayerListWatcher(napari_viewer.layers, self._refresh)
        napari_viewer.dims.events.current_step.connect(self.follow_plane)
        self.lifetime = Lifetime(self, self._on_end, viewer=self.viewer)
        self._on_pick()

    def _on_end(self) -> None:
        """Its dock closed, the viewer closed or :meth:`close`: no more retraining, plane
        predictions or layer picks; workers still running finish unheard (their slots
        would add a preview, or touch deleted widgets)."""
        self._timer.stop()
        self._timer.timeout.disconnect(self.train)
        self._layer_list.close()
        self.viewer.dims.events.current_step.disconnect(self.follow_plane)
        if self.model.scribbles is not None:
            self.model.scribbles.events.paint.disconnect(self._on_paint)
        drop_results(*self._workers)
        self._workers = []
        self.model.set_layers(None, None)  # its preview goes with it

    def _images(self, _: Any = None) -> list[Image]:
        return [la for la in self.viewer.layers if isinstance(la, Image)]

    def _labels(self, _: Any = None) -> list[Labels]:
        return [la for la in self.viewer.layers
                if isinstance(la, Labels) and not is_preview(la)]

    def _refresh(self, _: Any = None) -> None:
        self.image_box.reset_choices()
        self.scribble_box.reset_choices()
        self._on_pick()  # a removed layer leaves its box without a word: the model follows

    def _on_pick(self, _: Any = None) -> None:
        old = self.model.scribbles
        if old is not None:
            old.events.paint.disconnect(self._on_paint)
        self.model.set_layers(self.image_box.value, self.scribble_box.value)
        if self.model.scribbles is not None:
            self.model.scribbles.events.paint.connect(self._on_paint)

    def _on_add(self, _: Any = None) -> None:
        try:
            layer = self.model.add_scribble_layer()
        except MaskprepError as exc:
            show_error(str(exc))
            return
        self._refresh()
        self.scribble_box.value = layer

    def _on_paint(self, _: Any = None) -> None:
        if self.live_box.value:
            self._timer.start()

    def train(self, _: Any = None) -> None:
        """Retrain in a worker thread (once more after it if strokes came meanwhile)."""
        if self.training:
            self._again = True
            return
        try:
            job = self.model.train_job()
        except MaskprepError as exc:
            self.status.value = str(exc)
            return
        self.training, self._again = True, False
        self.status.value = "training..."
        self._start(job.run, self._on_trained, self._on_finished, "training")

    def _start(self, run: Any, returned: Any, finished: Any, doing: str) -> None:
        """``run`` in a worker thread; its result to ``returned``, any error (a LightGBM
        error, memory) returned instead and shown in one line saying what failed
        (``doing``): raised, napari would show its traceback too. Another error is a bug,
        whose traceback :func:`outcome` logs."""
        from lightgbm.basic import LightGBMError  # on the first training, not with the plugin

        worker = create_worker(outcome, run, failed=doing,
                               caught=(MaskprepError, LightGBMError, *JOB_ERRORS))
        worker.returned.connect(lambda result: self._on_returned(returned, result, doing))
        worker.finished.connect(finished)
        worker.finished.connect(lambda: self._workers.remove(worker))
        self._workers.append(worker)
        worker.start()

    def _on_trained(self, job: TrainJob) -> None:
        if self.model.finish(job) is None:
            self.status.value = "the image changed while it trained: Train again"
            return
        labelled = int(np.count_nonzero(job.scribbles))
        self.status.value = (f"trained on {labelled} labelled pixels{job.source}: features "
                             f"{job.seconds['features']:.2f} s, training "
                             f"{job.seconds['train']:.2f} s, preview "
                             f"{job.seconds['predict']:.2f} s")
        # A name given by hand is kept; the default names each model by its digest, so a
        # model retrained (or of another image) never replaces one a step was recorded with.
        shown = self.path_edit.value
        if not shown or str(shown) in (".", "") or shown == self._default_path:
            self._default_path = default_model_path(self.model.image.name, job.classifier)
            self.path_edit.value = self._default_path

    def follow_plane(self, _: Any = None) -> None:
        """A stack's preview predicts one plane: on another, it is hidden while the plane
        shown is predicted in a worker thread (again once done if the plane moved on)."""
        preview = self.model.preview
        if preview is None or self.training or self.predicting:
            return  # once they finish, they follow the plane
        if self.model.preview_is_shown_plane():
            preview.visible = True
            return
        job = self.model.predict_job()
        if job is None:
            return
        preview.visible = False
        self.predicting = True
        self.status.value = (f"the preview is of {plane_name(self.model.preview_plane)}: "
                             f"predicting {plane_name(job.key[2])}...")
        self._start(job.run, self._on_predicted, self._on_predict_finished,
                    f"predicting {plane_name(job.key[2])}")

    def _on_predicted(self, job: PredictJob) -> None:
        if self.model.finish_prediction(job) is not None:
            self.status.value = (f"preview of {plane_name(job.key[2])}: predicted in "
                                 f"{job.seconds:.2f} s")

    def _on_predict_finished(self) -> None:
        self.predicting = False
        self.follow_plane()

    def _on_returned(self, returned: Any, result: Any, doing: str) -> None:
        """``returned`` writes a result into the viewer: a bug there is one line too."""
        if not isinstance(result, Failure):
            result = written_outcome(self.viewer, returned, result, failed=doing, caught=())
        if isinstance(result, Failure):
            self.status.value = result.message

    def _on_finished(self) -> None:
        self.training = False
        if self._again:
            self.train()
        else:
            self.follow_plane()  # the plane may have moved while it trained

    def _on_apply(self, _: Any = None) -> None:
        try:
            job = self.model.apply_job(self.path_edit.value)
        except (MaskprepError, OSError) as exc:
            show_error(error_line(exc, "saving the model"))
            return
        self.applying = True
        self.apply_button.enabled = False
        self.status.value = f"saved {self.path_edit.value}; segmenting the whole image..."
        self._start(job.run, self._on_applied, self._on_apply_finished,
                    "segmenting the whole image")

    def _on_applied(self, job: ApplyJob) -> None:
        saved = job.step.params["model"]["path"]  # the box may name another file by now
        try:
            layer, kept = self.model.finish_apply(job)
        except MaskprepError as exc:
            self.status.value = f"saved {saved}; {exc}"
            return
        keeping = ("" if kept is None else f"'{kept.name}' was changed since the last Apply "
                   "(or is not its mask), so it was kept; ")
        self.status.value = f"saved {saved}; {keeping}wrote '{layer.name}'"

    def _on_apply_finished(self) -> None:
        self.applying = False
        self.apply_button.enabled = True
