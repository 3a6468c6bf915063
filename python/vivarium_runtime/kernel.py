"""The kernel: reads requests from the host, runs cells in one persistent namespace, reports.

Requests (host -> kernel): `init`, `execute`, `variables`, `interrupt`, `input_reply`, `shutdown`.
Frames (kernel -> host): `ready`, `stream`, `display_data`, `update_display_data`, `clear_output`,
`execute_result`, `error`, `input_request`, `reply`, `variables`, `runtime_error`.
See docs/protocol.md.
"""
import builtins
import getpass
import os
import queue
import resource
import signal
import sys
import threading
import types

from . import display as display_module
from . import ipython_compat
from .cells import compile_cell, error_payload, register_source
from .formatting import collect_figures, format_object
from .protocol import Channel
from .streams import StreamPump
from .result_value import read_value
from .variables import summarize
from .workspace_watch import diff, snapshot

# The real `os._exit`, for the runtime's own exits (user code gets one that drains output first).
_hard_exit = os._exit
WORKSPACE = os.environ.get("VIVARIUM_WORKSPACE", "/workspace")
HIDDEN_NAMES = {"In", "Out", "exit", "quit", "get_ipython"}


class StdinNotImplementedError(RuntimeError):
    """input() was called but the caller supplied no input handler."""


StdinNotImplementedError.__module__ = "builtins"


class State:
    def __init__(self):
        self.execution_id = None
        self.execution_count = 0
        self.max_output_bytes = 1 << 20
        self.stream_bytes = 0
        self.stream_truncated = False
        self.in_user_code = False
        self.allow_input = False
        self.workspace = WORKSPACE


