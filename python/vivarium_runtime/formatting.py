"""The IPython display protocol: objects to MIME bundles."""
import base64
import io
import pprint
import sys

MAX_TEXT_PLAIN_CHARS = 200_000

_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"),
    ("application/pdf", "_repr_pdf_"),
)
_BINARY = {"image/png", "image/jpeg", "application/pdf"}


def _encode(mime, value):
    if mime in _BINARY:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(value)).decode("ascii")
        return str(value)
    # JSON types (`application/json`, vendor `...+json` such as Vega or widget state) stay
    # structured, as in nbformat; stringifying them would hand the frontend a Python repr.
    if mime == "application/json" or mime.endswith("+json"):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def text_plain(obj):
    try:
        if isinstance(obj, (dict, list, tuple, set, frozenset)) and len(obj) < 2000:
            text = pprint.pformat(obj, width=100, sort_dicts=False)
        else:
            text = repr(obj)
    except Exception as error:  # a broken __repr__ must not break the cell's report
        text = "<%s object (repr failed: %s: %s)>" % (type(obj).__name__, type(error).__name__, error)
    if len(text) > MAX_TEXT_PLAIN_CHARS:
        text = text[:MAX_TEXT_PLAIN_CHARS] + "\n... [%d characters cut]" % (len(text) - MAX_TEXT_PLAIN_CHARS)
    return text


def figure_png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _special(obj, data):
    """pandas Series and matplotlib figures, which have no rich repr of their own."""
    module = type(obj).__module__ or ""
    if module.startswith("pandas") and type(obj).__name__ == "Series" and "text/html" not in data:
        try:
            data["text/html"] = obj.to_frame()._repr_html_()
        except Exception:
            pass
    if module.startswith("matplotlib") and type(obj).__name__ == "Figure" and "image/png" not in data:
        try:
            data["image/png"] = figure_png(obj)
        except Exception:
            pass


def format_object(obj, include=None, exclude=None):
    """Returns `(data, metadata)` for an object, with `text/plain` always present."""
    data, metadata = {}, {}
    is_class = isinstance(obj, type)
    if not is_class:
        method = getattr(obj, "_repr_mimebundle_", None)
        if callable(method):
            try:
                bundle = method(include=include, exclude=exclude)
                if isinstance(bundle, tuple) and len(bundle) == 2:
                    bundle, extra = bundle
                    if isinstance(extra, dict):
                        metadata.update(extra)
                if isinstance(bundle, dict):
                    for mime, value in bundle.items():
                        data[str(mime)] = _encode(str(mime), value)
            except Exception:
                pass
        for mime, name in _METHODS:
            if mime in data:
                continue
            method = getattr(obj, name, None)
            if not callable(method):
                continue
            try:
                value = method()
            except Exception:
                continue
            if value is None:
                continue
            if isinstance(value, tuple) and len(value) == 2:
                value, extra = value
                if isinstance(extra, dict):
                    metadata[mime] = extra
            data[mime] = _encode(mime, value)
        _special(obj, data)
    if "text/plain" not in data:
        data["text/plain"] = text_plain(obj)
    if include:
        data = {k: v for k, v in data.items() if k in include or k == "text/plain"}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data, metadata


def collect_figures():
    """Every open matplotlib figure as a PNG bundle, then closed. Nothing when pyplot was never used."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    bundles = []
    for number in list(pyplot.get_fignums()):
        figure = pyplot.figure(number)
        try:
            width, height = figure.get_size_inches() * figure.dpi
            bundles.append(
                (
                    {"image/png": figure_png(figure), "text/plain": "<Figure size %dx%d with %d Axes>" % (width, height, len(figure.axes))},
                    {},
                )
            )
        finally:
            pyplot.close(figure)
    return bundles
