"""What a prompt says about the kernel's environment: the importable packages of the data stack
(and the session's own installs), and the Python version. Finds modules without importing them."""
import importlib.util
import os
import sys

from vivarium_runtime.tools.dependencies import activate, session_site_packages

# Top-level modules LLM code tools are expected to offer, checked in this order.
CANDIDATES = (
    "numpy", "pandas", "matplotlib", "scipy", "sklearn", "seaborn", "statsmodels", "sympy",
    "openpyxl", "xlrd", "docx", "pypdf", "h5py", "netCDF4", "bs4", "lxml", "chardet", "PIL",
    "networkx", "yaml", "tabulate", "pytest", "coverage", "nbformat",
)
MAX_EXTRA = 200


def main(args):
    activate()
    found = []
    for name in CANDIDATES:
        try:
            if importlib.util.find_spec(name) is not None:
                found.append(name)
        except (ImportError, ValueError):
            continue
    # Session installs: their top-level names, whatever they are.
    site = session_site_packages()
    if os.path.isdir(site):
        for entry in sorted(os.listdir(site))[:MAX_EXTRA]:
            name = entry[:-3] if entry.endswith(".py") else entry
            if name.isidentifier() and not name.startswith("_") and name not in found:
                found.append(name)
    return {"packages": found, "python": sys.version.split()[0]}
