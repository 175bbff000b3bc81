"""The napari users' install route, checked: in an environment holding only the plugin with
its ``napari`` extra, napari finds the plugin, opens a sample, docks every one of its
widgets in a viewer and reads a TIFF with the plugin's reader. Run under a display
(``xvfb-run``); exits non-zero, naming what failed."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import napari
import npe2
import tifffile

PLUGIN = "napari-maskprep"


def main() -> int:
    viewer = napari.Viewer()  # discovers the installed plugins
    try:
        manifest = npe2.PluginManager.instance().get_manifest(PLUGIN)
    except KeyError:
        print(f"napari does not find {PLUGIN}: is it installed here?", file=sys.stderr)
        return 1
    names = [widget.display_name for widget in manifest.contributions.widgets]
    try:
        layers = viewer.open_sample(PLUGIN, "nuclei")
        docked = [viewer.window.add_plugin_dock_widget(PLUGIN, name)[0] for name in names]
        shown = [dock.name for dock in docked if dock.widget() is not None]
        if not layers or shown != [f"{name} ({PLUGIN})" for name in names]:
            print(f"{PLUGIN}: sample layers {[layer.name for layer in layers]}, widgets "
                  f"{names}, docked {shown}", file=sys.stderr)
            return 1
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "movie.tif"
            tifffile.imwrite(path, layers[-1].data[None].repeat(2, axis=0),
                             metadata={"axes": "TYX"})
            [movie] = viewer.open(path, plugin=PLUGIN)
            if tuple(movie.axis_labels) != ("t", "y", "x"):
                print(f"{PLUGIN}'s reader: axes {movie.axis_labels}", file=sys.stderr)
                return 1
        print(f"napari {napari.__version__}: the sample {layers[-1].name!r}, "
              f"{', '.join(shown)} and a time-lapse TIFF (axes t, y, x) open")
    finally:
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
