"""Static analysis of a cell for the policy (src/analysis/analyze.ts, docs/analysis.md).

`main(args)`: `{"code": str, "aliases": {module: {"distribution", "debianPackage"}}}` →
`{"syntaxError": {...} | None, "imports": [...], "findings": [...], "notes": [...]}`.

The code is parsed with `ast` and walked, nothing more: it is never run or compiled to bytecode,
and nothing it names is imported either (a workspace file could shadow any module). Findings are
raw — rule id, line, column, symbol, path, message — and the host applies the policy (severities,
the import allow/deny lists, the decision). This is guidance, not a boundary: code built from
strings at run time is invisible here, and the sandbox contains it anyway.

Names are resolved alias-aware through a small model of scopes: `import os as o` binds `o` to the
module `os`, `from os import system as s` binds `s` to `os.system`, `f = os.system` follows,
`from subprocess import *` makes the known dangerous names of `subprocess` visible, and
`getattr(os, "system")`, `__import__("os")`, `importlib.import_module("os")`,
`__builtins__["eval"]`, `vars(builtins)["exec"]`, `sys.modules["os"]` resolve when their
arguments are literal strings.
"""
import ast
import builtins
import posixpath
import re

from vivarium_runtime.tools.dependencies import Classifier, activate, syntax_error_of

MAX_FINDINGS = 500
MAX_IMPORTS = 2_000
MAX_SYMBOL_CHARS = 200
MAX_PATH_CHARS = 1_024
# The sandbox's writable places: the workspace (the cwd of the code) and the scratch tmpfs.
WORKSPACE = "/workspace"
WRITABLE_DIRS = ("/workspace", "/tmp", "/var/tmp", "/dev/shm")

BUILTIN_NAMES = frozenset(dir(builtins))

# ---- the catalog of calls ------------------------------------------------------------------------

# Resolved dotted name (aliases followed, `builtins.` dropped, spellings made canonical) → rule.
CALLS = {
    "eval": "dynamic.eval",
    "exec": "dynamic.exec",
    "compile": "dynamic.compile",
    "importlib.import_module": "dynamic.import",
    "importlib.__import__": "dynamic.import",
    "importlib.reload": "dynamic.import",
    "importlib.util.spec_from_file_location": "dynamic.import",
    "importlib.util.module_from_spec": "dynamic.import",
    "importlib.machinery.SourceFileLoader": "dynamic.import",
    "runpy.run_path": "dynamic.import",
    "runpy.run_module": "dynamic.import",
    "imp.load_source": "dynamic.import",
    "imp.load_module": "dynamic.import",
    "sys._getframe": "dynamic.introspection",
    "inspect.currentframe": "dynamic.introspection",
    "inspect.stack": "dynamic.introspection",
    "gc.get_objects": "dynamic.introspection",
    "gc.get_referrers": "dynamic.introspection",
    "gc.get_referents": "dynamic.introspection",
    "os.system": "process.system",
    "os.popen": "process.system",
    "asyncio.create_subprocess_exec": "process.subprocess",
    "asyncio.create_subprocess_shell": "process.subprocess",
    "_posixsubprocess.fork_exec": "process.exec",
    "os.posix_spawn": "process.exec",
    "os.posix_spawnp": "process.exec",
    "os.startfile": "process.exec",
    "os.fork": "process.fork",
    "os.register_at_fork": "process.fork",
    "multiprocessing.Process": "process.fork",
    "multiprocessing.Pool": "process.fork",
    "multiprocessing.get_context": "process.fork",
    "multiprocessing.pool.Pool": "process.fork",
    "multiprocessing.context.Process": "process.fork",
    "concurrent.futures.ProcessPoolExecutor": "process.fork",
    "concurrent.futures.process.ProcessPoolExecutor": "process.fork",
    "os.forkpty": "process.pty",
    "os.openpty": "process.pty",
    "pty.spawn": "process.pty",
    "pty.fork": "process.pty",
    "pty.openpty": "process.pty",
    "os.kill": "process.signal",
    "os.killpg": "process.signal",
    "signal.pthread_kill": "process.signal",
    "socket.socket": "network.socket",
    "socket.create_connection": "network.socket",
    "socket.create_server": "network.socket",
    "socket.fromfd": "network.socket",
    "socket.getaddrinfo": "network.socket",
    "socket.gethostbyname": "network.socket",
    "socket.gethostbyname_ex": "network.socket",
    "socket.gethostbyaddr": "network.socket",
    "ssl.wrap_socket": "network.socket",
    "asyncio.open_connection": "network.socket",
    "asyncio.start_server": "network.socket",
    "asyncio.open_unix_connection": "network.socket",
    "asyncio.start_unix_server": "network.socket",
    "socketserver.TCPServer": "network.socket",
    "socketserver.UDPServer": "network.socket",
    "socketserver.ThreadingTCPServer": "network.socket",
    "cffi.FFI": "native.cffi",
    "ctypes.CDLL": "native.ctypes",
    "ctypes.PyDLL": "native.ctypes",
    "ctypes.LibraryLoader": "native.ctypes",
    "ctypes.cast": "native.ctypes",
    "ctypes.memmove": "native.ctypes",
    "ctypes.memset": "native.ctypes",
    "ctypes.string_at": "native.ctypes",
    "ctypes.wstring_at": "native.ctypes",
    "ctypes.CFUNCTYPE": "native.ctypes",
    "ctypes.PYFUNCTYPE": "native.ctypes",
    "ctypes.util.find_library": "native.ctypes",
    "pickle.load": "serialization.pickle",
    "pickle.loads": "serialization.pickle",
    "pickle.Unpickler": "serialization.pickle",
    "dill.load": "serialization.pickle",
    "dill.loads": "serialization.pickle",
    "cloudpickle.load": "serialization.pickle",
    "cloudpickle.loads": "serialization.pickle",
    "shelve.open": "serialization.pickle",
    "pandas.read_pickle": "serialization.pickle",
    "joblib.load": "serialization.pickle",
    "torch.load": "serialization.pickle",
    "jsonpickle.decode": "serialization.pickle",
    "pickle.dump": "serialization.pickle_dump",
    "pickle.dumps": "serialization.pickle_dump",
    "pickle.Pickler": "serialization.pickle_dump",
    "dill.dump": "serialization.pickle_dump",
    "dill.dumps": "serialization.pickle_dump",
    "cloudpickle.dump": "serialization.pickle_dump",
    "cloudpickle.dumps": "serialization.pickle_dump",
    "joblib.dump": "serialization.pickle_dump",
    "marshal.load": "serialization.marshal",
    "marshal.loads": "serialization.marshal",
    "yaml.unsafe_load": "serialization.yaml",
    "yaml.unsafe_load_all": "serialization.yaml",
}
for _name in ("execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe"):
    CALLS["os." + _name] = "process.exec"
