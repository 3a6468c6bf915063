"""`from IPython.display import display, clear_output, HTML` inside the kernel, routed to ours.

Notebook code reaches the display functions through IPython. Outside a running IPython shell the
real ones do not publish anything: `display()` prints a repr to stdout and returns no handle, and
`clear_output()` writes terminal escapes. So when IPython is installed, its display modules are
patched the moment they load (before any other IPython module copies the names with
`from ... import`), and when it is not, a small shim package stands in for `IPython` and
`IPython.display`. The real IPython's classes (`HTML`, `Image`, ...) are kept: they implement the
`_repr_*_` protocol, which our formatter understands.
"""
import importlib.abc
import importlib.machinery
import sys
import types

from . import display as display_module

# Modules that define or re-export the display functions, across IPython versions.
_PATCHED = ("IPython.core.display_functions", "IPython.core.display", "IPython.display")
_ROUTED = ("display", "clear_output", "update_display", "publish_display_data", "DisplayHandle")
# What the shim `IPython.display` and our own `vivarium_display` module offer.
DISPLAY_NAMES = _ROUTED + ("HTML", "Markdown", "SVG", "Latex", "JSON", "Image")


def _route(module):
    for name in _ROUTED:
        if name in module.__dict__:
            setattr(module, name, getattr(display_module, name))


class _RoutingLoader(importlib.abc.Loader):
    """Runs the real loader, then replaces the module's display functions with ours."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _route(module)

    def __getattr__(self, name):  # get_code, get_source, resource readers: the real loader's
        return getattr(self._loader, name)


class _ShimLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__vivarium_shim__ = True
        if module.__name__ == "IPython":
            module.__path__ = []
            module.get_ipython = lambda: None
            module.version_info = (0, 0, 0)
        else:
            for name in DISPLAY_NAMES:
                setattr(module, name, getattr(display_module, name))
            module.__all__ = list(DISPLAY_NAMES)


class _IPythonFinder(importlib.abc.MetaPathFinder):
    """First on `sys.meta_path`; asks the other finders, then wraps or substitutes the result."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "IPython" and fullname not in _PATCHED:
            return None
        parent = sys.modules.get("IPython")
        if fullname != "IPython" and getattr(parent, "__vivarium_shim__", False):
            if fullname == "IPython.display":
                return importlib.machinery.ModuleSpec(fullname, _ShimLoader())
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None:
            if fullname == "IPython":
                return importlib.machinery.ModuleSpec(fullname, _ShimLoader(), is_package=True)
            return None
        if fullname in _PATCHED and spec.loader is not None:
            spec.loader = _RoutingLoader(spec.loader)
        return spec


def install():
    """Routes IPython's display functions to the kernel. Idempotent; call before any import."""
    if not any(isinstance(finder, _IPythonFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _IPythonFinder())
    for name in _PATCHED:  # already imported (e.g. by the preload): patch in place
        module = sys.modules.get(name)
        if isinstance(module, types.ModuleType):
            _route(module)
