"""Reads one value of the user's namespace as JSON, for the host (a task's `results` dict).

Answered from the runtime's idle loop over the protocol channel, so what the host gets is the
namespace's value itself: user code can shape the value but cannot forge the answer (a file in
the workspace could be written by anyone). Bounded: at most MAX_KEYS keys, `max_bytes` of JSON.
"""
import json
import math

MAX_KEYS = 1_000
MAX_ERROR_CHARS = 300


def _plain(value):
    """numpy / pandas scalars (`np.int64(3)`, `np.float64`) count as their Python values."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    item = getattr(value, "item", None)
    shape = getattr(value, "shape", None)
    if callable(item) and shape == ():
        return item()
    return value


def _default(value):
    converted = _plain(value)
    if converted is value:
        raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)
    return converted


def _dumps(value):
    converted = _plain(value)
    if isinstance(converted, float) and not math.isfinite(converted):
        raise ValueError("%r is not valid JSON (NaN and infinities are not)" % converted)
    return json.dumps(converted, allow_nan=False, default=_default, ensure_ascii=False)


def read_value(namespace, name, max_bytes, remove=False):
    """`{name, found, type, keys, json, unserializable, truncated}`; removes the name after reading when asked."""
    out = {"name": name, "found": False, "type": None, "keys": None, "json": None, "unserializable": [], "truncated": False}
    if name not in namespace:
        return out
    value = namespace[name]
    if remove:
        del namespace[name]
    out["found"] = True
    out["type"] = type(value).__name__
    if not isinstance(value, dict):
        try:
            text = _dumps(value)
        except Exception as error:  # noqa: BLE001 - any failure is reported as data
            out["unserializable"].append({"key": None, "type": type(value).__name__, "error": _error_text(error)})
            return out
        if len(text.encode("utf-8")) > max_bytes:
            out["truncated"] = True
        else:
            out["json"] = text
        return out
    parts = []
    size = 2
    keys = []
    for index, (key, item) in enumerate(list(value.items())):
        if index >= MAX_KEYS:
            out["truncated"] = True
            break
        if not isinstance(key, str):
            out["unserializable"].append({"key": repr(key)[:200], "type": type(item).__name__, "error": "the key is not a string"})
            continue
        keys.append(key)
        try:
            text = _dumps(item)
        except Exception as error:  # noqa: BLE001
            out["unserializable"].append({"key": key, "type": type(item).__name__, "error": _error_text(error)})
            continue
        part = json.dumps(key, ensure_ascii=False) + ":" + text
        size += len(part.encode("utf-8")) + 1
        if size > max_bytes:
            out["truncated"] = True
            continue
        parts.append(part)
    out["keys"] = keys
    out["json"] = "{" + ",".join(parts) + "}"
    return out


def _error_text(error):
    text = "%s: %s" % (type(error).__name__, error)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."
