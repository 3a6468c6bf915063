/**
 * `npm run bench`: every performance figure of Vivarium side by side with its baselines, in one
 * run, as medians, p99 and ratios. Prints the tables and writes them to docs/performance.md
 * (a quick run, `BENCH_QUICK=1`, writes to the temp directory unless BENCH_OUTPUT says where).
 * Measurement only: nothing here asserts a time.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchConfig } from './lib/config.js';
import { poolNudges, startFailures } from './lib/engine.js';
import { cpuBusyPercent, loadNow, machineFacts, sandboxFacts } from './lib/machine.js';
import { PYTHON } from './lib/processes.js';
import { renderReport } from './lib/report.js';
import { runAcquire } from './sections/acquire.js';
import { runGrowth } from './sections/growth.js';
import { runHttp } from './sections/http.js';
import { runOneShot } from './sections/one-shot.js';
import { runRoundTrip } from './sections/roundtrip.js';
import { runThroughput } from './sections/throughput.js';

const SECTIONS = [
  ['acquire', runAcquire],
  ['roundtrip', runRoundTrip],
  ['oneShot', runOneShot],
  ['growth', runGrowth],
  ['throughput', runThroughput],
  ['http', runHttp],
];

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

async function main() {
  const config = benchConfig();
  const startedAt = performance.now();
  const log = (message) =>
    process.stderr.write(`[bench ${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${message}\n`);
  const machine = machineFacts(PYTHON);
  machine.sandbox = await sandboxFacts(machine.bwrap);
  const invokedBy = process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : 'node bench/run.js';
  const results = { config, machine, invokedBy, load: { start: loadNow() }, sections: {}, durationsMs: {} };
  // Before anything of the bench runs: how busy other work keeps the machine.
  results.cpuBusyBefore = await cpuBusyPercent(2000);
  log(
    `${config.quick ? 'quick' : 'full'} run on ${machine.nproc} cores, load ${results.load.start.loadAverage1m.toFixed(2)}`,
  );
  for (const [name, run] of SECTIONS) {
    if (config.only && !config.only.includes(name)) continue;
    const sectionStartedAt = performance.now();
    results.load[name] = loadNow();
    results.sections[name] = await run(config, log);
    results.durationsMs[name] = performance.now() - sectionStartedAt;
  }
  results.load.end = loadNow();
  results.cpuBusyAfter = await cpuBusyPercent(2000);
  results.startFailures = startFailures;
  results.poolNudges = poolNudges;
  results.totalMs = performance.now() - startedAt;

  const markdown = renderReport(results);
  process.stdout.write(`${markdown}\n`);
  const output =
    process.env.BENCH_OUTPUT ??
    (config.quick || config.only
      ? join(tmpdir(), 'vivarium-performance-quick.md')
      : join(repoRoot, 'docs', 'performance.md'));
  const jsonOutput = process.env.BENCH_JSON ?? join(tmpdir(), 'vivarium-bench-results.json');
  await writeFile(output, markdown);
  await writeFile(jsonOutput, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${output} and ${jsonOutput} (${(results.totalMs / 1000).toFixed(0)} s in all)`);
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error.stack ?? error}\n`);
  // Engines were stopped in their sections' finally blocks; baseline children may still wait.
  process.exit(1);
});