for _name in ("spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe"):
    CALLS["os." + _name] = "process.exec"

# Any call of a member of these (dotted prefix) → rule. Longest prefix wins.
CALL_PREFIXES = (
    ("subprocess.", "process.subprocess"),
    ("asyncio.subprocess.", "process.subprocess"),
    ("ctypes.cdll.", "native.ctypes"),
    ("ctypes.pydll.", "native.ctypes"),
    ("ctypes.pythonapi.", "native.ctypes"),
    ("_ctypes.", "native.ctypes"),
    ("cffi.", "native.cffi"),
    ("requests.", "network.http"),
    ("httpx.", "network.http"),
    ("aiohttp.", "network.http"),
    ("urllib3.", "network.http"),
    ("urllib.request.", "network.http"),
    ("http.client.", "network.http"),
    ("http.server.", "network.http"),
    ("xmlrpc.client.", "network.http"),
    ("ftplib.", "network.http"),
    ("smtplib.", "network.http"),
    ("poplib.", "network.http"),
    ("imaplib.", "network.http"),
    ("telnetlib.", "network.http"),
    ("nntplib.", "network.http"),
    ("websocket.", "network.http"),
    ("websockets.", "network.http"),
    ("pycurl.", "network.http"),
    ("paramiko.", "network.http"),
    ("webbrowser.", "network.http"),
    ("socket.", "network.socket"),
)

# Importing one of these (dotted prefix) is noted at `info`; each use is flagged by the call rules.
IMPORTS = (
    ("subprocess", "process.import"),
    ("pty", "process.import"),
    ("multiprocessing", "process.import"),
    ("_posixsubprocess", "process.import"),
    ("asyncio.subprocess", "process.import"),
    ("socket", "network.import"),
    ("ssl", "network.import"),
    ("socketserver", "network.import"),
    ("requests", "network.import"),
    ("httpx", "network.import"),
    ("aiohttp", "network.import"),
    ("urllib3", "network.import"),
    ("urllib.request", "network.import"),
    ("http.client", "network.import"),
    ("http.server", "network.import"),
    ("xmlrpc", "network.import"),
    ("ftplib", "network.import"),
    ("smtplib", "network.import"),
    ("poplib", "network.import"),
    ("imaplib", "network.import"),
    ("telnetlib", "network.import"),
    ("nntplib", "network.import"),
    ("websocket", "network.import"),
    ("websockets", "network.import"),
    ("pycurl", "network.import"),
    ("paramiko", "network.import"),
    ("ctypes", "native.import"),
    ("_ctypes", "native.import"),
    ("cffi", "native.import"),
)

# Spellings of the same thing → the one the catalog uses.
CANONICAL_PREFIXES = (
    ("posix.", "os."),
    ("nt.", "os."),
    ("cPickle.", "pickle."),
    ("_pickle.", "pickle."),
    ("pathlib.PosixPath", "pathlib.Path"),
    ("pathlib.PurePosixPath", "pathlib.Path"),
    ("pathlib.PurePath", "pathlib.Path"),
    ("urllib2.", "urllib.request."),
    ("httplib.", "http.client."),
)