class Kernel:
    def __init__(self):
        self.channel = Channel(3, 4)
        self.state = State()
        self.requests = queue.Queue()
        self.input_replies = queue.Queue()
        self.module = types.ModuleType("__main__")
        self.namespace = self.module.__dict__
        self.namespace["__builtins__"] = builtins
        self.namespace["__name__"] = "__main__"
        self.cpu_time_limit_sec = None
        self.executions_out = {}
        self.pid = os.getpid()

    # -- setup -------------------------------------------------------------------------------
    def _apply_limits(self, limits):
        def set_limit(which, value):
            if value is None:
                return
            try:
                soft, hard = resource.getrlimit(which)
                value = int(value)
                if hard != resource.RLIM_INFINITY:
                    value = min(value, hard)
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass

        mb = 1024 * 1024
        address_space_mb = limits.get("addressSpaceMb") or limits.get("memoryLimitMb")
        if address_space_mb:
            set_limit(resource.RLIMIT_AS, address_space_mb * mb)
        if limits.get("maxFileSizeMb"):
            set_limit(resource.RLIMIT_FSIZE, limits["maxFileSizeMb"] * mb)
        if limits.get("maxOpenFiles"):
            set_limit(resource.RLIMIT_NOFILE, limits["maxOpenFiles"])
        if limits.get("maxProcesses"):
            set_limit(resource.RLIMIT_NPROC, limits["maxProcesses"])
        set_limit(resource.RLIMIT_CORE, 0)
        self.cpu_time_limit_sec = limits.get("cpuTimeLimitSec")
        if self.cpu_time_limit_sec:
            try:
                resource.setrlimit(resource.RLIMIT_CPU, (int(self.cpu_time_limit_sec) + 1, resource.RLIM_INFINITY))
            except (ValueError, OSError):
                pass

    def _install_builtins(self):
        # Notebook code calls these without importing them (IPython puts them in the namespace).
        builtins.display = display_module.display
        builtins.clear_output = display_module.clear_output
        builtins.update_display = display_module.update_display
        builtins.input = self._input
        builtins.exit = builtins.quit = _Exit()
        getpass.getpass = lambda prompt="Password: ", stream=None: self._input(prompt, password=True)
        sys.stdin = _Stdin(self)
        display_module.set_publisher(self._publish_display)
        sys.modules["__main__"] = self.module
        ipython_display = types.ModuleType("vivarium_display")
        for name in ipython_compat.DISPLAY_NAMES:
            setattr(ipython_display, name, getattr(display_module, name))
        sys.modules["vivarium_display"] = ipython_display
        ipython_compat.install()

    def _preload(self, modules):
        loaded, errors = [], []
        for name in modules:
            try:
                __import__(name)
                loaded.append(name)
            except BaseException as error:  # a preload failure is reported, never fatal
                errors.append({"module": name, "error": "%s: %s" % (type(error).__name__, error)})
        if "matplotlib.pyplot" in sys.modules:
            try:
                sys.modules["matplotlib.pyplot"].switch_backend("Agg")
            except Exception:
                pass
        return loaded, errors

    # -- channel ------------------------------------------------------------------------------
    def _reader(self):
        while True:
            try:
                message = self.channel.receive()
            except Exception as error:
                self._send({"type": "runtime_error", "message": "bad request frame: %s" % error})
                _hard_exit(70)
            if message is None:
                _hard_exit(0)
            kind = message.get("type")
            if kind == "interrupt":
                if self.state.in_user_code:
                    os.kill(os.getpid(), signal.SIGINT)
            elif kind == "input_reply":
                self.input_replies.put(message)
            else:
                self.requests.put(message)

    def _send(self, message):
        self.channel.send(message)

    def _exit_after_drain(self, code):
        """`os._exit` for user code: output already written to fd 1/2 still sits in the pump's
        pipes, and would die with the process. Forked children (multiprocessing) exit at once:
        the pipes and the channel belong to the kernel process."""
        if os.getpid() == self.pid:
            try:
                self.pump.drain()
            except BaseException:
                pass
        _hard_exit(code)

    def _on_sigint(self, _signum, _frame):
        if not self.state.in_user_code:
            return
        if self.channel.main_thread_writing:
            self.channel.interrupt_deferred = True  # raised by send() once its frame is whole
            return
        raise KeyboardInterrupt()

    # -- outputs ------------------------------------------------------------------------------
    def _publish_display(self, kind, payload):
        self.pump.drain()
        message = {"type": kind, "id": self.state.execution_id}
        message.update(payload)
        self._send(message)

    def _input(self, prompt="", password=False):
        if not self.state.allow_input:
            raise StdinNotImplementedError(
                "input() was called, but this execution has no input handler: pass the data in the code "
                "or in a workspace file, or run the cell with an input handler (onInput)"
            )
        self.pump.drain()
        self._send({"type": "input_request", "id": self.state.execution_id, "prompt": str(prompt), "password": bool(password)})
        while True:
            try:
                reply = self.input_replies.get(timeout=0.1)
            except queue.Empty:
                continue
            if reply.get("id") != self.state.execution_id:
                continue
            if reply.get("error"):
                raise EOFError(str(reply["error"]))
            return str(reply.get("value", ""))

    # -- requests -----------------------------------------------------------------------------
    def _execute(self, request):
        state = self.state
        state.execution_id = request["id"]
        state.max_output_bytes = int(request.get("maxOutputBytes") or state.max_output_bytes)
        state.stream_bytes = 0
        state.stream_truncated = False
        state.allow_input = bool(request.get("allowInput"))
        state.execution_count += 1
        count = state.execution_count
        filename = "<cell-%d>" % count
        code = request.get("code", "")
        register_source(filename, code)
        before, _ = snapshot(state.workspace)
        usage_before = _cpu_seconds()
        _reset_peak_rss()
        call_limits = request.get("limits") or {}
        cpu_limit = call_limits.get("cpuTimeLimitSec") or self.cpu_time_limit_sec
        if cpu_limit:
            try:
                resource.setrlimit(resource.RLIMIT_CPU, (int(usage_before + cpu_limit) + 1, resource.RLIM_INFINITY))
            except (ValueError, OSError):
                pass
        saved_as = None
        if call_limits.get("memoryLimitMb"):
            try:
                saved_as = resource.getrlimit(resource.RLIMIT_AS)
                wanted = int(call_limits["memoryLimitMb"]) * 1024 * 1024
                if saved_as[1] == resource.RLIM_INFINITY or wanted <= saved_as[1]:
                    resource.setrlimit(resource.RLIMIT_AS, (wanted, saved_as[1]))
            except (ValueError, OSError):
                saved_as = None
        status = "ok"
        error = None
        result = None
        has_result = False
        try:
            try:
                body, expression = compile_cell(code, filename)
            except (SyntaxError, ValueError, OverflowError) as compile_error:
                raise _CompileFailure(compile_error)
            state.in_user_code = True
            try:
                exec(body, self.namespace)
                if expression is not None:
                    result = eval(expression, self.namespace)
                    has_result = result is not None
            finally:
                state.in_user_code = False
        except _CompileFailure as failure:
            status, error = "error", error_payload(failure.error)
        except KeyboardInterrupt as interrupt:
            status, error = "interrupted", error_payload(interrupt)
        except BaseException as failure:  # SystemExit included: the kernel survives it
            status, error = "error", error_payload(failure)
        try:
            if has_result:
                self.namespace["_"] = result
                data, metadata = format_object(result)
                self.pump.drain()
                self._send({"type": "execute_result", "id": state.execution_id, "execution_count": count, "data": data, "metadata": metadata})
            for data, metadata in collect_figures():
                self._publish_display("display_data", {"data": data, "metadata": metadata})
        except BaseException as failure:
            if status == "ok":
                status, error = "error", error_payload(failure)
        if saved_as is not None:
            try:
                resource.setrlimit(resource.RLIMIT_AS, saved_as)
            except (ValueError, OSError):
                pass
        if error is not None:
            self.pump.drain()
            message = {"type": "error", "id": state.execution_id}
            message.update(error)
            self._send(message)
        self.pump.drain()
        after, files_truncated = snapshot(state.workspace)
        self._send(
            {
                "type": "reply",
                "id": state.execution_id,
                "status": status,
                "execution_count": count,
                "cpu_ms": round((_cpu_seconds() - usage_before) * 1000, 3),
                "peak_rss_bytes": _peak_rss_bytes(),
                "files": diff(before, after),
                "files_truncated": files_truncated,
                "stream_truncated": state.stream_truncated,
            }
        )
        state.allow_input = False

    def _variables(self, request):
        read = request.get("read")
        if isinstance(read, str):
            # One value as JSON instead of the listing (a task's `results`), optionally removed.
            value = read_value(self.namespace, read, int(request.get("maxBytes") or 1_000_000), bool(request.get("remove")))
            self._send({"type": "variables", "id": request.get("id"), "variables": [], "value": value})
            return
        self._send({"type": "variables", "id": request.get("id"), "variables": summarize(self.namespace, HIDDEN_NAMES)})

    def run(self):
        init = self.channel.receive()
        if not init or init.get("type") != "init":
            _hard_exit(71)
        self.pump = StreamPump(self.channel, self.state)
        os._exit = self._exit_after_drain
        self._apply_limits(init.get("limits") or {})
        os.environ.setdefault("MPLBACKEND", "Agg")
        signal.signal(signal.SIGINT, self._on_sigint)
        self._install_builtins()
        if os.path.isdir(WORKSPACE):
            os.chdir(WORKSPACE)
        else:
            self.state.workspace = os.getcwd()
        loaded, errors = self._preload(init.get("preload") or [])
        _activate_session_packages(self.state.workspace)
        # Workspace modules are importable, but last: they never shadow the stdlib or this runtime.
        sys.path.append(self.state.workspace)
        threading.Thread(target=self._reader, daemon=True, name="vv-reader").start()
        self._send(
            {
                "type": "ready",
                "pid": os.getpid(),
                "python": sys.version.split()[0],
                "preloaded": loaded,
                "preloadErrors": errors,
            }
        )
        while True:
            request = self.requests.get()
            kind = request.get("type")
            if kind == "execute":
                self._execute(request)
            elif kind == "variables":
                self._variables(request)
            elif kind == "sync":
                # Answered only from this idle loop: proves the runtime itself finished the cell.
                self._send({"type": "sync_ack", "nonce": str(request.get("nonce", ""))})
            elif kind == "shutdown":
                self.pump.drain()
                _hard_exit(0)
            else:
                self._send({"type": "runtime_error", "message": "unknown request type %r" % (kind,)})


