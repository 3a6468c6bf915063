/**
 * Bench-only instrumentation: wraps methods of the built engine's classes (the same module
 * instances `dist/index.js` uses) and of the in-sandbox runtime (patched from inside a cell) with
 * timestamps. Nothing in `src/` or `python/` changes; every patch is undone by `restore()`.
 *
 * Host and kernel timestamps are both CLOCK_MONOTONIC (`process.hrtime` and `time.monotonic_ns`;
 * bubblewrap does not unshare the time namespace), so they can be laid on one time line.
 */
import { KernelProcess } from '../../dist/kernel/index.js';
import { KernelCgroup } from '../../dist/sandbox/index.js';
import { WorkspaceManager } from '../../dist/session/index.js';

export const nowNs = () => process.hrtime.bigint();
export const nsToMs = (ns) => Number(ns) / 1e6;

/**
 * Replaces `target[name]` with `wrap(original)`. Returns an undo function, or null when the
 * method does not exist (the engine changed; the segment is reported as n/a).
 */
export function patchMethod(target, name, wrap) {
  const original = target[name];
  if (typeof original !== 'function') return null;
  target[name] = wrap(original);
  return () => {
    target[name] = original;
  };
}

/** Collects undo functions and the names of hooks that could not be installed. */
export class Patches {
  constructor() {
    this.undo = [];
    this.missing = [];
  }
  add(label, target, name, wrap) {
    const restore = patchMethod(target, name, wrap);
    if (restore) this.undo.push(restore);
    else this.missing.push(label);
    return restore !== null;
  }
  restore() {
    for (const undo of this.undo.splice(0).reverse()) undo();
  }
}

/**
 * Host-side hooks of one execution's path through `KernelProcess`: returns
 * `{ records: Map<executionId, {...ns}>, patches }`.
 */
export function instrumentHostRoundTrip() {
  const records = new Map();
  const record = (id) => {
    let entry = records.get(id);
    if (!entry) records.set(id, (entry = {}));
    return entry;
  };
  const patches = new Patches();
  const proto = KernelProcess.prototype;
  patches.add(
    'KernelProcess.beginExecution',
    proto,
    'beginExecution',
    (original) =>
      function beginExecution(running) {
        record(running.options.executionId).begin = nowNs();
        return original.call(this, running);
      },
  );
  patches.add(
    'KernelProcess.send',
    proto,
    'send',
    (original) =>
      function send(message) {
        if (message?.type !== 'execute') return original.call(this, message);
        const entry = record(message.id);
        entry.sendStart = nowNs();
        const result = original.call(this, message);
        entry.sendEnd = nowNs();
        return result;
      },
  );
  patches.add(
    'KernelProcess.onData',
    proto,
    'onData',
    (original) =>
      function onData(chunk) {
        this.__benchChunkAt = nowNs();
        return original.call(this, chunk);
      },
  );
  patches.add(
    'KernelProcess.completeReply',
    proto,
    'completeReply',
    (original) =>
      function completeReply(running, message) {
        const entry = record(running.options.executionId);
        entry.replyChunk = this.__benchChunkAt;
        entry.replyDispatched = nowNs();
        return original.call(this, running, message);
      },
  );
  patches.add(
    'KernelProcess.finishExecution',
    proto,
    'finishExecution',
    (original) =>
      function finishExecution(running, fields) {
        const entry = record(running.options.executionId);
        entry.finish ??= nowNs();
        return original.call(this, running, fields);
      },
  );
  return { records, patches };
}

/**
 * Python run as a cell: wraps the runtime's reader, `_execute`, `snapshot`, `compile_cell`,
 * `format_object` and `Channel.send` with `time.monotonic_ns()` stamps kept per execution id in
 * `builtins.__vv_bench__`.
 */
