""""Try all": one small mask per threshold method, side by side; a click chooses (Qt only).

The masks are :class:`~napari_maskprep._napari.jobs.TryAllJob`'s, computed on the plane
shown; each button shows its mask shrunk to a thumbnail, the method and its threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QIcon, QImage, QPixmap
from qtpy.QtWidgets import QGridLayout, QToolButton, QWidget

__all__ = ["MethodMontage", "thumbnail"]

THUMB_PX = 72  # three to a row in a dock beside a 1366 px wide canvas
COLUMNS = 3


def thumbnail(mask: np.ndarray, size: int = THUMB_PX) -> np.ndarray:
    """``mask`` (2D, 0 / non-zero) shrunk by a whole stride to at most ``size`` pixels a
    side, as uint8 0 / 255."""
    stride = max(1, -(-max(mask.shape) // size))
    return np.ascontiguousarray((mask[::stride, ::stride] != 0).astype(np.uint8) * 255)


def _icon(mask: np.ndarray) -> QIcon:
    small = thumbnail(mask)
    image = QImage(small.data, small.shape[1], small.shape[0], small.strides[0],
                   QImage.Format.Format_Grayscale8)
    return QIcon(QPixmap.fromImage(image.copy()))  # the copy owns its pixels


class MethodMontage(QWidget):
    """A grid of buttons, one per method: its mask, its name and its threshold."""

    def __init__(self, on_choose: Callable[[str], None]) -> None:
        super().__init__()
        self._on_choose = on_choose
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self.buttons: dict[str, QToolButton] = {}

    def show_results(self, results: Mapping[str, tuple[np.ndarray, tuple[float, ...]]],
                     chosen: str) -> None:
        """One button per method (replacing those shown); ``chosen`` is checked."""
        for button in self.buttons.values():
            self._grid.removeWidget(button)
            button.deleteLater()
        self.buttons = {}
        for i, (choice, (mask, thresholds)) in enumerate(results.items()):
            button = QToolButton()
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            # Its plane (a stack's shown plane comes as 1 × Y × X); squeeze would also drop
            # the axis of an image one pixel high or wide.
            button.setIcon(_icon(mask.reshape(mask.shape[-2:])))
            button.setIconSize(QSize(THUMB_PX, THUMB_PX))
            value = ", ".join(f"{t:.4g}" for t in thresholds) or "none"
            button.setText(f"{choice}\n{value}")
            button.setToolTip(f"use {choice} (threshold {value})")
            button.setCheckable(True)
            button.setChecked(choice == chosen)
            button.clicked.connect(lambda _=False, c=choice: self.choose(c))
            self._grid.addWidget(button, i // COLUMNS, i % COLUMNS)
            self.buttons[choice] = button
        self.setVisible(bool(self.buttons))

    def choose(self, choice: str) -> None:
        for name, button in self.buttons.items():
            button.setChecked(name == choice)
        self._on_choose(choice)