class _CompileFailure(Exception):
    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


class _Exit:
    def __repr__(self):
        return "Use sys.exit() to raise SystemExit; the kernel keeps running."

    def __call__(self, code=None):
        raise SystemExit(code)


class _Stdin:
    def __init__(self, kernel):
        self._kernel = kernel

    def readline(self, _size=-1):
        return self._kernel._input("") + "\n"

    def read(self, _size=-1):
        return self._kernel._input("")

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("stdin has no file descriptor in a Vivarium kernel")

    # multiprocessing closes stdin in its workers; the rest is the file protocol code expects.
    closed = False

    def close(self):
        self.closed = True

    def flush(self):
        pass

    def readable(self):
        return True

    def readlines(self):
        return list(iter(self.readline, ""))

    def __iter__(self):
        return iter(self.readline, "")


def _cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_rss_bytes():
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _activate_session_packages(workspace):
    """Packages installed into this session (`.vivarium/site-packages`) import in every kernel of
    the session: placed after the stdlib, before the system's packages, once the runtime and the
    preload are loaded (so they can never replace those)."""
    path = os.path.join(workspace, ".vivarium", "site-packages")
    if not os.path.isdir(path) or path in sys.path:
        return
    at = [index for index, entry in enumerate(sys.path) if entry.endswith(("site-packages", "dist-packages"))]
    sys.path.insert(at[0] if at else len(sys.path), path)


def _join_cgroups():
    """Writes 0 (= this process) to each cgroup.procs descriptor the host passed, then closes
    them: the kernel is inside its cgroups before the preload or any user code runs."""
    spec = os.environ.pop("VIVARIUM_CGROUP_FDS", "")
    for item in filter(None, spec.split(",")):
        fd = int(item)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def main():
    _join_cgroups()
    Kernel().run()
