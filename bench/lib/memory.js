import { readdir, readFile } from 'node:fs/promises';

async function readText(path) {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

/** Every process: pid → { ppid, comm, cmdline }. */
export async function processTable() {
  const table = new Map();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readText(`/proc/${name}/stat`);
    if (!stat) continue;
    // comm may hold spaces and parentheses: the fields after the last ')' are fixed.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const cmdline = ((await readText(`/proc/${name}/cmdline`)) ?? '').split('\0').filter(Boolean);
    table.set(Number(name), { ppid: Number(fields[1]), comm, cmdline });
  }
  return table;
}

/**
 * The processes of the kernel serving a workspace: the bwrap child of this Node process whose
 * command line binds that workspace, and all its descendants (bwrap's pid-1, the interpreter,
 * the runtime's helper processes).
 */
export function kernelPids(table, workspaceDir) {
  const root = [...table.entries()].find(
    ([, info]) => info.ppid === process.pid && info.comm === 'bwrap' && info.cmdline.includes(workspaceDir),
  );
  if (!root) return [];
  const pids = [root[0]];
  for (let index = 0; index < pids.length; index += 1) {
    for (const [pid, info] of table) if (info.ppid === pids[index]) pids.push(pid);
  }
  return pids;
}

/** Sums `/proc/<pid>/smaps_rollup` over processes: Rss, Pss, USS (private clean + dirty), bytes. */
export async function memoryOfPids(pids) {
  const total = { rssBytes: 0, pssBytes: 0, ussBytes: 0, processes: 0 };
  for (const pid of pids) {
    const text = await readText(`/proc/${pid}/smaps_rollup`);
    if (!text) continue;
    total.processes += 1;
    for (const line of text.split('\n')) {
      const match = /^(\w+):\s+(\d+) kB/.exec(line);
      if (!match) continue;
      const bytes = Number(match[2]) * 1024;
      if (match[1] === 'Rss') total.rssBytes += bytes;
      else if (match[1] === 'Pss') total.pssBytes += bytes;
      else if (match[1] === 'Private_Clean' || match[1] === 'Private_Dirty') total.ussBytes += bytes;
    }
  }
  return total;
}

/** Memory of each session's kernel tree, in the order given. */
export async function sessionMemory(sessions) {
  const table = await processTable();
  const out = [];
  for (const session of sessions) out.push(await memoryOfPids(kernelPids(table, session.workspaceDir)));
  return out;
}
