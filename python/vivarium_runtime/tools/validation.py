"""Static checks of a cell before it runs, and the attribute names error help needs
(src/tools/validate.ts, src/tools/explain-error.ts).

`main(args)`:
- `{"mode": "validate", "code": str, "knownNames": [...], "aliases": {...}}` → syntax error (line,
  column, caret), pyflakes' undefined names and unused imports, missing modules, and the raw
  policy analysis of analysis.py (`analysis`: imports, findings, notes) for the host's policy.
- `{"mode": "attributes", "kind": "module" | "type", "name": str}` → `{"found", "attributes"}`:
  `dir()` of a module or of a type named in an AttributeError / ImportError message.
"""
import builtins
import importlib
import sys

from vivarium_runtime.tools.dependencies import Classifier, activate, collect_imports, syntax_error_of
from vivarium_runtime.tools.analysis import analyze_tree

MAX_FINDINGS = 500
MAX_ATTRIBUTES = 2_000
# Names the runtime provides without an import (IPython puts the same in a notebook's namespace).
RUNTIME_NAMES = ("display", "clear_output", "update_display", "get_ipython", "In", "Out")
# Type names of AttributeError messages → where the type lives, for the common libraries.
KNOWN_TYPES = {
    "DataFrame": ("pandas", "DataFrame"),
    "Series": ("pandas", "Series"),
    "Index": ("pandas", "Index"),
    "Timestamp": ("pandas", "Timestamp"),
    "DataFrameGroupBy": ("pandas.core.groupby", "DataFrameGroupBy"),
    "SeriesGroupBy": ("pandas.core.groupby", "SeriesGroupBy"),
    "ndarray": ("numpy", "ndarray"),
    "Figure": ("matplotlib.figure", "Figure"),
    "Axes": ("matplotlib.axes", "Axes"),
    "AxesSubplot": ("matplotlib.axes", "Axes"),
    "Path": ("pathlib", "Path"),
    "PosixPath": ("pathlib", "PosixPath"),
    "datetime": ("datetime", "datetime"),
    "date": ("datetime", "date"),
    "timedelta": ("datetime", "timedelta"),
    "Counter": ("collections", "Counter"),
    "defaultdict": ("collections", "defaultdict"),
    "OrderedDict": ("collections", "OrderedDict"),
    "deque": ("collections", "deque"),
    "Decimal": ("decimal", "Decimal"),
    "Fraction": ("fractions", "Fraction"),
    "Match": ("re", "Match"),
    "Pattern": ("re", "Pattern"),
    "TextIOWrapper": ("io", "TextIOWrapper"),
    "BufferedReader": ("io", "BufferedReader"),
}


def _pyflakes(tree, known_names):
    """`(undefined, unused, other, note)` from Debian's pyflakes, or a note when it is missing."""
    try:
        from pyflakes import checker, messages
    except Exception as error:  # degrade: the other checks still run
        return [], [], [], "pyflakes is not installed (%s): apt-get install python3-pyflakes" % type(error).__name__
    builtin_names = set(dir(builtins)) | set(RUNTIME_NAMES) | set(known_names)
    result = checker.Checker(tree, filename="<cell>", builtins=builtin_names)
    undefined, unused, other = [], [], []
    for message in sorted(result.messages, key=lambda m: (m.lineno, getattr(m, "col", 0))):
        if isinstance(message, messages.UndefinedName):
            undefined.append({"name": message.message_args[0], "line": message.lineno, "column": message.col + 1})
        elif isinstance(message, messages.UnusedImport):
            # pyflakes names the statement (`numpy as np`); `name` is what the code would use.
            statement = str(message.message_args[0])
            name = statement.rpartition(" as ")[2] if " as " in statement else statement
            unused.append({"name": name, "line": message.lineno, "statement": statement})
        else:
            other.append(
                {"kind": type(message).__name__, "message": message.message % message.message_args, "line": message.lineno}
            )
        if len(undefined) + len(unused) + len(other) >= MAX_FINDINGS:
            break
    return undefined, unused, other, None


def validate(args):
    code = str(args.get("code", ""))
    activate()
    notes = []
    error = syntax_error_of(code)
    if error is not None:
        return {
            "syntaxError": error,
            "undefinedNames": [],
            "unusedImports": [],
            "warnings": [],
            "missingModules": [],
            "notes": ["the code does not parse: the other checks need it to"],
            "analysis": {"imports": [], "findings": [], "notes": []},
        }
    import ast

    tree = ast.parse(code, filename="<cell>", mode="exec")
    undefined, unused, other, note = _pyflakes(tree, args.get("knownNames") or [])
    if note:
        notes.append(note)
    classifier = Classifier(args.get("aliases") or {})
    missing, seen = [], set()
    for found in collect_imports(tree):
        top = found["module"].split(".")[0]
        if top in seen:
            continue
        seen.add(top)
        classified = classifier.classify(found["module"])
        if classified["kind"] == "missing":
            entry = {"module": found["module"], "line": found["line"]}
            for key in ("distribution", "debianPackage"):
                if key in classified:
                    entry[key] = classified[key]
            missing.append(entry)
    return {
        "syntaxError": None,
        "undefinedNames": undefined,
        "unusedImports": unused,
        "warnings": other,
        "missingModules": missing,
        "notes": notes,
        "analysis": analyze_tree(code, tree, classifier),
    }


def _resolve(kind, name):
    if kind == "module":
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except BaseException:
                return None
        return sys.modules.get(name)
    value = getattr(builtins, name, None)
    if isinstance(value, type):
        return value
    if name in KNOWN_TYPES:
        module_name, attribute = KNOWN_TYPES[name]
    elif "." in name:
        module_name, _, attribute = name.rpartition(".")
    else:
        return None
    try:
        return getattr(importlib.import_module(module_name), attribute, None)
    except BaseException:
        return None


def attributes(args):
    activate()
    target = _resolve(args.get("kind"), str(args.get("name", "")))
    if target is None:
        return {"found": False, "attributes": []}
    try:
        names = [name for name in dir(target) if not name.startswith("__")]
    except Exception:
        names = []
    return {"found": True, "attributes": names[:MAX_ATTRIBUTES]}


def main(args):
    mode = args.get("mode", "validate")
    if mode == "validate":
        return validate(args)
    if mode == "attributes":
        return attributes(args)
    raise ValueError("unknown mode %r" % (mode,))
