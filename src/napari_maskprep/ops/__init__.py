"""The registered operations, one module per stage; importing this package registers them.

Each op is short: its signature (the recipe's and the GUI's vocabulary), a docstring naming
its reference with an example, the checks it adds, and a call into ``kernels/``.
"""

from . import edit, learn, networks, preprocess, refine, segment

__all__ = ["edit", "learn", "networks", "preprocess", "refine", "segment"]
