import type { KernelMessage } from './kernel-messages.js';
import type {
  DisplayDataOutput,
  Execution,
  ExecutionErrorInfo,
  ExecutionEvent,
  ExecutionStatus,
  MimeBundle,
  Output,
} from './execution.js';
import type { FileChange } from './kernel-messages.js';

/** Options of {@link ExecutionCollector}. */
export interface ExecutionCollectorOptions {
  executionId: string;
  sessionId: string;
  /** stdout + stderr bytes kept (host-side cap, independent of the kernel's). */
  maxOutputBytes: number;
  /** Rich-output bytes kept. */
  maxDisplayBytes: number;
  onEvent?: ((event: ExecutionEvent) => void) | undefined;
}

type OutputFrame = Extract<
  KernelMessage,
  { type: 'stream' | 'display_data' | 'update_display_data' | 'clear_output' | 'execute_result' | 'error' }
>;

function bundleBytes(data: MimeBundle): number {
  let total = 0;
  for (const value of Object.values(data))
    total += typeof value === 'string' ? value.length : JSON.stringify(value ?? null).length;
  return total;
}

/**
 * Builds an Execution from kernel frames, enforcing the host's own output caps, merging adjacent
 * stream chunks as Jupyter does, applying `display_id` updates and `clear_output` in place, and
 * forwarding each frame as an event.
 */
export class ExecutionCollector {
  private readonly options: ExecutionCollectorOptions;
  readonly outputs: Output[] = [];
  private stdout = '';
  private stderr = '';
  private streamBytes = 0;
  private displayBytes = 0;
  private readonly truncated = { output: false, display: false, files: false };
  private result: MimeBundle | null = null;
  private error: ExecutionErrorInfo | null = null;
  private clearPending = false;
  executionCount = 0;

  constructor(options: ExecutionCollectorOptions) {
    this.options = options;
  }

  emit(event: ExecutionEvent): void {
    if (!this.options.onEvent) return;
    try {
      this.options.onEvent(event);
    } catch {
      // A failing listener must not break the execution.
    }
  }

  private applyPendingClear(): void {
    if (this.clearPending) {
      this.clearOutputs();
      this.clearPending = false;
    }
  }

  private clearOutputs(): void {
    this.outputs.length = 0;
  }

  /** Takes one output frame of this execution. */
  add(frame: OutputFrame): void {
    const executionId = this.options.executionId;
    switch (frame.type) {
      case 'stream': {
        const size = Buffer.byteLength(frame.text, 'utf8');
        const budget = this.options.maxOutputBytes - this.streamBytes;
        if (budget <= 0) {
          this.truncated.output = true;
          return;
        }
        let text = frame.text;
        if (size > budget) {
          text = Buffer.from(text, 'utf8')
            .subarray(0, budget)
            .toString('utf8')
            .replace(/\uFFFD$/, '');
          this.truncated.output = true;
        }
        this.streamBytes += Math.min(size, budget);
        this.applyPendingClear();
        if (frame.name === 'stdout') this.stdout += text;
        else this.stderr += text;
        const last = this.outputs[this.outputs.length - 1];
        if (last && last.output_type === 'stream' && last.name === frame.name) last.text += text;
        else this.outputs.push({ output_type: 'stream', name: frame.name, text });
        this.emit({ type: 'stream-delta', executionId, name: frame.name, text });
        return;
      }
      case 'display_data':
      case 'update_display_data': {
        const size = bundleBytes(frame.data);
        if (this.displayBytes + size > this.options.maxDisplayBytes) {
          this.truncated.display = true;
          return;
        }
        this.displayBytes += size;
        const displayId = frame.transient?.display_id ?? null;
        const update = frame.type === 'update_display_data';
        if (update) {
          for (const output of this.outputs) {
            if (output.output_type === 'display_data' && output.transient?.display_id === displayId) {
              output.data = frame.data;
              output.metadata = frame.metadata;
            }
          }
        } else {
          this.applyPendingClear();
          const output: DisplayDataOutput = {
            output_type: 'display_data',
            data: frame.data,
            metadata: frame.metadata,
          };
          if (displayId !== null) output.transient = { display_id: displayId };
          this.outputs.push(output);
        }
        this.emit({
          type: 'display-data',
          executionId,
          data: frame.data,
          metadata: frame.metadata,
          displayId,
          update,
        });
        return;
      }
      case 'clear_output':
        if (frame.wait) this.clearPending = true;
        else this.clearOutputs();
        this.emit({ type: 'clear-output', executionId, wait: frame.wait });
        return;
      case 'execute_result': {
        const size = bundleBytes(frame.data);
        if (this.displayBytes + size > this.options.maxDisplayBytes) {
          this.truncated.display = true;
          this.result = { 'text/plain': '[result dropped: over maxDisplayBytes]' };
          return;
        }
        this.displayBytes += size;
        this.applyPendingClear();
        this.result = frame.data;
        this.outputs.push({
          output_type: 'execute_result',
          execution_count: frame.execution_count,
          data: frame.data,
          metadata: frame.metadata,
        });
        this.emit({
          type: 'execute-result',
          executionId,
          executionCount: frame.execution_count,
          data: frame.data,
          metadata: frame.metadata,
        });
        return;
      }
      case 'error': {
        const info: ExecutionErrorInfo = {
          ename: frame.ename,
          evalue: frame.evalue,
          traceback: frame.traceback,
        };
        if (frame.line !== undefined) info.line = frame.line;
        if (frame.column !== undefined) info.column = frame.column;
        this.setError(info);
        return;
      }
    }
  }

  /** Records an error (from the kernel, or a host-side fact such as a timeout). */
  setError(info: ExecutionErrorInfo): void {
    this.applyPendingClear();
    this.error = info;
    this.outputs.push({ output_type: 'error', ...info });
    this.emit({ type: 'execution-error', executionId: this.options.executionId, ...info });
  }

  get hasError(): boolean {
    return this.error !== null;
  }

  /** The finished Execution. */
  finish(fields: {
    status: ExecutionStatus;
    executionCount: number;
    durationMs: number;
    cpuMs: number;
    peakMemoryBytes: number;
    files: FileChange[];
    filesTruncated: boolean;
    kernelTruncatedOutput: boolean;
    startedAt: string;
    reason: string | null;
  }): Execution {
    return {
      id: this.options.executionId,
      sessionId: this.options.sessionId,
      executionCount: fields.executionCount,
      status: fields.status,
      outputs: this.outputs,
      stdout: this.stdout,
      stderr: this.stderr,
      truncated: {
        output: this.truncated.output || fields.kernelTruncatedOutput,
        display: this.truncated.display,
        files: fields.filesTruncated,
      },
      result: this.result,
      error: this.error,
      durationMs: fields.durationMs,
      cpuMs: fields.cpuMs,
      peakMemoryBytes: fields.peakMemoryBytes,
      files: fields.files,
      startedAt: fields.startedAt,
      reason: fields.reason,
      namespaceReset: false,
    };
  }
}
