"""Imports of a piece of code, classified by this interpreter (stdlib / installed / missing), and
installs into the session's own package directory (src/tools/dependencies.ts, src/tools/install.ts).

`main(args)`:
- `{"mode": "analyze", "code": str, "aliases": {module: {"distribution", "debianPackage"}}}` →
  `{"imports": [...], "syntaxError": {...} | None}`
- `{"mode": "install", "requirements": [...], "wheelhouse": path | None, "indexUrl": url | None,
  "trustedHost": host | None, "timeoutSec": n}` → what pip installed (run in the installer's
  sandbox, never in a session's kernel).
"""
import ast
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time

RESERVED_DIR = ".vivarium"
SITE_PACKAGES = RESERVED_DIR + "/site-packages"
PIP_TMP = RESERVED_DIR + "/pip-tmp"
MAX_IMPORTS = 2_000
MAX_LOG_CHARS = 8_000


def workspace():
    return os.environ.get("VIVARIUM_WORKSPACE") or os.getcwd()


def session_site_packages():
    return os.path.join(workspace(), SITE_PACKAGES)


def activate():
    """Puts the session's package directory on sys.path — after the stdlib, before the system's
    site/dist-packages, so a session install wins over Debian's copy but never over the stdlib.
    Idempotent; True when the directory exists."""
    path = session_site_packages()
    if not os.path.isdir(path):
        return False
    if path not in sys.path:
        index = next(
            (i for i, entry in enumerate(sys.path) if entry.endswith(("site-packages", "dist-packages"))),
            len(sys.path),
        )
        sys.path.insert(index, path)
    importlib.invalidate_caches()
    return True


def syntax_error_of(code):
    """None, or `{message, line, column, caret}` for code that does not parse (as a cell would)."""
    try:
        ast.parse(code, filename="<cell>", mode="exec")
        return None
    except SyntaxError as error:
        line = error.lineno or 1
        column = error.offset or 1
        lines = code.splitlines()
        text = error.text if error.text is not None else (lines[line - 1] if 0 < line <= len(lines) else "")
        text = text.rstrip("\n")
        # The caret under the column, as Python prints it (tabs kept so it lines up).
        prefix = "".join(ch if ch == "\t" else " " for ch in text[: max(column - 1, 0)])
        return {
            "message": error.msg or type(error).__name__,
            "kind": type(error).__name__,
            "line": line,
            "column": column,
            "caret": "%s\n%s^" % (text, prefix),
        }


def _dynamic_module(node):
    """`importlib.import_module("x")` / `__import__("x")` with a literal name → "x"."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value and not first.value.startswith("."):
        return first.value
    return None


def collect_imports(tree):
    """Every absolute import, in line order: `{module, line, alias?, names?, dynamic?}`.
    Relative imports (`from . import x`) are the code's own and left out."""
    found = []  # (line, column, order, entry): source order, whatever order ast.walk visits in
    for node in ast.walk(tree):
        position = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
        if isinstance(node, ast.Import):
            for order, alias in enumerate(node.names):
                entry = {"module": alias.name, "line": node.lineno}
                if alias.asname:
                    entry["alias"] = alias.asname
                found.append(position + (order, entry))
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                continue
            names = [a.name for a in node.names][:50]
            found.append(position + (0, {"module": node.module, "line": node.lineno, "names": names}))
        elif isinstance(node, ast.Call):
            module = _dynamic_module(node)
            if module:
                found.append(position + (0, {"module": module, "line": node.lineno, "dynamic": True}))
        if len(found) >= MAX_IMPORTS:
            break
    found.sort(key=lambda item: item[:3])
    return [item[3] for item in found]


class Classifier:
    """Classifies modules by this interpreter, with the session's package directory on the path."""

    def __init__(self, aliases):
        self.aliases = aliases or {}
        self._distributions = None
        self.site = session_site_packages()
        self.root = workspace()

    def distributions_of(self, top):
        if self._distributions is None:
            try:
                self._distributions = importlib.metadata.packages_distributions()
            except Exception:
                self._distributions = {}
        return self._distributions.get(top) or []

    def classify(self, module):
        top = module.split(".")[0]
        entry = {}
        stdlib = top in sys.stdlib_module_names or top in sys.builtin_module_names
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        mapped = self.aliases.get(top) or {}
        if spec is None:
            entry["kind"] = "missing"
            if stdlib:
                entry["stdlib"] = True
            if mapped.get("distribution"):
                entry["distribution"] = mapped["distribution"]
            if mapped.get("debianPackage"):
                entry["debianPackage"] = mapped["debianPackage"]
            return entry
        if stdlib:
            entry["kind"] = "stdlib"
            return entry
        entry["kind"] = "installed"
        origin = spec.origin if spec.origin not in (None, "namespace", "built-in", "frozen") else None
        if origin is None and spec.submodule_search_locations:
            origin = next(iter(spec.submodule_search_locations), None)
        if origin:
            if origin.startswith(self.site + os.sep):
                entry["location"] = "session"
            elif origin.startswith(self.root + os.sep):
                entry["location"] = "workspace"
            else:
                entry["location"] = "system"
        names = self.distributions_of(top)
        if names:
            entry["distribution"] = names[0]
            try:
                entry["version"] = importlib.metadata.version(names[0])
            except Exception:
                pass
        elif mapped.get("distribution") and entry.get("location") != "workspace":
            entry["distribution"] = mapped["distribution"]
        if mapped.get("debianPackage"):
            entry["debianPackage"] = mapped["debianPackage"]
        return entry


