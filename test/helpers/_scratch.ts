import { startEngine } from '/work/main/test/helpers/engine.js';
const f = await startEngine();
try {
  const s = await f.vv.createSession();
  const code = process.argv.slice(2).join(' ') || 'print(1)';
  const e = await s.execute(code.replace(/\\n/g, '\n'));
  console.log(JSON.stringify({ status: e.status, outputs: e.outputs, error: e.error, reason: e.reason, state: s.state, why: s.deathReason }, null, 1).slice(0, 4000));
} finally { await f.stop(); }
