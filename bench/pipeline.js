/**
 * `node bench/pipeline.js` (after `npm run build`): what the task pipeline adds around running the
 * code, measured beside the plain execution of the same code in the same run. A scripted
 * generator writes the code, so no model time is in the figures: what remains is the pipeline's
 * own work — the analysis in a side kernel, the packages probe, the `results` read, the store.
 *
 * Figures (medians of `BENCH_PIPELINE_SAMPLES`, default 20, in one warm engine):
 * - `session.execute(code)`: the baseline, on a warm session;
 * - `vv.analyze(code, session)`: the policy analysis alone (a side kernel + `ast`);
 * - a whole task in an existing session (generate → analyze → execute → verify), one attempt;
 * - the same task's steps, from its events (`task-step-start` to the next step).
 * Measurement only: nothing asserts a time.
 */
import { ScriptedGenerator, analyze } from '../dist/index.js';
import { startEngine } from './lib/engine.js';
import { formatMs, formatRatio, ratio, summarize } from './lib/stats.js';

const SAMPLES = Number(process.env.BENCH_PIPELINE_SAMPLES ?? 20);
const CODE = [
  'import statistics',
  'values = [3, 1, 4, 1, 5, 9, 2, 6]',
  'results = {"mean": statistics.mean(values), "n": len(values)}',
  'print(results)',
].join('\n');

const engine = await startEngine({ preload: [], pool: { size: 2 } });
const { vv } = engine;
try {
  const session = await vv.createSession({ preload: [] });
  const execute = [];
  const analysis = [];
  const task = [];
  const steps = { generate: [], analyze: [], execute: [], verify: [] };
  // One untimed round of each first: imports cached, code paths warm.
  await session.execute(CODE);
  await analyze(session, CODE);
  for (let index = 0; index < SAMPLES; index += 1) {
    let started = performance.now();
    const execution = await session.execute(CODE);
    if (execution.status !== 'ok') throw new Error(`the baseline failed: ${execution.status}`);
    execute.push(performance.now() - started);

    started = performance.now();
    await analyze(session, CODE);
    analysis.push(performance.now() - started);

    const marks = [];
    started = performance.now();
    const handle = await vv.tasks.create({
      objective: 'Mean of the values',
      sessionId: session.id,
      expectedResults: ['mean', 'n'],
      approvalMode: 'never',
      generator: new ScriptedGenerator([CODE], { promptBuilder: null }),
      onEvent: (event) => {
        if (event.type === 'task-step-start' || event.type === 'task-end')
          marks.push([event.type === 'task-end' ? 'end' : event.step, performance.now()]);
      },
    });
    const result = await handle.result();
    task.push(performance.now() - started);
    if (result.status !== 'succeeded') throw new Error(`the task failed: ${JSON.stringify(result.error)}`);
    for (let mark = 0; mark < marks.length - 1; mark += 1) {
      const [step, at] = marks[mark];
      steps[step]?.push(marks[mark + 1][1] - at);
    }
  }
  const base = summarize(execute).median;
  const rows = [
    ['session.execute (baseline)', summarize(execute)],
    ['analyze (side kernel + ast)', summarize(analysis)],
    ['task, one attempt, existing session', summarize(task)],
    ...Object.entries(steps).map(([step, samples]) => [`  step ${step}`, summarize(samples)]),
  ];
  process.stdout.write(`pipeline overhead, ${SAMPLES} samples, ${new Date().toISOString()}\n\n`);
  process.stdout.write('| what | median | p90 | × baseline |\n| --- | --- | --- | --- |\n');
  for (const [name, stats] of rows) {
    process.stdout.write(
      `| ${name} | ${formatMs(stats.median)} | ${formatMs(stats.p90)} | ${formatRatio(ratio(stats.median, base))} |\n`,
    );
  }
  await session.close();
} finally {
  await engine.stop();
}
