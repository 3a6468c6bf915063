"""Jupyter baseline for the Vivarium benchmarks: an ipykernel driven by jupyter_client.

Run with the Debian interpreter (`/usr/bin/python3`, packages python3-ipykernel and
python3-jupyter-client). Every mode prints one JSON object on stdout; times are milliseconds.

  start     --samples N [--preload mod,mod]   time start_new_kernel (which includes
            wait_for_ready), then optionally the same preload as a first cell; shutdown untimed
  roundtrip --samples N [--warmup W] [--code C] time execute_interactive(C) on one live client
  output    --sizes B,B --samples N,N         time `print('x' * (B - 1))` per size
  loop      --seconds S [--code C]            print {"ready": true}, wait for a line on stdin,
            run C back to back for S seconds, then print the count

Uses the `python3` kernelspec when jupyter_client finds it; otherwise (or with
BENCH_JUPYTER_KERNEL_CMD=1) a KernelManager whose command is
`/usr/bin/python3 -m ipykernel_launcher -f {connection_file}`.
"""
import argparse
import json
import os
import subprocess
import sys
import time

# ipykernel on 3.11 prints a pydevd warning about frozen modules at every start.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel  # noqa: E402
from jupyter_client.manager import KernelManager, start_new_kernel  # noqa: E402

KERNEL_CMD = ["/usr/bin/python3", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
STARTUP_TIMEOUT_SEC = 120


def has_python3_spec():
    try:
        KernelSpecManager().get_kernel_spec("python3")
        return True
    except NoSuchKernel:
        return False


USE_SPEC = has_python3_spec() and not os.environ.get("BENCH_JUPYTER_KERNEL_CMD")


def start_kernel(attempts=1):
    """(manager, client), ready: the same work as `start_new_kernel` either way. Kernels started
    at once by several processes can race for the same free ports and die before replying; the
    loop mode (which starts several at once) retries, the timed modes do not."""
    for attempt in range(attempts):
        try:
            return _start_kernel_once()
        except RuntimeError:
            if attempt == attempts - 1:
                raise


def _start_kernel_once():
    if USE_SPEC:
        return start_new_kernel(startup_timeout=STARTUP_TIMEOUT_SEC, kernel_name="python3", stderr=subprocess.DEVNULL)
    manager = KernelManager(kernel_cmd=KERNEL_CMD)
    manager.start_kernel(stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=STARTUP_TIMEOUT_SEC)
    except RuntimeError:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        raise
    return manager, client


def stop_kernel(manager, client):
    client.stop_channels()
    manager.shutdown_kernel(now=True)


class Collector:
    """An output hook that keeps the size of the stream text and any error."""

    def __init__(self):
        self.stream_chars = 0
        self.error = None

    def __call__(self, message):
        kind = message["header"]["msg_type"]
        if kind == "stream":
            self.stream_chars += len(message["content"]["text"])
        elif kind == "error":
            self.error = "%s: %s" % (message["content"]["ename"], message["content"]["evalue"])


def execute(client, code):
    """Milliseconds of one `execute_interactive`, with its reply checked."""
    hook = Collector()
    started = time.perf_counter()
    reply = client.execute_interactive(code, output_hook=hook, timeout=120, store_history=False)
    elapsed = (time.perf_counter() - started) * 1000
    if reply["content"]["status"] != "ok" or hook.error:
        raise RuntimeError("cell failed: %r %s" % (code, hook.error or reply["content"]))
    return elapsed, hook


def mode_start(args):
    preload = [name for name in (args.preload or "").split(",") if name]
    start_ms, preload_ms = [], []
    for _ in range(args.samples):
        started = time.perf_counter()
        manager, client = start_kernel()
        start_ms.append((time.perf_counter() - started) * 1000)
        try:
            if preload:
                elapsed, _hook = execute(client, "import " + ", ".join(preload))
                preload_ms.append(elapsed)
        finally:
            stop_kernel(manager, client)
    return {"startMs": start_ms, "preloadMs": preload_ms, "kernelspec": USE_SPEC}


def mode_roundtrip(args):
    manager, client = start_kernel()
    try:
        for _ in range(args.warmup):
            execute(client, args.code)
        samples = [execute(client, args.code)[0] for _ in range(args.samples)]
    finally:
        stop_kernel(manager, client)
    return {"samplesMs": samples, "kernelspec": USE_SPEC}


def mode_output(args):
    sizes = [int(item) for item in args.sizes.split(",")]
    counts = [int(item) for item in args.samples_list.split(",")]
    manager, client = start_kernel()
    results = {}
    try:
        execute(client, "pass")
        for size, count in zip(sizes, counts):
            code = "print('x' * %d)" % (size - 1)
            execute(client, code)  # warm-up
            samples = []
            for _ in range(count):
                elapsed, hook = execute(client, code)
                if hook.stream_chars < size:
                    raise RuntimeError("lost output: %d of %d characters" % (hook.stream_chars, size))
                samples.append(elapsed)
            results[str(size)] = samples
    finally:
        stop_kernel(manager, client)
    return {"samplesMs": results, "kernelspec": USE_SPEC}


def mode_loop(args):
    manager, client = start_kernel(attempts=3)
    try:
        execute(client, args.code)
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()
        count = 0
        deadline = time.perf_counter() + args.seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            execute(client, args.code)
            count += 1
        elapsed = time.perf_counter() - started
    finally:
        stop_kernel(manager, client)
    return {"count": count, "elapsedMs": elapsed * 1000, "kernelspec": USE_SPEC}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["start", "roundtrip", "output", "loop"])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--samples-list", default="10")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--code", default="1+1")
    parser.add_argument("--preload", default="")
    parser.add_argument("--sizes", default="1024")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    result = {"start": mode_start, "roundtrip": mode_roundtrip, "output": mode_output, "loop": mode_loop}[args.mode](args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
