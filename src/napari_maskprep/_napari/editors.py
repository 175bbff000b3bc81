"""Parameter editors built from a :class:`~napari_maskprep.core.registry.Param`, and the
form rows the dock widgets share (Qt only, no state of their own).

A number gets a slider (bounded ranges) and a spin box with its unit; a size also a px / µm
choice; an Enum a combo box; a bool a check box; an optional parameter a tick in front.
"""

from __future__ import annotations

import enum
import math
from typing import Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSlider,
    FloatSpinBox,
    Label,
    LineEdit,
    Slider,
    Widget,
)
from magicgui.widgets.bases import ValuedContainerWidget
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSizePolicy

from ..core.errors import MaskprepError
from ..core.model_files import FORMATS, ModelFile, file_sha256, verify_model
from ..core.registry import Param
from ..core.units import LENGTH, Quantity, to_pixels
from .workers import error_line

__all__ = ["NumberEdit", "OptionalEdit", "param_editor", "row", "text_line"]

SLIDER_MAX_STEPS = 1000  # wider ranges get a spin box only: a slider could not hit a value
SPIN_WIDTH = 130
SPIN_BUTTONS_WIDTH = 70  # napari's theme draws wide -/+ buttons inside spin boxes
UNIT_WIDTH = 70  # the px / µm choice: its longest label and the arrow
_INT_LIMIT = 2**31 - 1
_FLOAT_LIMIT = 1e9
_UNIT_LABELS = {"px": "px", **{f"{u}{p}": f"{label}{power}" for u, label in
                                (("nm", "nm"), ("um", "µm"), ("mm", "mm"))
                                for p, power in (("", ""), ("2", "²"), ("3", "³"))}}
# Decimals a size in each unit shows: as many as a micrometre's 3 (0.0015 mm is 1.5 µm, an
# area of 2.5e-6 mm² is 2.5 µm²), so a recipe's value is not rounded when its step is shown.
_UNIT_DECIMALS = {"mm": 6, "mm2": 9, "mm3": 12}


def _nice_step(span: float) -> float:
    """A power of ten about a hundredth of ``span``."""
    return 10.0 ** math.floor(math.log10(span / 100)) if span > 0 else 1.0


def _decimals(step: float) -> int:
    return max(1, -math.floor(math.log10(step))) if step < 1 else 1