OPEN_FUNCTIONS = frozenset({"open", "io.open", "_io.open", "codecs.open", "io.FileIO", "_io.FileIO"})
PATH_TYPES = frozenset({"pathlib.Path"})
# os / shutil calls that create, change or move files: argument positions of the paths written.
FILE_WRITES = {
    "os.rename": (0, 1),
    "os.renames": (0, 1),
    "os.replace": (0, 1),
    "os.link": (1,),
    "os.symlink": (1,),
    "os.mkdir": (0,),
    "os.makedirs": (0,),
    "os.mkfifo": (0,),
    "os.mknod": (0,),
    "os.chmod": (0,),
    "os.lchmod": (0,),
    "os.chown": (0,),
    "os.lchown": (0,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "shutil.copy": (1,),
    "shutil.copy2": (1,),
    "shutil.copyfile": (1,),
    "shutil.copytree": (1,),
    "shutil.copymode": (1,),
    "shutil.copystat": (1,),
    "shutil.move": (0, 1),
    "shutil.chown": (0,),
    "shutil.make_archive": (0,),
    "shutil.unpack_archive": (1,),
    "numpy.save": (0,),
    "numpy.savez": (0,),
    "numpy.savez_compressed": (0,),
    "numpy.savetxt": (0,),
    "matplotlib.pyplot.savefig": (0,),
    "matplotlib.pyplot.imsave": (0,),
}
# Reads worth a look when the path is a literal outside the workspace: argument positions.
FILE_READS = {
    "shutil.copy": (0,),
    "shutil.copy2": (0,),
    "shutil.copyfile": (0,),
    "shutil.copytree": (0,),
    "os.listdir": (0,),
    "os.scandir": (0,),
    "os.walk": (0,),
    "os.stat": (0,),
    "os.readlink": (0,),
    "glob.glob": (0,),
    "numpy.load": (0,),
    "numpy.loadtxt": (0,),
    "numpy.genfromtxt": (0,),
    "numpy.fromfile": (0,),
}
FILE_DELETES = {
    "os.remove": (0,),
    "os.unlink": (0,),
    "os.rmdir": (0,),
    "os.removedirs": (0,),
    "shutil.rmtree": (0,),
}
# Methods that write a file named by their first argument, whatever the object (DataFrame, figure,
# workbook, image, array): flagged `file.write` when called with a path argument.
WRITER_METHODS = frozenset(
    {
        "to_csv", "to_excel", "to_json", "to_parquet", "to_feather", "to_hdf", "to_pickle", "to_html",
        "to_latex", "to_markdown", "to_stata", "to_xml", "to_orc", "to_netcdf", "to_zarr", "to_sql",
        "savefig", "imsave", "imwrite", "tofile", "save", "savez", "savetxt", "write_text",
        "write_bytes", "write_image", "write_html",
    }
)
PATH_KEYWORDS = ("path", "path_or_buf", "excel_writer", "fname", "file", "filename", "filepath", "dst", "buf")
# pathlib methods: what each does to the file.
PATH_WRITE_METHODS = frozenset(
    {"write_text", "write_bytes", "touch", "mkdir", "symlink_to", "hardlink_to", "rename", "replace", "chmod", "lchmod"}
)
PATH_DELETE_METHODS = frozenset({"unlink", "rmdir"})
PATH_READ_METHODS = frozenset({"read_text", "read_bytes", "iterdir", "glob", "rglob", "stat", "readlink"})
PATH_RETURNING_METHODS = frozenset(
    {"with_suffix", "with_name", "with_stem", "resolve", "absolute", "expanduser", "relative_to", "readlink"}
)
# Call names whose first argument may be a URL that is fetched.
FETCHER_NAME = re.compile(r"^(read_\w+|load\w*|open|urlopen|urlretrieve|get|post|put|patch|delete|head|request|fetch\w*|download\w*|retrieve|from_url|imread|genfromtxt|loadtxt)$")
URL = re.compile(r"^(https?|ftps?|wss?)://", re.IGNORECASE)
OS_WRITE_FLAGS = frozenset({"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC", "O_TMPFILE"})
# os.O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND on Linux.
OS_WRITE_BITS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000
# Attributes that reach interpreter internals: the usual first step of a sandbox-escape walk.
INTROSPECTION_ATTRIBUTES = frozenset(
    {
        "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__mro__", "__bases__",
        "__base__", "f_globals", "f_locals", "f_builtins", "f_back", "gi_frame", "gi_code", "cr_frame",
        "ag_frame", "tb_frame",
    }
)
DANGEROUS_BUILTINS = frozenset({"eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "globals", "vars"})
SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"})

MESSAGES = {
    "dynamic.eval": "`{symbol}` evaluates a string as Python: what runs is not visible to this analysis",
    "dynamic.exec": "`{symbol}` runs a string as Python: what runs is not visible to this analysis",
    "dynamic.compile": "`{symbol}` compiles a string to code that can be run later, unseen by this analysis",
    "dynamic.import": "`{call}` imports a module chosen at run time{target}",
    "dynamic.getattr": "{detail}",
    "dynamic.introspection": "`{symbol}` reaches interpreter internals (frames, globals, subclasses): the usual first step of a sandbox-escape walk",
    "process.subprocess": "`{symbol}` starts another program",
    "process.system": "`{symbol}` runs a shell command",
    "process.exec": "`{symbol}` replaces or spawns a process running another program",
    "process.fork": "`{symbol}` starts new processes",
    "process.pty": "`{symbol}` opens a pseudo-terminal",
    "process.signal": "`{symbol}` sends a signal to a process",
    "process.import": "imports `{symbol}`, a module that starts processes (each call is flagged on its own)",
    "network.socket": "`{symbol}` opens a network socket or resolves a host name",
    "network.http": "`{symbol}` talks to a server over the network{target}",
    "network.import": "imports `{symbol}`, a network module (each call is flagged on its own)",
    "native.ctypes": "`{symbol}` loads or calls native code through ctypes, outside Python's checks",
    "native.cffi": "`{symbol}` loads or calls native code through cffi, outside Python's checks",
    "native.import": "imports `{symbol}`, which calls native code (each call is flagged on its own)",
    "file.write": "`{symbol}` writes {where}",
    "file.write_outside": "`{symbol}` writes {where}, outside the workspace and /tmp",
    "file.read_outside": "`{symbol}` reads {where}, outside the workspace and /tmp",
    "file.delete": "`{symbol}` deletes {where}",
    "serialization.pickle": "`{symbol}` unpickles data, which runs code chosen by whoever wrote the data",
    "serialization.pickle_dump": "`{symbol}` pickles data (loading it back later runs code)",
    "serialization.marshal": "`{symbol}` loads marshalled code objects",
    "serialization.yaml": "`{symbol}` loads YAML with a loader that can build arbitrary Python objects",
    "syntax.incomplete": "{detail}",
}


def canonical(name):
    if name.startswith("builtins."):
        name = name[len("builtins."):]
    for old, new in CANONICAL_PREFIXES:
        if name.startswith(old):
            return new + name[len(old):]
    return name


def call_rule(name):
    """The rule of calling `name` (canonical), or None."""
    rule = CALLS.get(name)
    if rule:
        return rule
    best = None
    for prefix, candidate in CALL_PREFIXES:
        if name.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, candidate)
    return best[1] if best else None


def known_name(name):
    """True when `name` (canonical) is something the catalog knows: a rule's call, or a prefix of one."""
    if call_rule(name) or name in FILE_WRITES or name in FILE_DELETES or name in FILE_READS:
        return True
    if name in OPEN_FUNCTIONS or name in PATH_TYPES:
        return True
    dotted = name + "."
    return any(key.startswith(dotted) for key in CALLS) or any(p.startswith(dotted) for p, _ in CALL_PREFIXES)


def import_rule(module):
    for prefix, rule in IMPORTS:
        if module == prefix or module.startswith(prefix + "."):
            return rule
    return None


def is_writable_place(path):
    """True for a path inside the workspace or a scratch dir (relative paths are the workspace's)."""
    if path.startswith("~"):
        return False
    full = posixpath.normpath(posixpath.join(WORKSPACE, path))
    return any(full == place or full.startswith(place + "/") for place in WRITABLE_DIRS)


def is_outside(path, prefix):
    """True when a literal path (or the literal start of a computed one) is surely outside."""
    if path is not None:
        return not is_writable_place(path)
    if prefix is None or not prefix.startswith(("/", "~")):
        return False
    if prefix.startswith("~"):
        return True
    directory = prefix[: prefix.rfind("/") + 1]
    return directory != "/" and not is_writable_place(directory)


def short(text, limit=MAX_SYMBOL_CHARS):
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- references: what an expression is, as far as a static walk can tell -------------------------


class Ref:
    """A resolved expression: `name` (a dotted name; `module` when it is a module object),
    `path` (a pathlib path; `path` its literal value or None) or `namespace` (the dict of a module's
    names: `vars(m)`, `m.__dict__`, `globals()`)."""

    __slots__ = ("kind", "name", "module", "path")

    def __init__(self, kind, name=None, module=False, path=None):
        self.kind = kind
        self.name = name
        self.module = module
        self.path = path


LOCAL = Ref("local")


def literal_string(node):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return node.value
        if isinstance(node.value, bytes):
            return node.value.decode("latin-1")
    return None


class Analyzer(ast.NodeVisitor):
    def __init__(self, code):
        self.lines = code.splitlines()
        self.scopes = [{}]
        self.globals_declared = [set()]
        self.star_modules = []
        self.imported_modules = set()
        self.imports = []
        self.findings = []
        self.notes = []
        self.findings_capped = False
        self.imports_capped = False
        self.dynamic_imports = {}

    # ---- output -------------------------------------------------------------------------------

    def column(self, node):
        """1-based column in characters (ast gives UTF-8 byte offsets)."""
        offset = getattr(node, "col_offset", 0) or 0
        line = getattr(node, "lineno", 1) or 1
        if 0 < line <= len(self.lines):
            text = self.lines[line - 1]
            try:
                return len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore")) + 1
            except Exception:
                return offset + 1
        return offset + 1

    def add(self, rule, node, symbol=None, path=None, **fields):
        if len(self.findings) >= MAX_FINDINGS:
            self.findings_capped = True
            return
        symbol = short(symbol) if symbol else None
        path = short(path, MAX_PATH_CHARS) if path is not None else None
        values = {"symbol": symbol or "?", "call": symbol or "?", "target": "", "where": "a file", "detail": ""}
        values.update(fields)
        self.findings.append(
            {
                "ruleId": rule,
                "line": getattr(node, "lineno", 1) or 1,
                "column": self.column(node),
                "symbol": symbol,
                "path": path,
                "message": MESSAGES[rule].format(**values),
            }
        )

    def record_import(self, module, alias, node, imported=None, dynamic=False):
        if len(self.imports) >= MAX_IMPORTS:
            self.imports_capped = True
            return None
        parts = module.split(".")
        for index in range(1, len(parts) + 1):
            self.imported_modules.add(".".join(parts[:index]))
        entry = {"module": module, "alias": alias, "line": getattr(node, "lineno", 1) or 1, "column": self.column(node)}
        if imported:
            entry["imported"] = imported
        if dynamic:
            entry["dynamic"] = True
        self.imports.append(entry)
        return entry

    # ---- scopes -------------------------------------------------------------------------------

    def bind(self, name, ref):
        scope = 0 if name in self.globals_declared[-1] else -1
        self.scopes[scope][name] = ref if ref is not None else LOCAL

    def lookup(self, name):
        for scope in reversed(self.scopes):
            if name in scope:
                found = scope[name]
                return None if found is LOCAL else found
        if name == "__builtins__":
            return Ref("name", "builtins", module=True)
        if name in BUILTIN_NAMES:
            return Ref("name", name)
        for module in reversed(self.star_modules):
            candidate = module + "." + name
            if known_name(canonical(candidate)):
                return Ref("name", candidate)
        return None

    def push_scope(self):
        self.scopes.append({})
        self.globals_declared.append(set())

    def pop_scope(self):
        self.scopes.pop()
        self.globals_declared.pop()

    # ---- resolution ---------------------------------------------------------------------------

    def resolve(self, node):
        """What `node` evaluates to, as a Ref, or None when a static walk cannot tell."""
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if base is None:
                return None
            if node.attr == "__builtins__":
                return Ref("name", "builtins", module=True)
            if base.kind == "name":
                if node.attr == "__dict__" and (base.module or canonical(base.name) == "builtins"):
                    return Ref("namespace", base.name)
                name = base.name + "." + node.attr
                return Ref("name", name, module=name in self.imported_modules)
            if base.kind == "path" and node.attr == "parent":
                return Ref("path")
            return None
        if isinstance(node, ast.Subscript):
            return self.resolve_subscript(node)[0]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left = self.resolve(node.left)
            if left is not None and left.kind == "path":
                right = self.static_path(node.right)[0]
                joined = posixpath.join(left.path, right) if left.path is not None and right is not None else None
                return Ref("path", path=joined)
            return None
        if isinstance(node, ast.Call):
            return self.resolve_call(node)
        return None

    def resolve_subscript(self, node):
        """`(ref, finding)` of `x[key]`: `finding` is `(symbol, detail)` for a namespace lookup."""
        base = self.resolve(node.value)
        if base is None:
            return None, None
        key = literal_string(node.slice)
        if base.kind == "name" and canonical(base.name) == "builtins":
            if key is None:
                return None, (None, "looks up a builtin by a name computed at run time")
            return Ref("name", "builtins." + key), ("builtins." + key, "looks up the builtin `%s` by name" % key)
        if base.kind == "name" and canonical(base.name) == "sys.modules" and key:
            return Ref("name", key, module=True), None
        if base.kind == "namespace":
            if base.name == "__main__":
                if key is None:
                    return None, (None, "looks up a global by a name computed at run time")
                if key == "__builtins__":
                    return Ref("name", "builtins", module=True), ("builtins", "reaches `__builtins__` through the globals")
                found = self.lookup(key)
                if key.startswith("__") or key in DANGEROUS_BUILTINS:
                    return found, (found.name if found and found.kind == "name" else key, "looks up `%s` in the globals by name" % key)
                return found, None
            if key is None:
                return None, (None, "looks up a name of `%s` computed at run time" % base.name)
            name = base.name + "." + key
            return Ref("name", name), (name, "looks up `%s` in the namespace of `%s`" % (key, base.name))
        return None, None

    def resolve_call(self, node):
        if isinstance(node.func, ast.Attribute):
            receiver = self.resolve(node.func.value)
            if receiver is not None and receiver.kind == "path":
                if node.func.attr == "joinpath":
                    parts = [self.static_path(arg)[0] for arg in node.args]
                    if receiver.path is not None and all(part is not None for part in parts):
                        return Ref("path", path=posixpath.join(receiver.path, *parts))
                    return Ref("path")
                if node.func.attr in PATH_RETURNING_METHODS:
                    return Ref("path")
                return None
        callee = self.resolve(node.func)
        if callee is None:
            return None
        if callee.kind == "path":
            return None
        if callee.kind != "name":
            return None
        name = canonical(callee.name)
        first = node.args[0] if node.args else None
        if name == "__import__":
            module = literal_string(first) if first is not None else None
            if not module:
                return None
            has_fromlist = len(node.args) >= 4 or any(k.arg == "fromlist" for k in node.keywords)
            return Ref("name", module if has_fromlist else module.split(".")[0], module=True)
        if name in ("importlib.import_module", "importlib.__import__"):
            module = literal_string(first) if first is not None else None
            return Ref("name", module, module=True) if module and not module.startswith(".") else None
        if name == "getattr" and len(node.args) >= 2:
            target = self.resolve(node.args[0])
            attribute = literal_string(node.args[1])
            if target is not None and target.kind == "name" and attribute:
                if attribute == "__builtins__":
                    return Ref("name", "builtins", module=True)
                if attribute == "__dict__":
                    return Ref("namespace", target.name)
                joined = target.name + "." + attribute
                return Ref("name", joined, module=joined in self.imported_modules)
            return None
        if name in ("globals", "locals") or (name == "vars" and not node.args):
            return Ref("namespace", "__main__")
        if name == "vars" and first is not None:
            target = self.resolve(first)
            if target is not None and target.kind == "name" and (target.module or canonical(target.name) == "builtins"):
                return Ref("namespace", target.name)
            return None
        if name == "sys.modules.get" and first is not None and literal_string(first):
            return Ref("name", literal_string(first), module=True)
        if name in PATH_TYPES:
            parts = [self.static_path(arg)[0] for arg in node.args]
            path = posixpath.join(*parts) if parts and all(part is not None for part in parts) else None
            return Ref("path", path=path if node.args else ".")
        if name in ("pathlib.Path.home", "pathlib.Path.cwd"):
            return Ref("path", path="~" if name.endswith("home") else ".")
        return None

    def static_path(self, node):
        """`(path, prefix)`: the literal path an argument names, or the literal start of an
        f-string / concatenation (for outside-the-workspace checks), or `(None, None)`."""
        text = literal_string(node)
        if text is not None:
            return text, text
        if isinstance(node, ast.JoinedStr) and node.values:
            head = literal_string(node.values[0])
            return None, head
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, left_prefix = self.static_path(node.left)
            right = self.static_path(node.right)[0]
            if left is not None and right is not None:
                return left + right, left + right
            return None, left_prefix
        ref = self.resolve(node) if isinstance(node, (ast.Call, ast.Name, ast.BinOp, ast.Attribute)) else None
        if ref is not None and ref.kind == "path":
            return ref.path, ref.path
        if isinstance(node, ast.Call):
            callee = self.resolve(node.func)
            if callee is not None and callee.kind == "name" and canonical(callee.name) in ("os.path.join", "posixpath.join"):
                parts = [self.static_path(arg)[0] for arg in node.args]
                if parts and all(part is not None for part in parts):
                    joined = posixpath.join(*parts)
                    return joined, joined
                head = self.static_path(node.args[0])[1] if node.args else None
                return None, head
        return None, None

    # ---- visiting -----------------------------------------------------------------------------

    def visit_Import(self, node):
        rules = {}
        for alias in node.names:
            if alias.asname:
                self.bind(alias.asname, Ref("name", alias.name, module=True))
                bound = alias.asname
            else:
                top = alias.name.split(".")[0]
                self.bind(top, Ref("name", top, module=True))
                bound = top
            self.record_import(alias.name, bound, node)
            rule = import_rule(alias.name)
            if rule:
                rules.setdefault(rule, alias.name)
        for rule, module in rules.items():
            self.add(rule, node, module)

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            for alias in node.names:
                if alias.name != "*":
                    self.bind(alias.asname or alias.name, LOCAL)
            return
        rules = {}
        module_rule = import_rule(node.module)
        if module_rule:
            rules[module_rule] = node.module
        for alias in node.names:
            if alias.name == "*":
                self.star_modules.append(node.module)
                self.record_import(node.module, None, node)
                continue
            qualified = node.module + "." + alias.name
            bound = alias.asname or alias.name
            self.bind(bound, Ref("name", qualified))
            self.record_import(node.module, bound, node, imported=qualified)
            rule = import_rule(qualified)
            if rule:
                rules.setdefault(rule, qualified)
        if not any(alias.name != "*" for alias in node.names):
            self.imported_modules.add(node.module)
        for rule, module in rules.items():
            self.add(rule, node, module)

    def visit_Global(self, node):
        self.globals_declared[-1].update(node.names)

    def visit_Nonlocal(self, node):
        pass

    def assign(self, target, value_node, value_ref):
        if isinstance(target, ast.Name):
            self.bind(target.id, value_ref)
            entry = self.dynamic_imports.get(id(value_node)) if value_node is not None else None
            if entry is not None and entry.get("alias") is None:
                entry["alias"] = target.id
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value_node.elts if isinstance(value_node, (ast.Tuple, ast.List)) else None
            if values is not None and len(values) == len(target.elts) and not any(
                isinstance(e, ast.Starred) for e in target.elts
            ):
                for element, element_value in zip(target.elts, values):
                    self.assign(element, element_value, self.resolve(element_value))
            else:
                for element in target.elts:
                    self.assign(element, None, None)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, None, None)
        else:
            self.visit(target)

    def visit_Assign(self, node):
        self.visit(node.value)
        ref = self.resolve(node.value)
        for target in node.targets:
            self.assign(target, node.value, ref)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)
            self.assign(node.target, node.value, self.resolve(node.value))
        elif not isinstance(node.target, ast.Name):
            self.visit(node.target)

    def visit_NamedExpr(self, node):
        self.visit(node.value)
        self.assign(node.target, node.value, self.resolve(node.value))

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.bind(node.id, None)

    def visit_alias(self, node):
        pass

    def _function(self, node):
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)
        if getattr(node, "returns", None) is not None:
            self.visit(node.returns)
        self.bind(node.name, None)
        self.push_scope()
        try:
            arguments = node.args
            for argument in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
                self.bind(argument.arg, None)
            for argument in (arguments.vararg, arguments.kwarg):
                if argument is not None:
                    self.bind(argument.arg, None)
            for statement in node.body:
                self.visit(statement)
        finally:
            self.pop_scope()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_arguments(self, node):
        for default in node.defaults + [d for d in node.kw_defaults if d is not None]:
            self.visit(default)

    def visit_Lambda(self, node):
        self.visit(node.args)
        self.push_scope()
        try:
            arguments = node.args
            for argument in arguments.posonlyargs + arguments.args + arguments.kwonlyargs:
                self.bind(argument.arg, None)
            for argument in (arguments.vararg, arguments.kwarg):
                if argument is not None:
                    self.bind(argument.arg, None)
            self.visit(node.body)
        finally:
            self.pop_scope()

    def visit_ClassDef(self, node):
        for child in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(child)
        self.bind(node.name, None)
        self.push_scope()
        try:
            for statement in node.body:
                self.visit(statement)
        finally:
            self.pop_scope()

    def _comprehension(self, node):
        self.push_scope()
        try:
            for generator in node.generators:
                self.visit(generator.iter)
                self.assign(generator.target, None, None)
                for condition in generator.ifs:
                    self.visit(condition)
            for field in ("key", "value", "elt"):
                child = getattr(node, field, None)
                if child is not None:
                    self.visit(child)
        finally:
            self.pop_scope()

    visit_ListComp = _comprehension
    visit_SetComp = _comprehension
    visit_GeneratorExp = _comprehension
    visit_DictComp = _comprehension

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr in INTROSPECTION_ATTRIBUTES:
            base = self.resolve(node.value)
            symbol = (base.name + "." + node.attr) if base is not None and base.kind == "name" else node.attr
            self.add("dynamic.introspection", node, symbol)

    def visit_Subscript(self, node):
        self.generic_visit(node)
        found = self.resolve_subscript(node)[1]
        if found is not None:
            symbol, detail = found
            self.add("dynamic.getattr", node, symbol, detail="`%s` %s" % (self.source(node), detail))

    def visit_Call(self, node):
        self.generic_visit(node)
        self.check_call(node)

    def source(self, node, limit=80):
        try:
            text = ast.unparse(node)
        except Exception:
            text = type(node).__name__
        return short(" ".join(text.split()), limit)

    # ---- calls --------------------------------------------------------------------------------

    def check_call(self, node):
        callee = self.resolve(node.func)
        if callee is not None and callee.kind == "path":
            return
        symbol = callee.name if callee is not None and callee.kind == "name" else None
        name = canonical(symbol) if symbol else None
        emitted = set()

        def add(rule, sym=symbol, path=None, **fields):
            emitted.add(rule)
            self.add(rule, node, sym, path, **fields)

        if name == "__import__" or name in ("importlib.import_module", "importlib.__import__"):
            module = literal_string(node.args[0]) if node.args else None
            if module and not module.startswith("."):
                add("dynamic.import", module, call=symbol, target=": `%s`" % module)
                entry = self.record_import(module, None, node, dynamic=True)
                if entry is not None:
                    self.dynamic_imports[id(node)] = entry
                rule = import_rule(module)
                if rule:
                    add(rule, module)
            else:
                add("dynamic.import", None, call=symbol, target=" (the name is computed)")
            return
        if name in ("getattr", "setattr", "delattr", "hasattr"):
            self.check_getattr(node, symbol, name != "hasattr")
            return
        if name is not None:
            rule = call_rule(name)
            if rule:
                target = ""
                if rule == "network.http" and node.args and literal_string(node.args[0]):
                    text = literal_string(node.args[0])
                    if URL.match(text):
                        target = ": %s" % short(text, 200)
                add(rule, target=target)
            if name == "numpy.load" and any(
                k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value is True for k in node.keywords
            ):
                add("serialization.pickle")
            if name in ("yaml.load", "yaml.load_all"):
                loader = next((k.value for k in node.keywords if k.arg == "Loader"), node.args[1] if len(node.args) > 1 else None)
                loader_ref = self.resolve(loader) if loader is not None else None
                loader_name = loader_ref.name.rsplit(".", 1)[-1] if loader_ref is not None and loader_ref.kind == "name" else None
                if loader_name not in SAFE_YAML_LOADERS:
                    add("serialization.yaml")
            if name in OPEN_FUNCTIONS:
                self.check_open(node, symbol, add)
            elif name == "os.open":
                self.check_os_open(node, symbol, add)
            self.check_paths(node, name, symbol, add)
        if isinstance(node.func, ast.Attribute) and (callee is None or name not in CALLS):
            self.check_method(node, symbol, add, emitted)
        if not any(rule.startswith("network.") for rule in emitted):
            self.check_url(node, name, add)

    def argument(self, node, position, keywords=()):
        if len(node.args) > position and not isinstance(node.args[position], ast.Starred):
            return node.args[position]
        for keyword in node.keywords:
            if keyword.arg in keywords:
                return keyword.value
        return None

    def where(self, path, prefix):
        if path is not None:
            return "`%s`" % short(path, 200)
        if prefix:
            return "a path starting `%s`" % short(prefix, 200)
        return "a file"

    def file_effect(self, node, rule, symbol, path_node, add):
        """`file.write` / `file.delete` / `file.read_outside` (`rule` `file.read`) for one path argument."""
        path, prefix = self.static_path(path_node) if path_node is not None else (None, None)
        outside = is_outside(path, prefix)
        where = self.where(path, prefix)
        if rule == "file.read":
            if outside:
                add("file.read_outside", symbol, path, where=where)
            return
        if rule == "file.write" and outside:
            add("file.write_outside", symbol, path, where=where)
            return
        add(rule, symbol, path, where=where + (", outside the workspace and /tmp" if outside else ""))

    def check_open(self, node, symbol, add):
        path_node = self.argument(node, 0, ("file", "filename", "name"))
        mode_node = self.argument(node, 1, ("mode",))
        if mode_node is None:
            self.file_effect(node, "file.read", symbol, path_node, add)
            return
        mode = literal_string(mode_node)
        if mode is None or any(flag in mode for flag in "wax+"):
            self.file_effect(node, "file.write", symbol, path_node, add)
        else:
            self.file_effect(node, "file.read", symbol, path_node, add)

    def check_os_open(self, node, symbol, add):
        path_node = self.argument(node, 0, ("path",))
        flags = self.argument(node, 1, ("flags",))
        writes = True
        if flags is not None:
            names = {n.attr for n in ast.walk(flags) if isinstance(n, ast.Attribute)} | {
                n.id for n in ast.walk(flags) if isinstance(n, ast.Name)
            }
            numbers = [n.value for n in ast.walk(flags) if isinstance(n, ast.Constant) and isinstance(n.value, int)]
            if names & OS_WRITE_FLAGS or any(value & OS_WRITE_BITS for value in numbers):
                writes = True
            elif names and all(n.startswith("O_") for n in names if n != "os"):
                writes = False
            elif numbers and not names:
                writes = False
        self.file_effect(node, "file.write" if writes else "file.read", symbol, path_node, add)

    def check_paths(self, node, name, symbol, add):
        tables = ((FILE_WRITES, "file.write"), (FILE_DELETES, "file.delete"), (FILE_READS, "file.read"))
        for table, rule in tables:
            positions = table.get(name)
            if positions is None and rule == "file.read" and name.startswith("pandas.read_"):
                positions = (0,)
            if positions is None:
                continue
            arguments = [
                self.argument(node, position, ("dst",) if position else ("src", "path", "name", "top", "filepath_or_buffer"))
                for position in positions
            ]
            # One finding per call: the argument outside the workspace when there is one.
            chosen = arguments[-1] if arguments else None
            for argument in arguments:
                if argument is not None and is_outside(*self.static_path(argument)):
                    chosen = argument
                    break
            self.file_effect(node, rule, symbol, chosen, add)

    def check_method(self, node, symbol, add, emitted):
        method = node.func.attr
        receiver = self.resolve(node.func.value)
        if receiver is not None and receiver.kind == "path":
            path_node = node.func.value
            display = "Path.%s" % method
            if method in PATH_WRITE_METHODS:
                self.file_effect(node, "file.write", display, path_node, add)
            elif method in PATH_DELETE_METHODS:
                self.file_effect(node, "file.delete", display, path_node, add)
            elif method in PATH_READ_METHODS:
                self.file_effect(node, "file.read", display, path_node, add)
            elif method == "open":
                mode = literal_string(self.argument(node, 0, ("mode",))) if self.argument(node, 0, ("mode",)) is not None else "r"
                writes = mode is None or any(flag in mode for flag in "wax+")
                self.file_effect(node, "file.write" if writes else "file.read", display, path_node, add)
            return
        if "file.write" in emitted or "file.write_outside" in emitted or "file.delete" in emitted:
            return
        display = symbol or "%s.%s" % (self.source(node.func.value, 60), method)
        if receiver is None and method in ("unlink", "rmdir") and not node.args:
            self.file_effect(node, "file.delete", display, None, add)
            return
        if method in WRITER_METHODS:
            path_node = self.argument(node, 0, PATH_KEYWORDS)
            if path_node is None or method == "to_sql":
                return
            if method in ("write_text", "write_bytes"):
                self.file_effect(node, "file.write", display, None, add)
                return
            self.file_effect(node, "file.write", display, path_node, add)
            if method == "to_pickle":
                add("serialization.pickle_dump", display)

    def check_url(self, node, name, add):
        first = self.argument(node, 0, ("url", "uri", "filepath_or_buffer", "io", "fname", "path", "source"))
        text = literal_string(first) if first is not None else None
        if not text or not URL.match(text):
            return
        if name:
            called = name.rsplit(".", 1)[-1]
        elif isinstance(node.func, ast.Attribute):
            called = node.func.attr
        elif isinstance(node.func, ast.Name):
            called = node.func.id
        else:
            return
        if FETCHER_NAME.match(called):
            symbol = name or self.source(node.func, 80)
            add("network.http", symbol, target=": %s" % short(text, 200))

    def check_getattr(self, node, symbol, lookup=True):
        if not node.args:
            return
        target = self.resolve(node.args[0])
        attribute = literal_string(node.args[1]) if len(node.args) > 1 else None
        if attribute in INTROSPECTION_ATTRIBUTES:
            base = target.name if target is not None and target.kind == "name" else None
            self.add("dynamic.introspection", node, (base + "." + attribute) if base else attribute)
        if not lookup or target is None or target.kind not in ("name", "namespace"):
            return
        if target.kind == "name" and not (target.module or canonical(target.name) == "builtins"):
            return
        function = canonical(symbol or "getattr")
        if attribute is None:
            detail = "`%s` looks up an attribute of `%s` by a name computed at run time" % (function, target.name)
            self.add("dynamic.getattr", node, None, detail=detail)
        else:
            detail = "`%s` looks up `%s` of `%s` by name" % (function, attribute, target.name)
            self.add("dynamic.getattr", node, target.name + "." + attribute, detail=detail)


