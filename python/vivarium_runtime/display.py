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


class HTML:
    def __init__(self, data):
        self.data = data

    def _repr_html_(self):
        return self.data


class Markdown:
    def __init__(self, data):
        self.data = data

    def _repr_markdown_(self):
        return self.data
