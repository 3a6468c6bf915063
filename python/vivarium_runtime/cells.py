"""Compiling a cell with Jupyter semantics and cleaning its tracebacks."""
import ast
import io
import linecache
import tokenize
import os
import traceback

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


def _ends_with_semicolon(source):
    last = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
                continue
            last = token
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return False
    return last is not None and last.type == tokenize.OP and last.string == ";"


def register_source(filename, source):
    lines = source.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(source), None, lines, filename)


def compile_cell(source, filename):
    """Returns `(body_code, expression_code_or_None)`. Raises SyntaxError."""
    tree = ast.parse(source, filename=filename, mode="exec")
    expression = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not _ends_with_semicolon(source):
        last = tree.body.pop()
        expression = compile(ast.Expression(last.value), filename, "eval")
    body = compile(tree, filename, "exec")
    return body, expression


def cell_traceback(error, cell_prefix="<cell-"):
    """Traceback lines starting at the first frame of a cell: no runtime frames."""
    if isinstance(error, SyntaxError):
        if error.text is None and error.filename and error.lineno:
            # Errors found when compiling the parsed tree ('await' outside function, 'return'
            # outside function) carry no source line: take it from the registered cell.
            error.text = linecache.getline(error.filename, error.lineno) or None
        lines = traceback.format_exception_only(type(error), error)
        return ["".join(lines).rstrip("\n")]
    frames = traceback.extract_tb(error.__traceback__)
    start = next((i for i, frame in enumerate(frames) if frame.filename.startswith(cell_prefix)), None)
    kept = [frame for frame in frames[start:] if not frame.filename.startswith(_RUNTIME_DIR)] if start is not None else []
    lines = []
    if kept:
        lines.append("Traceback (most recent call last):")
        lines.extend(entry.rstrip("\n") for entry in traceback.format_list(kept))
    lines.extend(line.rstrip("\n") for line in traceback.format_exception_only(type(error), error))
    return lines


def error_payload(error):
    payload = {
        "ename": type(error).__name__,
        "evalue": str(error) if not isinstance(error, SyntaxError) else (error.msg or ""),
        "traceback": cell_traceback(error),
    }
    if isinstance(error, SyntaxError):
        payload["line"] = error.lineno
        payload["column"] = error.offset
    if isinstance(error, SystemExit):
        payload["evalue"] = "" if error.code is None else str(error.code)
    return payload