def analyze_tree(code, tree, classifier):
    """Raw findings, imports and notes of an already parsed cell (shared with validation.py)."""
    analyzer = Analyzer(code)
    for statement in tree.body:
        try:
            analyzer.visit(statement)
        except RecursionError:
            # Partial result: this statement is unchecked past the depth reached; the next ones are.
            if not analyzer.notes:
                analyzer.notes.append("the code nests too deeply for the analysis in places: those statements are only partly checked")
            analyzer.add(
                "syntax.incomplete",
                statement,
                detail="this statement nests too deeply to be analysed completely: what the analysis did not reach is unchecked",
            )
    if analyzer.findings_capped:
        analyzer.notes.append("findings capped at %d: the code has more" % MAX_FINDINGS)
    if analyzer.imports_capped:
        analyzer.notes.append("imports capped at %d: the code has more" % MAX_IMPORTS)
    kinds = {}
    for entry in analyzer.imports:
        module = entry["module"]
        if module not in kinds:
            try:
                kinds[module] = classifier.classify(module).get("kind", "missing")
            except Exception:
                kinds[module] = "missing"
        entry["kind"] = kinds[module]
    analyzer.findings.sort(key=lambda f: (f["line"], f["column"], f["ruleId"]))
    analyzer.imports.sort(key=lambda e: (e["line"], e["column"]))
    return {"imports": analyzer.imports, "findings": analyzer.findings, "notes": analyzer.notes}


def analyze(code, aliases):
    activate()
    try:
        tree = ast.parse(code, filename="<cell>", mode="exec")
    except SyntaxError:
        return {"syntaxError": syntax_error_of(code), "imports": [], "findings": [], "notes": []}
    except (RecursionError, MemoryError):
        return {
            "syntaxError": None,
            "imports": [],
            "findings": [
                {
                    "ruleId": "syntax.incomplete",
                    "line": 1,
                    "column": 1,
                    "symbol": None,
                    "path": None,
                    "message": "the code nests too deeply for Python's parser to build its tree: nothing of it was analysed",
                }
            ],
            "notes": ["the code nests too deeply to be parsed: it was not analysed"],
        }
    result = analyze_tree(code, tree, Classifier(aliases))
    result["syntaxError"] = None
    return result


def main(args):
    return analyze(str(args.get("code", "")), args.get("aliases") or {})
