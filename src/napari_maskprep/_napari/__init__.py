"""napari side of napari-maskprep: the only package that imports napari, magicgui or Qt."""
