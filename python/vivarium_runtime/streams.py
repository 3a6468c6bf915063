"""Capture of fd 1 and 2: everything written there (Python, C code, child processes) is pumped
as `stream` frames while the cell runs, capped per execution."""
import codecs
import fcntl
import io
import os
import select
import sys
import threading


# Pipe capacity and read size of the fd 1/2 pump.
PIPE_BYTES = 1024 * 1024


class StreamPump:
    """Replaces fd 1/2 with pipes whose read ends are pumped into the channel by threads.

    `drain()` empties both pipes synchronously, so output written before a display or the end of
    a cell is sent before it: ordering across stream and rich outputs is kept.
    """

    def __init__(self, channel, state):
        self._channel = channel
        self._state = state
        self._pipes = {}
        for name, fd in (("stdout", 1), ("stderr", 2)):
            read_fd, write_fd = os.pipe()
            try:
                # A larger pipe lets a flood of output go out in fewer, bigger frames.
                fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except (OSError, AttributeError):
                pass
            os.set_blocking(read_fd, False)
            os.dup2(write_fd, fd)
            os.close(write_fd)
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            self._pipes[name] = (read_fd, threading.Lock(), decoder)
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        # Line-buffered like CPython's own stderr (3.9+): one print() is one write, so a line is
        # never split around output of the other stream. Partial lines go out at the next
        # newline, flush(), rich output or the end of the cell (drain()).
        sys.stderr = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        sys.__stdout__ = sys.stdout
        sys.__stderr__ = sys.stderr
        for name in self._pipes:
            thread = threading.Thread(target=self._pump, args=(name,), daemon=True, name="vv-" + name)
            thread.start()

    def _read_available(self, name):
        """Emits what the pipe holds now. Returns False at end of file: every write end is closed."""
        read_fd, _lock, decoder = self._pipes[name]
        while True:
            try:
                data = os.read(read_fd, PIPE_BYTES)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self._emit(name, decoder.decode(data), len(data))

    def _pump(self, name):
        read_fd, lock, _decoder = self._pipes[name]
        while True:
            try:
                select.select([read_fd], [], [])
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return
            with lock:
                open_ = self._read_available(name)
            # User code closed or replaced fd 1/2 (and no child holds it): no write end is left,
            # and a pipe at EOF stays readable forever, so selecting on it again would spin a CPU.
            if not open_:
                return

    def drain(self):
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass
        for name, (_fd, lock, _decoder) in self._pipes.items():
            with lock:
                self._read_available(name)

    def _emit(self, name, text, size):
        state = self._state
        if not text:
            return
        budget = state.max_output_bytes - state.stream_bytes
        if budget <= 0:
            state.stream_truncated = True
            return
        if size > budget:
            text = text.encode("utf-8")[:budget].decode("utf-8", "ignore")
            state.stream_truncated = True
        state.stream_bytes += size
        self._channel.send({"type": "stream", "id": state.execution_id, "name": name, "text": text})