class NumberEdit(ValuedContainerWidget):
    """A number from a Param: a slider to drag (bounded ranges) and a spin box to type.

    The unit is the spin box's suffix; its range and step are the Param's hints. A size
    parameter also gets a px / µm choice once :meth:`set_pixel_size` says the layer has a
    pixel size; its value in µm is a :class:`Quantity` (recorded as ``"2 um"``).
    """

    def __init__(self, param: Param, value: int | float | Quantity, **kwargs: Any) -> None:
        self._param = param
        self._unit = "px"
        self._pixels_per: dict[str, float] = {"px": 1.0}  # pixels in one unit
        quantity = value if isinstance(value, Quantity) else None
        if quantity is not None:
            value = _placeholder(param)
        is_int = param.type is int
        hints = param.hints
        lo, hi = hints.get("min"), hints.get("max")
        limit = _INT_LIMIT if is_int else _FLOAT_LIMIT
        bounded = lo is not None and hi is not None
        if hints.get("step"):
            step = hints["step"]
        elif is_int:
            step = 1
        else:
            step = _nice_step(hi - lo) if bounded else 0.1
        if hints.get("range") and not is_int and isinstance(value, int | float) and value:
            # Bounded by the input later (set_bounds): until then, steps fine enough to show
            # the value (a threshold of 0.0305 on a float image, not 0.0 at 1 decimal).
            step = min(step, _nice_step(abs(value)) / 10)
        lo = -limit if lo is None else lo
        hi = limit if hi is None else hi
        if hints.get("range") and isinstance(value, int | float):  # an image's intensity
            lo, hi = min(lo, value), max(hi, value)
        self._cast = int if is_int else float
        # A QDoubleSpinBox for integers too: magicgui's int spin box has no unit suffix.
        self.spin = FloatSpinBox(min=lo, max=hi, step=step, value=value)
        self.spin.native.setDecimals(0 if is_int else _decimals(step))
        self.spin.native.setKeyboardTracking(False)  # a typed number counts once complete
        if hints.get("unit"):
            self.spin.native.setSuffix(f" {hints['unit']}")
        self._pixel_range = (lo, hi, step, self.spin.native.decimals(),
                             self.spin.native.suffix())
        widgets: list[Widget] = [self.spin]
        self.unit_box: ComboBox | None = None
        if param.measure is not None:
            self.unit_box = ComboBox(choices=[("px", "px")], value="px", visible=False,
                                     tooltip="in pixels, or in micrometres by the layer's scale")
            self.unit_box.native.setFixedWidth(UNIT_WIDTH)
            self.unit_box.changed.connect(self._on_unit)
            widgets.append(self.unit_box)
        self.slider: Slider | FloatSlider | None = None
        if hints.get("range"):  # its bounds come from the input: a slider once they do
            slider_type = Slider if is_int else FloatSlider
            self.slider = slider_type(min=0, max=1, step=step, readout=False, visible=False)
            self.slider.changed.connect(self._on_slider)
            widgets.insert(0, self.slider)
        elif bounded and (hi - lo) / step <= SLIDER_MAX_STEPS:
            slider_type = Slider if is_int else FloatSlider
            self.slider = slider_type(min=lo, max=hi, step=step, value=value, readout=False)
            self.slider.changed.connect(self._on_slider)
            widgets.insert(0, self.slider)
            # Wide enough for the longest value and unit next to napari's -/+ buttons.
            # The same width on every row (unless the text needs more) lines sliders up.
            longest = self.spin.native.textFromValue(hi) + self.spin.native.suffix()
            text_width = self.spin.native.fontMetrics().horizontalAdvance(longest)
            self.spin.native.setFixedWidth(max(SPIN_WIDTH, text_width + SPIN_BUTTONS_WIDTH))
        super().__init__(widgets=widgets, layout="horizontal", labels=False, **kwargs)
        self.margins = (0, 0, 0, 0)
        self.spin.changed.connect(self._on_spin)
        if quantity is not None:
            self.set_value(quantity)

    def set_bounds(self, lo: float, hi: float) -> None:
        """Span ``lo`` to ``hi`` (the input's intensities, another parameter's value), in
        steps of at most a thousandth of that (for a float: 0.001 on an image spanning 0 to
        4, 1 on one spanning 122 to 1998), the spin box showing as many decimals."""
        hi = max(hi, lo)
        step = min(self._param.hints.get("step") or 1, _nice_step(hi - lo) / 10)
        decimals = 0
        if self._param.type is int:
            step = max(1, round(step))
        else:
            decimals = _decimals(step)
        before = self.value
        with self.spin.changed.blocked():
            self.spin.native.setDecimals(decimals)
            self.spin.min, self.spin.max, self.spin.step = lo, hi, step
        self._pixel_range = (lo, hi, step, decimals, self._pixel_range[4])
        if self.slider is not None:  # the spin box's bounds, rounded to its decimals
            lo, hi = self.spin.min, self.spin.max
            with self.slider.changed.blocked():
                # magicgui's float slider rescales as its step and bounds change, but not
                # what it holds: the step first, then the bounds twice (set once, they can
                # read a tenth of what was set).
                self.slider.step = step
                for _ in range(2):
                    self.slider.min, self.slider.max = lo, max(hi, lo + step)
            self._slide_to(self.spin.value)
            self.slider.visible = True
        if self.value != before:  # the value was outside: now at the nearest bound
            self.changed.emit(self.value)

    def set_pixel_size(self, pixel_size: tuple[float, ...] | None, ndim: int) -> None:
        """Offer micrometres when ``pixel_size`` converts them for a step over ``ndim`` axes
        (square pixels for a length); a value already in micrometres keeps its unit."""
        if self.unit_box is None:
            return
        measure = self._param.measure
        physical = "um" if measure == LENGTH else f"um{ndim}"
        self._pixels_per = {"px": 1.0}
        for unit in {physical, self._unit} - {"px"}:
            try:
                self._pixels_per[unit] = to_pixels(measure, Quantity(1.0, unit), pixel_size,
                                                   ndim=ndim)
            except MaskprepError:
                continue
        offered = [u for u in (physical, self._unit) if u in self._pixels_per or u == self._unit]
        self._offer(["px", *offered])

    def _offer(self, units: list[str]) -> None:
        """The unit choices (px first), the current unit chosen; shown if there is a choice."""
        assert self.unit_box is not None
        units = list(dict.fromkeys(units))
        with self.unit_box.changed.blocked():
            self.unit_box.choices = [(_UNIT_LABELS[u], u) for u in units]
            self.unit_box.value = self._unit
        self.unit_box.visible = len(units) > 1
        self._configure(self._unit)

    def _configure(self, unit: str) -> None:
        """The spin box's range, step and suffix for values in ``unit``."""
        lo, hi, step, decimals, suffix = self._pixel_range
        if unit != "px":
            per = self._pixels_per.get(unit)
            if per is None:  # no pixel size to convert with: any size in this unit
                lo, hi, step = 0.0, _FLOAT_LIMIT, 0.1
            else:
                lo, hi = lo / per, min(hi / per, _FLOAT_LIMIT)
                step = _nice_step(hi - lo) if hi < _FLOAT_LIMIT else 0.1
            decimals, suffix = _UNIT_DECIMALS.get(unit, 3), f" {_UNIT_LABELS[unit]}"
        if self.unit_box is not None and not self.unit_box.native.isHidden():
            suffix = ""  # the unit choice beside it names the unit
        with self.spin.changed.blocked():
            self.spin.native.setDecimals(decimals)
            self.spin.min, self.spin.max, self.spin.step = lo, hi, step
            self.spin.native.setSuffix(suffix)
        if self.slider is not None:
            self.slider.visible = unit == "px"  # the slider moves in pixels

    def _on_unit(self, unit: str) -> None:
        before, after = self._pixels_per.get(self._unit), self._pixels_per.get(unit)
        value = self.spin.value
        self._unit = unit
        self._configure(unit)
        if before is not None and after is not None:
            converted = value * before / after
            if unit == "px" and self._param.type is int:
                converted = self._param.round_to_grid(converted)
            with self.spin.changed.blocked():
                self.spin.value = converted
        self.changed.emit(self.value)

    def _on_slider(self, value: float) -> None:
        held = min(max(value, self.spin.min), self.spin.max)
        if held != value:  # it spans a step more than an image of one value (5 to 5)
            self._slide_to(held)
        self.spin.value = held  # emits through _on_spin

    def _on_spin(self, value: float) -> None:
        # A slider over the input's intensities spans 0 to 1 (hidden) until there is one.
        if self.slider is not None and self.slider.value != value:
            self._slide_to(value)
        self.changed.emit(self.value)

    def _slide_to(self, value: float) -> None:
        """The slider at ``value``, without a signal. It reads its bounds back a rounding
        off (4.171999 for 4.172): a value within half a step of an end goes to that end.
        One beyond (the hidden 0 to 1 slider before an input gives the range) leaves it."""
        assert self.slider is not None
        lo, hi, half = self.slider.min, self.slider.max, self.slider.step / 2
        if lo - half <= value <= hi + half:
            with self.slider.changed.blocked():
                self.slider.value = min(max(value, lo), hi)

    def get_value(self) -> int | float | Quantity:
        if self._unit != "px":
            return Quantity(float(self.spin.value), self._unit)
        return self._cast(self.spin.value)

    def set_value(self, value: int | float | Quantity) -> None:
        unit = value.unit if isinstance(value, Quantity) else "px"
        before = self.value
        if unit != self._unit and self.unit_box is not None:
            self._unit = unit
            self._offer([*self.unit_box.choices, unit])
            self._configure(unit)
        with self.spin.changed.blocked():
            self.spin.value = value.value if isinstance(value, Quantity) else value
        if self.slider is not None and self._unit == "px":
            self._slide_to(self.spin.value)
        if self.value != before:
            self.changed.emit(self.value)


