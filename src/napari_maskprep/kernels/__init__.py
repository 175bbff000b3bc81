"""Fast paths, one technique a module; each names the reference it equals and is tested
against it on its own (``tests/kernels``). Kernels take plain arrays and import nothing of
the package but ``core.errors``."""
