"""The histogram of a threshold op's input, its thresholds drawn on it, and the hue circle
with the hues a colour range keeps (Qt painting).

The counts are those the preview read (``StatisticCache.readout``: the op's own statistic
where it is a histogram), never a pass of their own; the view adds them up into one column
per few pixels of its width and draws their logarithm, so a small bright population shows
beside a large background.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPaintEvent, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

if TYPE_CHECKING:
    from ..kernels.histogram import Histogram


__all__ = ["HistogramView", "HueBar", "log_columns", "value_range"]

HEIGHT = 70
COLUMN_PX = 2  # screen pixels a column of the drawn histogram spans
_BARS = QColor(150, 160, 180)
_LINE = QColor(255, 80, 60)


def log_columns(histogram: Histogram, columns: int) -> tuple[np.ndarray, float, float]:
    """The counts added up into ``columns`` equal ranges of intensity, as ``log10(1 +
    count)``, and the (low, high) intensities they span."""
    centers = np.asarray(histogram.centers, dtype=np.float64)
    counts = np.asarray(histogram.counts, dtype=np.float64)
    low, high = float(centers[0]), float(centers[-1])
    if high <= low:
        return np.log10(1 + np.array([counts.sum()])), low, low + 1
    where = np.minimum(((centers - low) / (high - low) * columns).astype(int), columns - 1)
    return np.log10(1 + np.bincount(where, weights=counts, minlength=columns)), low, high


def value_range(histogram: Histogram) -> tuple[float, float]:
    """The (min, max) of the image counted: its first and last values, or, for equal bins,
    the outer edges of the first and last (half a bin beyond their centres)."""
    centers = np.asarray(histogram.centers, dtype=np.float64)
    if histogram.per_value or len(centers) < 2:
        return float(centers[0]), float(centers[-1])
    half = (centers[-1] - centers[0]) / (len(centers) - 1) / 2
    return float(centers[0] - half), float(centers[-1] + half)


class HistogramView(QWidget):
    """Log counts of the input's intensities, with vertical lines at the thresholds."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(HEIGHT)
        self.setMaximumHeight(HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.histogram: Histogram | None = None
        self.thresholds: tuple[float, ...] = ()
        self.hint = "the histogram shows with the preview"  # drawn until it does
        self.setToolTip("the input's histogram (log counts); red: the threshold")

    def set_histogram(self, histogram: Histogram | None) -> None:
        self.histogram = histogram
        self.update()

    def set_thresholds(self, values: Sequence[float]) -> None:
        self.thresholds = tuple(float(v) for v in values)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 33, 40))
        if self.histogram is not None and len(self.histogram.counts):
            width, height = self.width(), self.height()
            columns, low, high = log_columns(self.histogram, max(1, width // COLUMN_PX))
            top = columns.max() or 1.0
            step = width / len(columns)
            for i, value in enumerate(columns):
                bar = value / top * (height - 2)
                painter.fillRect(QRectF(i * step, height - bar, step, bar), _BARS)
            painter.setPen(QPen(_LINE, 2))
            for value in self.thresholds:
                x = (value - low) / (high - low) * width
                painter.drawLine(QPointF(x, 0), QPointF(x, height))
        else:
            painter.setPen(_BARS)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.hint)
        painter.end()


HUE_BAR_HEIGHT = 16
_HUE_STEPS = 72  # bands of 5 degrees


class HueBar(QWidget):
    """Hues 0 to 360 degrees left to right; those outside the kept range darkened."""

    def __init__(self) -> None:
        super().__init__()
        self.setFixedHeight(HUE_BAR_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.hues = (0.0, 360.0)
        self.setToolTip("hues kept (bright) and left out (dark); a click on the image with "
                        "'Pick from image' centres them on its colour")

    def set_range(self, low: float, high: float) -> None:
        self.hues = (low, high)
        self.update()

    def kept(self, hue: float) -> bool:
        """Whether ``hue`` (degrees) is in the range, wrapping through 0 when min > max."""
        low, high = self.hues
        return low <= hue <= high if low <= high else hue >= low or hue <= high

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        width, height = self.width(), self.height()
        step = width / _HUE_STEPS
        for i in range(_HUE_STEPS):
            hue = (i + 0.5) * 360 / _HUE_STEPS
            colour = QColor.fromHsvF(hue / 360, 1.0, 1.0 if self.kept(hue) else 0.25)
            painter.fillRect(QRectF(i * step, 0, step + 1, height), colour)
        painter.end()
