"""Summaries of the user's namespace: name, type and a short, bounded description."""
import signal
import threading
import time
import types

MAX_VARIABLES = 500
MAX_SUMMARY_CHARS = 200
MAX_KEYS = 10
# A summary calls user code (`__repr__`, `__len__`), which may hang. Each value gets this long
# (SIGALRM), the whole listing that long; the host's own wait is longer than both, so a slow
# repr costs one summary instead of the request (and a late answer the host no longer expects).
SECONDS_PER_VARIABLE = 1.0
SECONDS_TOTAL = 5.0


class _SummaryTimeout(BaseException):
    """BaseException: `except Exception` in user code or in `_safe` must not swallow it."""


def _short(text):
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 3] + "..."


def _safe(call, default=None):
    try:
        return call()
    except Exception:
        return default


def _type_name(value):
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else "%s.%s" % (module, kind.__qualname__)


def _describe(value):
    entry = {"type": _type_name(value)}
    module = type(value).__module__ or ""
    name = type(value).__name__
    if module.startswith("pandas") and name == "DataFrame":
        entry["shape"] = list(value.shape)
        columns = [str(c) for c in list(value.columns)[:50]]
        entry["columns"] = columns
        entry["dtypes"] = {str(c): str(t) for c, t in list(value.dtypes.items())[:50]}
        entry["summary"] = _short("DataFrame %d rows x %d columns: %s" % (value.shape[0], value.shape[1], ", ".join(columns)))
        return entry
    if module.startswith("pandas") and name == "Series":
        entry["shape"] = list(value.shape)
        entry["dtype"] = str(value.dtype)
        entry["summary"] = _short("Series %s, %d values, dtype %s" % (value.name, len(value), value.dtype))
        return entry
    if module.startswith("numpy") and hasattr(value, "shape") and hasattr(value, "dtype"):
        entry["shape"] = [int(n) for n in value.shape]
        entry["dtype"] = str(value.dtype)
        entry["summary"] = _short("ndarray shape %s dtype %s" % (tuple(value.shape), value.dtype) if value.shape else repr(value))
        return entry
    if isinstance(value, dict):
        entry["length"] = len(value)
        keys = [_short(repr(k)) for k in list(value.keys())[:MAX_KEYS]]
        entry["keys"] = keys
        entry["summary"] = _short("dict with %d keys: %s" % (len(value), ", ".join(keys)))
        return entry
    if isinstance(value, (list, tuple, set, frozenset, str, bytes, bytearray)):
        entry["length"] = len(value)
        entry["summary"] = _short(repr(value) if len(value) <= 20 or isinstance(value, (str, bytes)) else "%s of %d items" % (name, len(value)))
        return entry
    length = _safe(lambda: len(value))
    if isinstance(length, int):
        entry["length"] = length
    shape = _safe(lambda: getattr(value, "shape", None))
    if isinstance(shape, tuple):
        entry["shape"] = [int(n) for n in shape if isinstance(n, int)]
    entry["summary"] = _short(_safe(lambda: repr(value), "<%s object>" % name))
    return entry


class _Deadline:
    """Raises `_SummaryTimeout` in the main thread when an armed call runs too long."""

    def __init__(self):
        self.armed = False
        self.enabled = threading.current_thread() is threading.main_thread()

    def _on_alarm(self, _signum, _frame):
        if self.armed:
            raise _SummaryTimeout()

    def __enter__(self):
        if self.enabled:
            self.started = time.monotonic()
            self.previous_handler = signal.signal(signal.SIGALRM, self._on_alarm)
            self.previous_timer = signal.setitimer(signal.ITIMER_REAL, 0)
        return self

    def __exit__(self, *_exc):
        if self.enabled:
            signal.signal(signal.SIGALRM, self.previous_handler)
            delay, interval = self.previous_timer
            if delay > 0:  # a timer the user's code had set keeps running
                signal.setitimer(signal.ITIMER_REAL, max(delay - (time.monotonic() - self.started), 0.001), interval)

    def call(self, seconds, function):
        if not self.enabled:
            return function()
        try:
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, seconds)
            return function()
        finally:
            self.armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)


def summarize(namespace, hidden=()):
    """User variables: no modules, no underscore names, no callables imported from modules."""
    out = []
    deadline = time.monotonic() + SECONDS_TOTAL
    with _Deadline() as timer:
        for key, value in list(namespace.items()):
            if key.startswith("_") or key in hidden:
                continue
            if isinstance(value, types.ModuleType):
                continue
            if callable(value) and not isinstance(value, (type,)) and getattr(value, "__module__", "__main__") != "__main__":
                continue
            if isinstance(value, type) and getattr(value, "__module__", "__main__") != "__main__":
                continue
            entry = {"name": key}
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise _SummaryTimeout()
                entry.update(timer.call(min(SECONDS_PER_VARIABLE, remaining), lambda: _describe(value)))
            except _SummaryTimeout:
                entry.update({"type": _type_name(value), "summary": "<summary took too long>"})
            except Exception as error:
                entry.update({"type": _type_name(value), "summary": "<summary failed: %s>" % type(error).__name__})
            out.append(entry)
            if len(out) >= MAX_VARIABLES:
                break
    return out
