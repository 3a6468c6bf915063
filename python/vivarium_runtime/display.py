"""`display()`, display handles (`display_id` updates) and `clear_output`, as IPython offers them."""
import uuid

from .formatting import format_object

_publisher = None


def set_publisher(publisher):
    """`publisher(kind, payload)` sends a display frame; set by the kernel."""
    global _publisher
    _publisher = publisher


def _publish(kind, payload):
    if _publisher is not None:
        _publisher(kind, payload)


def _bundle(obj, raw, include, exclude, metadata):
    if raw and isinstance(obj, dict):
        data, extra = dict(obj), {}
    else:
        data, extra = format_object(obj, include=include, exclude=exclude)
    if metadata:
        extra.update(metadata)
    return data, extra


class DisplayHandle:
    """A handle on an output that later calls can replace in place."""

    def __init__(self, display_id=None):
        self.display_id = display_id or uuid.uuid4().hex

    def __repr__(self):
        return "<DisplayHandle display_id=%s>" % self.display_id

    def display(self, obj, **kwargs):
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        display(obj, display_id=self.display_id, update=True, **kwargs)


def display(*objs, include=None, exclude=None, metadata=None, transient=None, display_id=None, raw=False, clear=False, update=False, **_ignored):
    """Shows objects as rich outputs. With `display_id` returns a DisplayHandle; `update=True`
    replaces the earlier output with that id; `clear=True` clears the cell's outputs first."""
    if display_id is True:
        display_id = uuid.uuid4().hex
    if clear:
        clear_output(wait=True)
    for obj in objs:
        data, extra = _bundle(obj, raw, include, exclude, metadata)
        payload = {"data": data, "metadata": extra}
        transient_data = dict(transient or {})
        if display_id:
            transient_data["display_id"] = str(display_id)
        if transient_data:
            payload["transient"] = transient_data
        _publish("update_display_data" if update else "display_data", payload)
    if display_id:
        return DisplayHandle(str(display_id))
    return None


def update_display(obj, *, display_id, **kwargs):
    """Replaces the output shown with `display_id`."""
    display(obj, display_id=display_id, update=True, **kwargs)


def clear_output(wait=False):
    """Clears the cell's outputs; with `wait=True`, only when the next output arrives."""
    _publish("clear_output", {"wait": bool(wait)})


def publish_display_data(data, metadata=None, source=None, *, transient=None, **_ignored):
    """Shows a ready-made MIME bundle (IPython's low-level call)."""
    display(data, raw=True, metadata=metadata, transient=transient)


class _Text:
    """A string shown as one MIME type (IPython's `HTML`, `Markdown`, ... without their extras)."""

    def __init__(self, data=None, filename=None, **_ignored):
        if filename is not None and data is None:
            with open(filename, encoding="utf-8") as handle:
                data = handle.read()
        self.data = data

    def __repr__(self):
        return "<%s object>" % type(self).__name__


class HTML(_Text):
    def _repr_html_(self):
        return self.data


class Markdown(_Text):
    def _repr_markdown_(self):
        return self.data


class SVG(_Text):
    def _repr_svg_(self):
        return self.data


class Latex(_Text):
    def _repr_latex_(self):
        return self.data


class JSON(_Text):
    def _repr_json_(self):
        return self.data


class Image:
    """A PNG or JPEG from bytes or a file (the format is read from the bytes' signature)."""

    def __init__(self, data=None, filename=None, format=None, **_ignored):
        if filename is not None and data is None:
            with open(filename, "rb") as handle:
                data = handle.read()
        self.data = bytes(data or b"")
        self.format = format or ("jpeg" if self.data[:3] == b"\xff\xd8\xff" else "png")

    def __repr__(self):
        return "<Image object>"

    def _repr_png_(self):
        return self.data if self.format == "png" else None

    def _repr_jpeg_(self):
        return self.data if self.format in ("jpeg", "jpg") else None
