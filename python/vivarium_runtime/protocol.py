"""Framed JSON over dedicated file descriptors: 4-byte big-endian length, then UTF-8 JSON.

The host writes requests to fd 3 and reads replies from fd 4. The runtime moves both to high,
close-on-exec descriptors at start, so user code and its child processes do not write into them
by accident (code that goes looking for them can still spoil its own report; the host detects it).
"""
import fcntl
import json
import os
import struct
import threading

MAX_INBOUND_FRAME_BYTES = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


class Channel:
    def __init__(self, in_fd, out_fd):
        self._in = fcntl.fcntl(in_fd, fcntl.F_DUPFD_CLOEXEC, 500)
        self._out = fcntl.fcntl(out_fd, fcntl.F_DUPFD_CLOEXEC, 500)
        os.close(in_fd)
        os.close(out_fd)
        self._send_lock = threading.Lock()
        # A KeyboardInterrupt raised while the main thread is in the middle of a frame would leave
        # half of it on the channel, which the host must take for a protocol violation. The
        # kernel's SIGINT handler sets `interrupt_deferred` instead, and `send` raises it once the
        # frame is complete.
        self.main_thread_writing = False
        self.interrupt_deferred = False

    def send(self, message):
        try:
            body = json.dumps(message, ensure_ascii=True, default=_json_fallback).encode("ascii")
        except (TypeError, ValueError) as error:
            body = json.dumps(
                {"type": "runtime_error", "message": "unserializable frame: %s" % error}
            ).encode("ascii")
        frame = _HEADER.pack(len(body)) + body
        main = threading.current_thread() is threading.main_thread()
        with self._send_lock:
            if main:
                self.main_thread_writing = True
            try:
                view = memoryview(frame)
                while view:
                    written = os.write(self._out, view)
                    view = view[written:]
            finally:
                if main:
                    self.main_thread_writing = False
        if main and self.interrupt_deferred:
            self.interrupt_deferred = False
            raise KeyboardInterrupt()

    def _read_exact(self, size):
        chunks = []
        remaining = size
        while remaining:
            chunk = os.read(self._in, remaining)
            if not chunk:
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def receive(self):
        """The next message, or None when the host closed the channel."""
        header = self._read_exact(4)
        if header is None:
            return None
        (size,) = _HEADER.unpack(header)
        if size > MAX_INBOUND_FRAME_BYTES:
            raise ValueError("inbound frame of %d bytes exceeds the cap" % size)
        body = self._read_exact(size)
        if body is None:
            return None
        return json.loads(body.decode("utf-8"))


def _json_fallback(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)
