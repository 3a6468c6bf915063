import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
export const JUPYTER_SCRIPT = fileURLToPath(new URL('../baselines/jupyter_kernel.py', import.meta.url));

/** Runs a process to completion: `{ code, stdout, stderr, elapsedMs }` (spawn to close). */
export function runProcess(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        elapsedMs: performance.now() - startedAt,
      });
    });
  });
}

/** Runs the Jupyter baseline in one mode; resolves with its JSON result. */
export async function jupyterBaseline(mode, args = []) {
  const result = await runProcess(PYTHON, [JUPYTER_SCRIPT, mode, ...args]);
  if (result.code !== 0)
    throw new Error(`jupyter baseline ${mode} failed (exit ${result.code}):\n${result.stderr.slice(-4000)}`);
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line);
}

/**
 * Starts the Jupyter loop baseline: resolves once its kernel is ready, with `go()` that starts
 * the timed loop and resolves with `{ count, elapsedMs }`.
 */
export function jupyterLoop(seconds, code = '1+1') {
  return new Promise((resolveReady, rejectReady) => {
    const child = spawn(PYTHON, [JUPYTER_SCRIPT, 'loop', '--seconds', String(seconds), '--code', code], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let buffered = '';
    let stderr = '';
    let ready = false;
    let resolveDone;
    let rejectDone;
    const done = new Promise((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });
    child.stderr.on('data', (chunk) => (stderr += chunk.toString('utf8')));
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      let index;
      while ((index = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, index).trim();
        buffered = buffered.slice(index + 1);
        if (!line) continue;
        const message = JSON.parse(line);
        if (message.ready && !ready) {
          ready = true;
          resolveReady({
            go: () => {
              child.stdin.write('go\n');
              return done;
            },
            // Closing stdin lets the script run its loop and shut its kernel down; then SIGTERM.
            kill: () => {
              child.stdin.end();
              setTimeout(() => child.kill('SIGTERM'), 15_000).unref();
            },
          });
        } else if ('count' in message) {
          resolveDone(message);
        }
      }
    });
    child.on('error', rejectReady);
    child.on('close', (code) => {
      const error = new Error(`jupyter loop exited with ${code}:\n${stderr.slice(-4000)}`);
      if (!ready) rejectReady(error);
      else if (code !== 0) rejectDone(error);
    });
  });
}
