/**
 * Sample counts and durations of the benchmark. `BENCH_QUICK=1` picks the smoke-run set (about a
 * minute); any single value can be overridden by its environment variable, e.g.
 * `BENCH_ROUNDTRIP_SAMPLES=1000`, `BENCH_LIVE_SESSION_COUNTS=1,5,10`.
 */

const FULL = {
  /** Pool acquires (createSession on a warm pool), each after the pool refilled. */
  acquireSamples: 30,
  /** Cold sandboxed kernel starts (pool size 0) with the default preload. */
  coldSamples: 10,
  /** Cold sandboxed kernel starts with preload [] (the sandbox + runtime share of a cold start). */
  coldBareSamples: 10,
  /** Jupyter start_new_kernel samples (each also runs the same preload as a first cell). */
  jupyterStartSamples: 6,
  /** `python3 -c` import of the preload outside any sandbox (the import share of a cold start). */
  importSamples: 5,
  /** Warm-up executions before round trips are timed. */
  roundtripWarmup: 50,
  /** `1+1` round trips, Vivarium and Jupyter each. */
  roundtripSamples: 500,
  /** Profiled `1+1` round trips (host and kernel timestamps). */
  profileSamples: 300,
  /** vv.run one-shots, each on a refilled pool. */
  oneShotSamples: 25,
  /** Fresh `python3 -c` subprocesses doing the same. */
  subprocessSamples: 20,
  /** Output sizes (bytes) and samples per size. */
  outputSizes: [1024, 10 * 1024, 100 * 1024, 1024 * 1024, 10 * 1024 * 1024],
  outputSamples: [100, 100, 50, 20, 8],
  /** Live idle sessions, and `1+1` round trips timed at each count. */
  liveSessionCounts: [1, 5, 10, 25, 50],
  liveSessionRoundtrips: 200,
  /** One-shot runs per throughput measurement (concurrency 2 and 4), and subprocess runs. */
  throughputRuns: 30,
  throughputSubprocessRuns: 30,
  throughputConcurrency: [2, 4],
  /** Seconds each executions-per-second loop runs. */
  loopSeconds: 5,
  loopSessions: 4,
  /** HTTP `1+1` round trips per arm (fetch with keys, fetch without, node:http, in process). */
  httpRoundtripSamples: 400,
  /** Live sessions of the HTTP throughput loops, concurrent clients, and seconds per loop. */
  httpSessions: 4,
  httpClients: [4, 8],
  httpLoopSeconds: 10,
};

const QUICK = {
  acquireSamples: 6,
  coldSamples: 2,
  coldBareSamples: 2,
  jupyterStartSamples: 1,
  importSamples: 1,
  roundtripWarmup: 20,
  roundtripSamples: 150,
  profileSamples: 100,
  oneShotSamples: 4,
  subprocessSamples: 3,
  outputSizes: [1024, 10 * 1024, 100 * 1024, 1024 * 1024, 10 * 1024 * 1024],
  outputSamples: [10, 10, 5, 3, 2],
  liveSessionCounts: [1, 5],
  liveSessionRoundtrips: 50,
  throughputRuns: 6,
  throughputSubprocessRuns: 6,
  throughputConcurrency: [2, 4],
  loopSeconds: 1.5,
  loopSessions: 4,
  httpRoundtripSamples: 150,
  httpSessions: 4,
  httpClients: [4, 8],
  httpLoopSeconds: 1.5,
};

function envName(key) {
  return `BENCH_${key.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
}

function parseValue(name, raw, example) {
  const parse = (text) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0)
      throw new Error(`Expected \`${name}\` to hold positive numbers, got \`${raw}\``);
    return value;
  };
  return Array.isArray(example) ? raw.split(',').map(parse) : parse(raw);
}

/** The resolved benchmark settings. */
export function benchConfig(env = process.env) {
  const quick = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';
  const base = quick ? QUICK : FULL;
  const config = { quick };
  for (const [key, value] of Object.entries(base)) {
    const raw = env[envName(key)];
    config[key] = raw === undefined || raw === '' ? value : parseValue(envName(key), raw, value);
  }
  if (config.outputSamples.length !== config.outputSizes.length) {
    const last = config.outputSamples.at(-1);
    config.outputSamples = config.outputSizes.map((_, index) => config.outputSamples[index] ?? last);
  }
  /** Sections to run (`BENCH_ONLY=acquire,roundtrip`); all by default. */
  config.only = env.BENCH_ONLY ? env.BENCH_ONLY.split(',').map((item) => item.trim()) : null;
  return config;
}

/** Every variable {@link benchConfig} reads, for the report. */
export function configVariables() {
  return ['BENCH_QUICK', 'BENCH_ONLY', 'BENCH_OUTPUT', ...Object.keys(FULL).map(envName)];
}