class OptionalEdit(ValuedContainerWidget):
    """A parameter that may be None: a tick enables the editor, unticked means None."""

    def __init__(self, editor: Widget, value: Any, **kwargs: Any) -> None:
        self.editor = editor
        self.enable = CheckBox(value=value is not None, tooltip="untick: not used (None)")
        self.enable.native.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        editor.enabled = value is not None
        super().__init__(widgets=[self.enable, editor], layout="horizontal", labels=False,
                         **kwargs)
        self.margins = (0, 0, 0, 0)
        self.enable.changed.connect(self._on_toggle)
        editor.changed.connect(lambda: self.changed.emit(self.value))

    def _on_toggle(self, on: bool) -> None:
        self.editor.enabled = on
        self.changed.emit(self.value)

    def get_value(self) -> Any:
        return self.editor.value if self.enable.value else None

    def set_value(self, value: Any) -> None:
        self.enable.value = value is not None
        if value is not None:
            self.editor.value = value


class ModelFileEdit(ValuedContainerWidget):
    """A model file chosen from disk: its path and sha256, once the file is one of the
    formats the step reads (checked as a recipe load checks it, nothing run from it).

    Empty until a file is chosen. A file that is refused leaves the value as it was and
    says why, in one line, under the picker.
    """

    def __init__(self, value: ModelFile | None, formats: tuple[str, ...], **kwargs: Any
                 ) -> None:
        self._formats = formats
        self._value = value if value is not None and value.path else None
        self.picker = FileEdit(mode="r", value=self._value.path if self._value else "",
                               tooltip="the model file: " + "; ".join(FORMATS[f] for f in
                                                                      formats))
        self.note = text_line()
        self.note.value = self._described()
        super().__init__(widgets=[self.picker, self.note], labels=False, **kwargs)
        self.margins = (0, 0, 0, 0)
        self.picker.changed.connect(self._on_file)

    def _described(self) -> str:
        if self._value is None:
            return "no model chosen"
        return f"sha256 {self._value.sha256[:12]}…"

    def _on_file(self, path: Any) -> None:
        text = str(path or "")
        if not text or text == "." or (self._value and text == self._value.path):
            return
        try:
            ref = verify_model(ModelFile(text, file_sha256(text)), self._formats)
        except (OSError, MaskprepError) as exc:
            self.note.value = error_line(exc, "checking the model file")
            return
        self._value = ref
        self.note.value = self._described()
        self.changed.emit(self._value)

    def get_value(self) -> ModelFile | None:
        return self._value

    def set_value(self, value: ModelFile | None) -> None:
        value = value if value is not None and value.path else None
        if value != self._value:
            self._value = value
            with self.picker.changed.blocked():
                self.picker.value = value.path if value else ""
            self.note.value = self._described()
            self.changed.emit(self._value)