def analyze(code, aliases):
    activate()
    error = syntax_error_of(code)
    if error is not None:
        return {"imports": [], "syntaxError": error}
    tree = ast.parse(code, filename="<cell>", mode="exec")
    classifier = Classifier(aliases)
    imports = []
    for found in collect_imports(tree):
        found.update(classifier.classify(found["module"]))
        imports.append(found)
    return {"imports": imports, "syntaxError": None}


# ---- install (the installer's sandbox) ----------------------------------------------------------

_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name):
    return _NORMALIZE.sub("-", name).lower()


def _dist_infos(path):
    out = {}
    try:
        for dist in importlib.metadata.distributions(path=[path]):
            name = dist.metadata.get("Name")
            if name:
                out[normalize(name)] = (name, dist.version, dist)
    except Exception:
        pass
    return out


def _requirement_parser():
    try:
        from packaging.requirements import Requirement  # python3-packaging
    except Exception:
        try:
            from pip._vendor.packaging.requirements import Requirement
        except Exception:
            return None
    return Requirement


def _unmet_requirements(installed, target):
    """Requirements of the installed distributions found neither in the target nor on sys.path
    (installs run with --no-deps: each dependency is a separate, allowlisted install)."""
    Requirement = _requirement_parser()
    if Requirement is None:
        return []
    available = {}
    for path in [target] + [p for p in sys.path if p and os.path.isdir(p)]:
        for key, (name, version, _dist) in _dist_infos(path).items():
            available.setdefault(key, version)
    unmet = []
    for key in installed:
        _name, _version, dist = installed[key]
        for text in dist.requires or []:
            try:
                requirement = Requirement(text)
                if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                    continue
            except Exception:
                continue
            have = available.get(normalize(requirement.name))
            if have is None or (requirement.specifier and not requirement.specifier.contains(have, prereleases=True)):
                unmet.append({"distribution": dist.metadata.get("Name"), "requirement": text, "found": have})
    return unmet


def _tail(text):
    return text if len(text) <= MAX_LOG_CHARS else "…" + text[-MAX_LOG_CHARS:]


def install(args):
    """Runs in the installer's sandbox, whose workspace the caller took off sys.path first."""
    requirements = [str(r) for r in args.get("requirements") or []]
    wheelhouse = args.get("wheelhouse")
    index_url = args.get("indexUrl")
    root = workspace()
    target = os.path.join(root, SITE_PACKAGES)
    if wheelhouse and not os.access(wheelhouse, os.R_OK | os.X_OK):
        return {
            "ok": False,
            "reason": "wheelhouse_unreadable",
            "message": "the wheelhouse is not readable by the sandbox's uid: make `packages.wheelhouseDir` and its wheels world-readable (chmod -R o+rX)",
            "log": "",
        }
    os.makedirs(target, exist_ok=True)
    scratch = os.path.join(root, PIP_TMP)
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch, exist_ok=True)
    before = {key: version for key, (_n, version, _d) in _dist_infos(target).items()}
    command = [
        sys.executable, "-I", "-m", "pip", "install",
        "--isolated", "--no-input", "--disable-pip-version-check", "--no-cache-dir",
        "--progress-bar", "off", "--no-warn-script-location", "--no-compile",
        "--no-deps", "--only-binary", ":all:", "--upgrade",
        "--target", target,
    ]
    if index_url:
        command += ["--index-url", index_url]
        if args.get("trustedHost"):
            command += ["--trusted-host", args["trustedHost"]]
    else:
        command += ["--no-index"]
    if wheelhouse:
        command += ["--find-links", wheelhouse]
    command += ["--"] + requirements
    # pip's temporary files go to the workspace (bounded by its quota), not the small /tmp tmpfs.
    env = dict(os.environ, TMPDIR=scratch, PIP_NO_INPUT="1")
    started = time.monotonic()
    try:
        # `-I` and cwd `/`: neither the workspace nor anything else writable is on pip's path, so
        # no module the session planted runs in this (possibly networked) process.
        run = subprocess.run(
            command, env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=float(args.get("timeoutSec") or 300),
        )
        code, out, err = run.returncode, run.stdout, run.stderr
    except subprocess.TimeoutExpired as expired:
        code, out, err = None, str(expired.stdout or ""), str(expired.stderr or "")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log = _tail((out or "") + (err or ""))
    if code != 0:
        unavailable = sorted(set(re.findall(r"No matching distribution found for ([^\s]+)", err or "")))
        lines = (err or out or "").strip().splitlines()
        return {
            "ok": False,
            "reason": "timeout" if code is None else ("unavailable" if unavailable else "pip_failed"),
            "message": "pip did not finish in time" if code is None else (lines[-1] if lines else "pip exited with code %s" % code),
            "unavailable": unavailable,
            "log": log,
        }
    after = _dist_infos(target)
    wanted = {normalize(re.split(r"[<>=!~;\s\[]", r, maxsplit=1)[0]) for r in requirements}
    installed = {key: value for key, value in after.items() if key in wanted or before.get(key) != value[1]}
    return {
        "ok": True,
        "installed": [
            {"name": name, "version": version, "previousVersion": before.get(key)}
            for key, (name, version, _dist) in sorted(installed.items())
        ],
        "unmetRequirements": _unmet_requirements(installed, target),
        "durationMs": round((time.monotonic() - started) * 1000),
        "log": log,
    }


def main(args):
    mode = args.get("mode", "analyze")
    if mode == "install":
        return install(args)
    if mode == "analyze":
        return analyze(str(args.get("code", "")), args.get("aliases") or {})
    raise ValueError("unknown mode %r" % (mode,))