export const KERNEL_PROFILE_SETUP = String.raw`
import builtins, sys, time
def __vv_setup():
    k = sys.modules['vivarium_runtime.kernel']
    p = sys.modules['vivarium_runtime.protocol']
    bench = {'records': {}, 'current': None, 'received': None, 'missing': []}
    builtins.__vv_bench__ = bench
    now = time.monotonic_ns
    def mark(name):
        current = bench['current']
        if current is not None and name not in current:
            current[name] = now()
    receive = p.Channel.receive
    def timed_receive(self):
        message = receive(self)
        bench['received'] = now()
        return message
    p.Channel.receive = timed_receive
    send = p.Channel.send
    def timed_send(self, message):
        kind = message.get('type') if isinstance(message, dict) else None
        if kind == 'reply':
            mark('replySendStart')
        result = send(self, message)
        if kind == 'reply':
            mark('replySendEnd')
        return result
    p.Channel.send = timed_send
    execute = k.Kernel._execute
    def timed_execute(self, request):
        bench['current'] = {'received': bench['received'], 'enter': now()}
        try:
            return execute(self, request)
        finally:
            bench['records'][request.get('id')] = bench['current']
            bench['current'] = None
    k.Kernel._execute = timed_execute
    for name, before in (('compile_cell', 'cellStart'), ('format_object', 'cellEnd')):
        original = getattr(k, name, None)
        if original is None:
            bench['missing'].append(name)
            continue
        def wrapper(*args, __original=original, __before=before, **kwargs):
            mark(__before)
            return __original(*args, **kwargs)
        setattr(k, name, wrapper)
    snapshot = getattr(k, 'snapshot', None)
    if snapshot is None:
        bench['missing'].append('snapshot')
    else:
        def timed_snapshot(*args, **kwargs):
            first = bench['current'] is not None and 'snap1Start' not in bench['current']
            mark('snap1Start' if first else 'snap2Start')
            try:
                return snapshot(*args, **kwargs)
            finally:
                if bench['current'] is not None:
                    bench['current']['snap1End' if first else 'snap2End'] = now()
        k.snapshot = timed_snapshot
    return bench['missing']
__vv_setup()
`;

/** Python run as a cell: prints the kernel-side records as JSON and clears them. */
export const KERNEL_PROFILE_DUMP = String.raw`
import builtins as __b, json as __j
print(__j.dumps(__b.__vv_bench__['records'])); __b.__vv_bench__['records'] = {}
`;

/**
 * Python run as a cell: counts and times the runtime's frame sends (whole `Channel.send`, and the
 * `os.write` calls on the channel's descriptor, i.e. time blocked on the pipe to the host) and the
 * pump's reads of fd 1/2, per execution, in `builtins.__vv_out__`.
 */
export const KERNEL_OUTPUT_PROFILE_SETUP = String.raw`
import builtins, os, sys, time
def __vv_out_setup():
    p = sys.modules['vivarium_runtime.protocol']
    k = sys.modules['vivarium_runtime.kernel']
    s = sys.modules['vivarium_runtime.streams']
    stats = {'runs': []}
    builtins.__vv_out__ = stats
    now = time.perf_counter_ns
    current = {}
    send = p.Channel.send
    def timed_send(self, message):
        started = now()
        try:
            return send(self, message)
        finally:
            current['sendNs'] = current.get('sendNs', 0) + now() - started
            current['sends'] = current.get('sends', 0) + 1
    p.Channel.send = timed_send
    write = os.write
    def timed_write(fd, data):
        if fd < 500:
            return write(fd, data)
        started = now()
        try:
            return write(fd, data)
        finally:
            current['writeNs'] = current.get('writeNs', 0) + now() - started
    p.os.write = timed_write
    read_available = s.StreamPump._read_available
    def timed_read(self, name):
        started = now()
        try:
            return read_available(self, name)
        finally:
            current['pumpNs'] = current.get('pumpNs', 0) + now() - started
    s.StreamPump._read_available = timed_read
    execute = k.Kernel._execute
    def timed_execute(self, request):
        current.clear()
        started = now()
        try:
            return execute(self, request)
        finally:
            current['executeNs'] = now() - started
            stats['runs'].append(dict(current))
    k.Kernel._execute = timed_execute
__vv_out_setup()
`;

/** Times `fn` calls on a prototype method: pushes ms into `sink`. */
export function timeMethod(patches, label, target, name, sink) {
  return patches.add(
    label,
    target,
    name,
    (original) =>
      async function timed(...args) {
        const startedAt = performance.now();
        try {
          return await original.apply(this, args);
        } finally {
          sink.push(performance.now() - startedAt);
        }
      },
  );
}

export { KernelProcess, KernelCgroup, WorkspaceManager };