def _placeholder(param: Param) -> Any:
    """The value an optional parameter's editor shows while unticked."""
    lo = param.hints.get("min")
    return param.type(lo) if lo is not None else param.type()


def param_editor(param: Param, value: Any, tooltip: str = "") -> Widget:
    """The editor for one parameter, labelled with its name (or its ``label`` hint)."""
    label = param.hints.get("label") or param.name.replace("_", " ")
    tooltip = param.hints.get("tooltip") or tooltip
    kind = param.type
    if kind is ModelFile:  # empty until a file is chosen: no tick box for None
        editor = ModelFileEdit(value, param.formats)
        editor.label, editor.tooltip = label, tooltip
        return editor
    shown = _placeholder(param) if value is None else value
    editor: Widget
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        editor = ComboBox(choices=[(m.value, m) for m in kind], value=kind(shown))
    elif kind is bool:
        editor = CheckBox(value=shown, text=label)  # a check box shows its own text
    elif kind in (int, float):
        editor = NumberEdit(param, shown)
    else:
        editor = LineEdit(value=str(shown))
    if param.optional:
        editor = OptionalEdit(editor, value)
    editor.label = label
    editor.tooltip = tooltip
    return editor


def text_line() -> Label:
    """Wrapped, left-aligned text filling the field column."""
    text = Label(label="")
    text.native.setWordWrap(True)
    text.native.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    text.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return text


def row(label: str, *widgets: Widget) -> Container:
    """Widgets side by side in the field column of the form, under one label."""
    line = Container(widgets=widgets, layout="horizontal", labels=False, label=label)
    line.margins = (0, 0, 0, 0)
    return line

