"""Entry point of a Vivarium kernel. Started as `python3 -I -B vivarium_kernel.py`.

`-I` keeps the workspace (the cwd) and the environment out of the import path, so nothing planted in
`/workspace` can shadow the standard library or this runtime; the runtime's own folder is added here
explicitly, and `/workspace` is appended last once the runtime is loaded.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vivarium_runtime.kernel import main  # noqa: E402

main()
