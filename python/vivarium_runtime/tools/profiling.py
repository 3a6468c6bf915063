"""Profiling as data (see src/tools/profile.ts): cProfile, tracemalloc, and line_profiler when present.

The profiled code runs in this side kernel, in a fresh namespace of its own (as `__main__`), so the
session's namespace is untouched. Paths are reported relative to the workspace; frames of the
runtime itself (this module, the kernel's stream pumps) are left out.
"""
import cProfile
import linecache
import os
import pstats
import resource
import sys
import time
import tracemalloc
import traceback
import types

# The runtime's own files: frames there are the tool's, not the user's.
RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE_FILENAME = "<code>"
DEFAULT_TOP = 20
MAX_TOP = 500
# Depth of the stacks tracemalloc keeps: the allocating line is enough for "top sites".
TRACEMALLOC_FRAMES = 1
MAX_SOURCE_CHARS = 200
MAX_ERROR_TRACEBACK_LINES = 60
# Profiler internals that show up in every profile.
PROFILER_ENTRIES = {"<method 'disable' of '_lsprof.Profiler' objects>", "<method 'enable' of '_lsprof.Profiler' objects>"}


class ToolInputError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _workspace():
    return os.getcwd()


def _check_relative_path(name, path, workspace):
    if not isinstance(path, str) or path == "" or "\0" in path:
        raise ToolInputError("INVALID_ARGUMENT", "Expected `%s` to be a relative path, got %r" % (name, path))
    if os.path.isabs(path) or "\\" in path or any(part == ".." for part in path.split("/")):
        raise ToolInputError(
            "INVALID_ARGUMENT", "Expected `%s` to be a path inside the workspace, got %r" % (name, path)
        )
    full = os.path.realpath(os.path.join(workspace, path))
    root = os.path.realpath(workspace)
    if not full.startswith(root + os.sep):
        raise ToolInputError("PATH_INVALID", "Expected `%s` to stay inside the workspace, got %r" % (name, path))
    return full


def _display_path(path, workspace):
    """Relative to the workspace when inside it; `None` for built-ins (`~`)."""
    if path in ("~", "", None):
        return None
    if path.startswith("<"):
        return path
    root = os.path.realpath(workspace)
    absolute = os.path.realpath(path)
    if absolute.startswith(root + os.sep):
        return os.path.relpath(absolute, root)
    return path


def _is_runtime(path):
    return bool(path) and not path.startswith("<") and os.path.realpath(path).startswith(RUNTIME_DIR + os.sep)


def _code_objects(code):
    """`code` and every code object nested in it (functions, classes, comprehensions)."""
    found = [code]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.extend(_code_objects(const))
    return found


def _error_of(exc):
    """The error as data, in the Execution's shape, with the frames of this module cut off."""
    tb = exc.__traceback__
    while tb is not None and _is_runtime(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and tb is None:
        lines = traceback.format_exception_only(type(exc), exc)
    else:
        lines = traceback.format_exception(type(exc), exc, tb)
    text = "".join(lines).splitlines()
    if len(text) > MAX_ERROR_TRACEBACK_LINES:
        text = text[:10] + ["..."] + text[-(MAX_ERROR_TRACEBACK_LINES - 11) :]
    return {"ename": type(exc).__name__, "evalue": str(exc), "traceback": text}


def _load(args, workspace):
    """(source, filename its frames carry, the script's directory or None for inline code)."""
    code = args.get("code")
    file = args.get("file")
    if (code is None) == (file is None):
        raise ToolInputError("INVALID_ARGUMENT", "Expected exactly one of `code` or `file`")
    if code is not None:
        return code, CODE_FILENAME, None
    full = _check_relative_path("file", file, workspace)
    if not os.path.isfile(full):
        raise ToolInputError("FILE_NOT_FOUND", "No such file in the workspace: `%s`" % file)
    with open(full, "rb") as handle:
        source = handle.read()
    return source, full, os.path.dirname(full)


def _function_rows(stats, workspace):
    rows = []
    for (filename, line, name), (primitive, calls, own, cumulative, _callers) in stats.stats.items():
        if _is_runtime(filename) or name in PROFILER_ENTRIES:
            continue
        rows.append(
            {
                "function": name,
                "file": _display_path(filename, workspace),
                "line": line,
                "calls": calls,
                "primitiveCalls": primitive,
                "totalMs": round(own * 1000, 3),
                "cumulativeMs": round(cumulative * 1000, 3),
                "_own": own,
                "_cumulative": cumulative,
                "_key": (filename, line, name),
            }
        )
    return rows


def _ranked(rows, key, top, total_seconds):
    ranked = sorted(rows, key=lambda row: row[key], reverse=True)[:top]
    out = []
    for row in ranked:
        entry = {k: v for k, v in row.items() if not k.startswith("_")}
        entry["percent"] = round(100.0 * row[key] / total_seconds, 2) if total_seconds > 0 else 0.0
        out.append(entry)
    return out


def _memory_top(snapshot, workspace, top):
    filtered = snapshot.filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, os.path.join(RUNTIME_DIR, "*")),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        )
    )
    sites = []
    for stat in filtered.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        sites.append(
            {
                "file": _display_path(frame.filename, workspace),
                "line": frame.lineno,
                "sizeBytes": stat.size,
                "count": stat.count,
            }
        )
    return sites


