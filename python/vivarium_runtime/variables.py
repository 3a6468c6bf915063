"""Summaries of the user's namespace: name, type and a short, bounded description."""
import types

MAX_VARIABLES = 500
MAX_SUMMARY_CHARS = 200
MAX_KEYS = 10


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


def summarize(namespace, hidden=()):
    """User variables: no modules, no underscore names, no callables imported from modules."""
    out = []
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
        try:
            entry.update(_describe(value))
        except Exception as error:
            entry.update({"type": _type_name(value), "summary": "<summary failed: %s>" % type(error).__name__})
        out.append(entry)
        if len(out) >= MAX_VARIABLES:
            break
    return out
