"""Return a reused notebook kernel to the state of a fresh one (run inside the kernel by the book runner).

The runner keeps one kernel per worker and executes notebook after notebook in it, so that pandas,
matplotlib, IPython's display machinery and the library are imported once per worker rather than once
per notebook (36 profile pages: most of their time was kernel start and imports). Before each notebook,
a first cell (removed from the executed copy) calls :func:`reset`, which undoes what one notebook can
leave behind for the next:

- the user namespace (``%reset -f``: variables, imported names, the output cache);
- open matplotlib figures and every rcParam (restored to the values right after the kernel's first
  ``import matplotlib.pyplot``, i.e. what a fresh kernel's inline backend starts with);
- warning filters, and the record of warnings already shown (so a warning shows again, as it would in a
  fresh kernel);
- the working directory.

Imported modules stay imported (that is the point); library modules hold no state that depends on an
earlier notebook. ``tests/test_runner_book.py`` runs notebooks that try to leak each of these and checks
that the next notebook does not see it, and that reused and fresh kernels give the same executed file.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

#: Snapshot taken on the first reset in a kernel: rcParams and warning filters of a fresh kernel.
_FRESH: dict[str, Any] = {}


def reset(cwd: str) -> None:
    """Reset the kernel's state (see the module docstring) and change to ``cwd``."""
    import matplotlib
    import matplotlib.pyplot as plt
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.reset(new_session=False)
    if not _FRESH:
        _FRESH["rc"] = matplotlib.rcParams.copy()
        _FRESH["filters"] = list(warnings.filters)
    else:
        plt.close("all")
        matplotlib.rcParams._update_raw(_FRESH["rc"])
        warnings.filters[:] = _FRESH["filters"]
    warnings._filters_mutated()  # forget which warnings were already shown
    os.chdir(cwd)