def _line_rows(profiler, workspace, top, wall_seconds):
    stats = profiler.get_stats()
    rows = []
    for (filename, _first, function), timings in stats.timings.items():
        for lineno, hits, total in timings:
            seconds = total * stats.unit
            source = linecache.getline(filename, lineno).strip()
            rows.append(
                {
                    "file": _display_path(filename, workspace),
                    "line": lineno,
                    "function": function,
                    "hits": hits,
                    "totalMs": round(seconds * 1000, 3),
                    "perHitMs": round(seconds * 1000 / hits, 6) if hits else 0.0,
                    "percent": round(100.0 * seconds / wall_seconds, 2) if wall_seconds > 0 else 0.0,
                    "source": source[:MAX_SOURCE_CHARS],
                }
            )
    rows.sort(key=lambda row: row["totalMs"], reverse=True)
    return rows[:top]


def _empty_result(error, warnings):
    return {
        "wallMs": 0.0,
        "cpuMs": 0.0,
        "peakMemoryBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "profiledMs": 0.0,
        "cumulative": [],
        "own": [],
        "memory": {"peakBytes": 0, "top": []},
        "error": error,
        "warnings": warnings,
    }


def main(args):
    workspace = _workspace()
    try:
        return _profile(args, workspace)
    except ToolInputError as error:
        return {"inputError": {"code": error.code, "message": error.message}}


def _profile(args, workspace):
    top = int(args.get("top") or DEFAULT_TOP)
    top = max(1, min(top, MAX_TOP))
    save = args.get("saveProfile")
    save_full = _check_relative_path("saveProfile", save, workspace) if save else None
    source, filename, script_dir = _load(args, workspace)
    warnings = []

    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        # The user's code does not compile: an error as data, nothing profiled.
        return _empty_result(_error_of(exc), warnings)
    if filename == CODE_FILENAME:
        # So tracebacks and line profiles can show the source of inline code.
        text = source if isinstance(source, str) else source.decode("utf-8", "replace")
        linecache.cache[CODE_FILENAME] = (len(text), None, text.splitlines(True), CODE_FILENAME)

    line_profiler = None
    if args.get("lineProfile"):
        try:
            from line_profiler import LineProfiler
        except ImportError:
            warnings.append(
                "line-level profiling needs line_profiler (Debian: python3-line-profiler), "
                "which is not installed for the sandbox interpreter; skipped"
            )
        else:
            line_profiler = LineProfiler()
            for nested in _code_objects(code):
                # line_profiler takes anything with a `__code__`: the profiled source's own functions.
                line_profiler.add_function(types.SimpleNamespace(__code__=nested))
            warnings.append("line-level tracing was on: the times include its overhead")

    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "__file__": filename}
    # Module code run as a function: the profile starts at the profiled `<module>`, with no
    # `exec` frame of ours above it.
    entry = types.FunctionType(code, namespace)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [args.get("file") or "-c"]
    if script_dir is not None:
        sys.path.insert(0, script_dir)
    profiler = cProfile.Profile()
    failure = None
    tracemalloc.start(TRACEMALLOC_FRAMES)
    tracemalloc.reset_peak()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    try:
        if line_profiler is not None:
            line_profiler.enable_by_count()
        profiler.enable()
        try:
            entry()
        finally:
            profiler.disable()
            if line_profiler is not None:
                line_profiler.disable_by_count()
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            failure = exit_
    except BaseException as exc:  # noqa: BLE001 - the profiled code's error is data
        failure = exc
    wall_seconds = time.perf_counter() - wall_started
    cpu_seconds = time.process_time() - cpu_started
    _, traced_peak = tracemalloc.get_traced_memory()
    # Before the namespace goes: what the code still holds is attributed to where it was allocated.
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.argv, sys.path[:] = saved_argv, saved_path
    namespace.clear()
    # Formatted after the snapshot, so its allocations are not counted as the code's.
    error = None if failure is None else _error_of(failure)

    stats = pstats.Stats(profiler)
    total_seconds = stats.total_tt
    rows = _function_rows(stats, workspace)
    # The profiled `<module>` is the whole run (see `cpuMs`): left out of the cumulative ranking,
    # kept in the own-time one (a hot loop at module level is its own time).
    root = (filename, code.co_firstlineno, "<module>")
    cumulative_rows = [row for row in rows if row["_key"] != root]
    result = {
        "wallMs": round(wall_seconds * 1000, 3),
        "cpuMs": round(cpu_seconds * 1000, 3),
        "peakMemoryBytes": max(rss_peak, rss_before) * 1024,
        "profiledMs": round(total_seconds * 1000, 3),
        "cumulative": _ranked(cumulative_rows, "_cumulative", top, total_seconds),
        "own": _ranked(rows, "_own", top, total_seconds),
        "memory": {"peakBytes": traced_peak, "top": _memory_top(snapshot, workspace, top)},
        "error": error,
        "warnings": warnings,
    }
    if line_profiler is not None:
        result["lines"] = _line_rows(line_profiler, workspace, top, wall_seconds)
    if save_full is not None:
        os.makedirs(os.path.dirname(save_full), exist_ok=True)
        profiler.dump_stats(save_full)
        result["profilePath"] = os.path.relpath(save_full, os.path.realpath(workspace))
    return result
