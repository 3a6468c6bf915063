import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Vivarium } from '../engine/index.js';
import type { Execution } from '../kernel/index.js';

/** Options of {@link ServiceMetrics}. */
export interface ServiceMetricsOptions {
  vv: Vivarium;
  /** Sessions open now (live in the engine). */
  activeSessions: () => number;
  /** Add Node process metrics (`process_*`, `nodejs_*`). @default true */
  processMetrics?: boolean;
}

/** Latency buckets in seconds, from a warm `1+1` (~1 ms) to long cells. */
const LATENCY_BUCKETS_SEC = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

/**
 * The kind of a kernel death, from the host's reason: a bounded label set for Prometheus.
 * `timeout`, `memory`, `cpu`, `signal`, `exit`, `restart`, `protocol`, `aborted`, `other`.
 */
export function deathReasonClass(execution: Pick<Execution, 'status' | 'reason'>): string {
  if (execution.status === 'timeout') return 'timeout';
  if (execution.status === 'memory_exceeded') return 'memory';
  const reason = execution.reason ?? '';
  if (/CPU time/i.test(reason)) return 'cpu';
  if (/restarted/i.test(reason)) return 'restart';
  if (/protocol violation/i.test(reason)) return 'protocol';
  if (/aborted/i.test(reason)) return 'aborted';
  if (/signal|SIGKILL/i.test(reason)) return 'signal';
  if (/exited with code/i.test(reason)) return 'exit';
  return 'other';
}

/**
 * The Prometheus figures of one app, in a registry of its own (several apps in one process, as in
 * tests, never collide). Served at `GET /metrics`.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly executions: Counter<'status'>;
  private readonly executionSeconds: Histogram<'status'>;
  private readonly queueWaitSeconds: Histogram;
  private readonly kernelDeaths: Counter<'reason'>;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpSeconds: Histogram<'method' | 'route'>;

  constructor(options: ServiceMetricsOptions) {
    const { vv, activeSessions, processMetrics = true } = options;
    const registers = [this.registry];
    if (processMetrics) collectDefaultMetrics({ register: this.registry });
    this.executions = new Counter({
      name: 'vivarium_executions_total',
      help: 'Executions finished, by status (ok, error, timeout, interrupted, memory_exceeded, killed, or rejected: an engine error before the cell ran)',
      labelNames: ['status'],
      registers,
    });
    this.executionSeconds = new Histogram({
      name: 'vivarium_execution_duration_seconds',
      help: 'Wall time of executions as the host measured it, by status',
      labelNames: ['status'],
      buckets: LATENCY_BUCKETS_SEC,
      registers,
    });
    this.queueWaitSeconds = new Histogram({
      name: 'vivarium_execution_queue_wait_seconds',
      help: 'Time from the request to the start of its execution (session queue, fresh kernel start)',
      buckets: LATENCY_BUCKETS_SEC,
      registers,
    });
    this.kernelDeaths = new Counter({
      name: 'vivarium_kernel_deaths_total',
      help: 'Kernels that died under an execution, by reason class (timeout, memory, cpu, signal, exit, restart, protocol, aborted, other)',
      labelNames: ['reason'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'vivarium_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'vivarium_http_request_duration_seconds',
      help: 'HTTP request duration (streams: until the stream ended), by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS_SEC,
      registers,
    });
    new Gauge({
      name: 'vivarium_sessions_active',
      help: 'Sessions open now',
      registers,
      collect() {
        this.set(activeSessions());
      },
    });
    const poolGauge = (
      name: string,
      help: string,
      read: (stats: ReturnType<Vivarium['poolStats']>) => number,
    ) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(vv.poolStats()));
        },
      });
    poolGauge('vivarium_pool_size', 'Target number of warm kernels', (stats) => stats.size);
    poolGauge('vivarium_pool_ready', 'Warm kernels ready now', (stats) => stats.ready);
    poolGauge('vivarium_pool_starting', 'Pool kernels starting now', (stats) => stats.starting);
    poolGauge('vivarium_pool_hits', 'Sessions served by a warm kernel since start', (stats) => stats.hits);
    poolGauge(
      'vivarium_pool_misses',
      'Sessions that needed a fresh kernel since start',
      (stats) => stats.misses,
    );
    poolGauge(
      'vivarium_pool_start_failures',
      'Pool kernel starts that failed since start',
      (stats) => stats.startFailures,
    );
  }

  /** One finished execution (stored already). `sessionDead`: its kernel died under it. */
  recordExecution(execution: Execution, options: { sessionDead: boolean }): void {
    this.executions.inc({ status: execution.status });
    this.executionSeconds.observe({ status: execution.status }, execution.durationMs / 1000);
    if (options.sessionDead) this.kernelDeaths.inc({ reason: deathReasonClass(execution) });
  }

  /** An execution refused by the engine before it ran (session dead or closed, invalid option). */
  recordRejectedExecution(): void {
    this.executions.inc({ status: 'rejected' });
  }

  recordQueueWait(seconds: number): void {
    this.queueWaitSeconds.observe(seconds);
  }

  recordHttpRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpSeconds.observe({ method, route }, seconds);
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
