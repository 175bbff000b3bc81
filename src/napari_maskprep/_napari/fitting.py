"""Keeping labels, layer names and folders readable in a narrow dock (Qt only).

- magicgui sizes a form's label column with the application's default font; napari's theme
  draws labels larger, so a squeezed row clipped them ("sigm"). :func:`fit_labels` sizes the
  column from the labels as drawn, whenever the form is laid out.
- A combo box cuts a long name at its end, so layers named alike look the same;
  :func:`elide_middle` shows both ends ("experiment_2…_ch1") and the full name in the list.
- A folder field beside magicgui's wide "Choose directory" button showed a path's last
  characters only; :func:`compact_folder` gives the field the room, the full path as tooltip.
- A widget docked on its own asked its whole height: four of them made napari's window
  taller than a laptop's screen. :class:`ScrollingForm` puts it in a scroll area.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from magicgui.widgets import ComboBox, Container, FileEdit
from magicgui.widgets.bases import ButtonWidget
from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtGui import QPaintEvent
from qtpy.QtWidgets import (
    QComboBox,
    QLabel,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QToolTip,
    QWidget,
)

__all__ = ["ScrollingForm", "compact_folder", "elide_middle", "fit_form", "fit_labels", "form_of",
           "shown_text"]

_POPUP_MARGIN = 40  # the popup's scroll bar and frame beside the longest name
_MIN_CHARACTERS = 16  # a combo box asks room for this much of a name, not the longest
_BUTTON_PADDING = 24  # napari's theme pads push buttons


class ScrollingForm(Container):
    """A form in a vertical scroll area, for a widget napari docks on its own: the dock
    asks little height, and the rows stay at its top (a stretch below them).

    napari docks a magicgui widget's ``native``, not magicgui's ``root_native_widget``
    (the scroll area of ``scrollable=True``), so ``native`` is the scroll area here, and
    :func:`form_of` the widget holding the rows. A class puts it between itself and
    ``Container`` (``class Docked(Form, ScrollingForm)``): its ``Container`` arguments
    pass through.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(scrollable=True, **kwargs)
        form_of(self).layout().addStretch()  # after the rows: magicgui's indices hold
        _WidthFitter(self.root_native_widget)

    @property
    def native(self) -> QWidget:
        return self.root_native_widget


class _WidthFitter(QObject):
    """The scroll area as narrow as its form allows beside a vertical scroll bar, each time
    the form is laid out (magicgui adds 20 px to the form's width as a row goes in, before
    :func:`fit_form` narrows the rows: a Recorder dock 34 px wider than its form)."""

    def __init__(self, area: QScrollArea) -> None:
        super().__init__(area)
        self._area = area
        area.widget().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() in (QEvent.Type.Show, QEvent.Type.LayoutRequest):
            area = self._area
            bar = max(area.verticalScrollBar().sizeHint().width(), area.style().pixelMetric(
                QStyle.PixelMetric.PM_ScrollBarExtent, None, area))
            width = watched.minimumSizeHint().width() + bar + 2 * area.frameWidth()
            if area.minimumWidth() != width:
                area.setMinimumWidth(width)
        return False


def form_of(container: Container) -> QWidget:
    """The Qt widget holding ``container``'s rows (inside its scroll area, if any)."""
    native = container.native
    return native.widget() if isinstance(native, QScrollArea) else native


def _labels(container: Container) -> list[QLabel]:
    """The labels of ``container``'s rows (magicgui puts each in front of its widget)."""
    labels = []
    form = form_of(container)
    for widget in container:
        row = widget.native.parentWidget()
        if isinstance(widget, ButtonWidget) or row is None or row is form:
            continue
        first = row.layout().itemAt(0).widget() if row.layout() is not None else None
        if isinstance(first, QLabel) and first is not widget.native:
            labels.append(first)
    return labels


def _fit(container: Container) -> None:
    labels = _labels(container)
    widest = max((label.sizeHint().width() for label in labels if label.text()), default=0)
    for label in labels:
        if label.minimumWidth() != widest:
            label.setMinimumWidth(widest)
    for widget in container:
        if isinstance(widget, Container) and widget.labels:
            _fit(widget)


class _LabelFitter(QObject):
    def __init__(self, container: Container) -> None:
        super().__init__(form_of(container))
        self._container = container
        form_of(container).installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() in (QEvent.Type.Show, QEvent.Type.LayoutRequest):
            _fit(self._container)
        return False


def fit_labels(container: Container) -> None:
    """Keep the label column of ``container`` (and of forms inside it) as wide as its
    widest label is drawn, each time the form is laid out."""
    _LabelFitter(container)


def shown_text(combo: QComboBox) -> str:
    """The current item's text as :func:`elide_middle` draws it in the box."""
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                         QStyle.SubControl.SC_ComboBoxEditField, combo)
    return combo.fontMetrics().elidedText(combo.currentText(), Qt.TextElideMode.ElideMiddle,
                                          field.width())


class _MiddleElider(QObject):
    def __init__(self, combo: QComboBox) -> None:
        super().__init__(combo)
        combo.installEventFilter(self)

    def eventFilter(self, watched: Any, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if isinstance(event, QPaintEvent):
            option = QStyleOptionComboBox()
            watched.initStyleOption(option)
            painter = QStylePainter(watched)
            painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
            option.currentText = shown_text(watched)
            painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)
            painter.end()
            return True
        if event.type() == QEvent.Type.ToolTip and shown_text(watched) != watched.currentText():
            QToolTip.showText(event.globalPos(), watched.currentText(), watched)
            return True  # the whole name, instead of the box's own tooltip
        if event.type() == QEvent.Type.MouseButtonPress:  # the list shows whole names
            view = watched.view()
            view.setMinimumWidth(view.sizeHintForColumn(0) + _POPUP_MARGIN)
        return False


def elide_middle(box: ComboBox) -> None:
    """Draw the chosen name with its middle elided, so names alike but for their ends
    differ on screen; the whole name shows as the tooltip (of an elided name) and in the
    list."""
    box.native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.native.setMinimumContentsLength(_MIN_CHARACTERS)  # names do not widen the dock
    _MiddleElider(box.native)


def compact_folder(field: FileEdit) -> None:
    """A short "…" button, so the path gets the row; the full path is the tooltip."""
    field.choose_btn.text = "…"
    field.choose_btn.tooltip = "choose a folder"
    button = field.choose_btn.native
    button.setMaximumWidth(button.fontMetrics().horizontalAdvance("…") + _BUTTON_PADDING)
    edit = field.line_edit.native
    edit.textChanged.connect(edit.setToolTip)
    edit.setToolTip(edit.text())


def fit_form(container: Container, pickers: Sequence[ComboBox] = (),
             folders: Sequence[FileEdit] = ()) -> None:
    """All of the above for a dock widget: its labels, its layer pickers, its folders."""
    fit_labels(container)
    for box in pickers:
        elide_middle(box)
    for folder in folders:
        compact_folder(folder)
