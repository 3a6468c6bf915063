import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analysisResultSchema,
  analyze,
  RULE_IDS,
  type AnalysisResult,
  type RuleId,
} from '../../src/analysis/index.js';
import { isVivariumError, type Session } from '../../src/index.js';
import { assertCliBuilt, runCli, temporaryDirectory } from '../helpers/cli-helpers.js';
import { useEngine } from '../helpers/engine.js';
import { api, useService } from '../helpers/server.js';

/** Static analysis and policy, in the real sandbox: a corpus of snippets, the decision, the surfaces. */

/** `[ruleId, line, symbol, path]` of one expected finding. */
type Expected = [RuleId, number, string | null, string | null];

function found(ruleId: RuleId, line: number, symbol: string | null, path: string | null = null): Expected {
  return [ruleId, line, symbol, path];
}

/** Every finding except `import.missing` (which depends on what this machine has installed). */
function shape(result: AnalysisResult): Expected[] {
  return result.findings
    .filter((finding) => finding.ruleId !== 'import.missing')
    .map((finding) => [finding.ruleId as RuleId, finding.line, finding.symbol, finding.path]);
}

interface CorpusEntry {
  name: string;
  code: string;
  findings: Expected[];
}

const CORPUS: CorpusEntry[] = [
  // ---- aliases ----
  {
    name: 'import os as o; o.system',
    code: 'import os as o\no.system("ls")\n',
    findings: [found('process.system', 2, 'os.system')],
  },
  {
    name: 'from os import system as s',
    code: 'from os import system as s\ns("ls")\n',
    findings: [found('process.system', 2, 'os.system')],
  },
  {
    name: 'import os.path binds os',
    code: 'import os.path\nprint(os.path.join("a", "b"))\nos.system("id")\n',
    findings: [found('process.system', 3, 'os.system')],
  },
  {
    name: 'star import',
    code: 'from subprocess import *\nrun(["ls"], check=True)\n',
    findings: [found('process.import', 1, 'subprocess'), found('process.subprocess', 2, 'subprocess.run')],
  },
  {
    name: 'function assigned to a name',
    code: 'import os\nf = os.system\nf("x")\n',
    findings: [found('process.system', 3, 'os.system')],
  },
  {
    name: 'module assigned to a name',
    code: 'import subprocess\nsp = subprocess\nsp.Popen(["ls"])\n',
    findings: [found('process.import', 1, 'subprocess'), found('process.subprocess', 3, 'subprocess.Popen')],
  },
  {
    name: 'sys.modules lookup',
    code: 'import sys\nsys.modules["os"].system("id")\n',
    findings: [found('process.system', 2, 'os.system')],
  },
  {
    name: 'a module-level name survives a function-local one',
    code: 'import os\ndef f():\n    os = None\n    return os\nos.system("x")\n',
    findings: [found('process.system', 5, 'os.system')],
  },
  {
    name: 'a parameter shadows the module',
    code: 'import os\ndef run(os):\n    return os.system("x")\n',
    findings: [],
  },
  {
    name: 'a def shadows a builtin',
    code: 'def eval(text):\n    return text\neval("1 + 1")\n',
    findings: [],
  },
  // ---- getattr and dynamic lookups ----
  {
    name: 'getattr with a literal name resolves',
    code: 'import os\ngetattr(os, "system")("ls")\n',
    findings: [found('dynamic.getattr', 2, 'os.system'), found('process.system', 2, 'os.system')],
  },
  {
    name: 'getattr with a computed name',
    code: 'import os\ngetattr(os, "sys" + "tem")("ls")\n',
    findings: [found('dynamic.getattr', 2, null)],
  },
  {
    name: 'getattr / setattr on builtins',
    code: 'import builtins\ngetattr(builtins, "ev" + "al")("1")\nsetattr(builtins, "open", print)\n',
    findings: [found('dynamic.getattr', 2, null), found('dynamic.getattr', 3, 'builtins.open')],
  },
  {
    name: 'getattr on an ordinary object is fine',
    code: 'class Box:\n    size = 1\nprint(getattr(Box, "size"), hasattr(Box, "size"))\n',
    findings: [],
  },
  {
    name: '__import__ with a literal module',
    code: '__import__("os").system("ls")\n',
    findings: [found('dynamic.import', 1, 'os'), found('process.system', 1, 'os.system')],
  },
  {
    name: '__import__ with a computed module',
    code: 'name = "o" + "s"\n__import__(name)\n',
    findings: [found('dynamic.import', 2, null)],
  },
  {
    name: 'importlib.import_module',
    code: 'import importlib\nm = importlib.import_module("subprocess")\nm.run(["ls"])\n',
    findings: [
      found('dynamic.import', 2, 'subprocess'),
      found('process.import', 2, 'subprocess'),
      found('process.subprocess', 3, 'subprocess.run'),
    ],
  },
  {
    name: '__builtins__["eval"]',
    code: '__builtins__["eval"]("1 + 1")\n',
    findings: [found('dynamic.eval', 1, 'builtins.eval'), found('dynamic.getattr', 1, 'builtins.eval')],
  },
  {
    name: 'builtins.eval and vars(builtins)["exec"]',
    code: 'import builtins\nbuiltins.eval("1")\nvars(builtins)["exec"]("x = 1")\n',
    findings: [
      found('dynamic.eval', 2, 'builtins.eval'),
      found('dynamic.exec', 3, 'builtins.exec'),
      found('dynamic.getattr', 3, 'builtins.exec'),
    ],
  },
  {
    name: 'globals()["__builtins__"]',
    code: 'b = globals()["__builtins__"]\n',
    findings: [found('dynamic.getattr', 1, 'builtins')],
  },
  {
    name: 'eval, exec, compile',
    code: 'eval("1")\nexec("x = 1")\ncode = compile("1", "<s>", "eval")\n',
    findings: [
      found('dynamic.eval', 1, 'eval'),
      found('dynamic.exec', 2, 'exec'),
      found('dynamic.compile', 3, 'compile'),
    ],
  },
  {
    name: 're.compile is not compile',
    code: 'import re\npattern = re.compile(r"\\d+")\n',
    findings: [],
  },
  {
    name: 'introspection walk',
    code: 'classes = ().__class__.__base__.__subclasses__()\n',
    findings: [
      found('dynamic.introspection', 1, '__base__'),
      found('dynamic.introspection', 1, '__subclasses__'),
    ],
  },
  // ---- processes ----
  {
    name: 'subprocess variants',
    code: 'import subprocess\nsubprocess.check_output(["id"])\nsubprocess.getoutput("id")\n',
    findings: [
      found('process.import', 1, 'subprocess'),
      found('process.subprocess', 2, 'subprocess.check_output'),
      found('process.subprocess', 3, 'subprocess.getoutput'),
    ],
  },
  {
    name: 'os.popen',
    code: 'import os\nout = os.popen("ls").read()\n',
    findings: [found('process.system', 2, 'os.popen')],
  },
  {
    name: 'exec and spawn',
    code: 'import os\nos.execv("/bin/ls", ["ls"])\nos.spawnl(os.P_WAIT, "/bin/ls", "ls")\nos.posix_spawn("/bin/ls", ["ls"], {})\n',
    findings: [
      found('process.exec', 2, 'os.execv'),
      found('process.exec', 3, 'os.spawnl'),
      found('process.exec', 4, 'os.posix_spawn'),
    ],
  },
  {
    name: 'fork and process pools',
    code: 'import os\nimport multiprocessing\nfrom concurrent.futures import ProcessPoolExecutor\nos.fork()\nmultiprocessing.Pool(2)\nProcessPoolExecutor(2)\n',
    findings: [
      found('process.import', 2, 'multiprocessing'),
      found('process.fork', 4, 'os.fork'),
      found('process.fork', 5, 'multiprocessing.Pool'),
      found('process.fork', 6, 'concurrent.futures.ProcessPoolExecutor'),
    ],
  },
  {
    name: 'pty',
    code: 'import os, pty\npty.spawn("/bin/sh")\nos.openpty()\n',
    findings: [
      found('process.import', 1, 'pty'),
      found('process.pty', 2, 'pty.spawn'),
      found('process.pty', 3, 'os.openpty'),
    ],
  },
  {
    name: 'signals',
    code: 'import os, signal\nos.kill(1, signal.SIGKILL)\n',
    findings: [found('process.signal', 2, 'os.kill')],
  },
  // ---- network ----
  {
    name: 'raw sockets and DNS',
    code: 'import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\nsocket.gethostbyname("example.com")\n',
    findings: [
      found('network.import', 1, 'socket'),
      found('network.socket', 2, 'socket.socket'),
      found('network.socket', 3, 'socket.gethostbyname'),
    ],
  },
  {
    name: 'requests',
    code: 'import requests\nrequests.get("https://example.com/data.json", timeout=5)\n',
    findings: [found('network.import', 1, 'requests'), found('network.http', 2, 'requests.get')],
  },
  {
    name: 'from urllib.request import urlopen',
    code: 'from urllib.request import urlopen\nurlopen("http://example.com")\n',
    findings: [
      found('network.import', 1, 'urllib.request'),
      found('network.http', 2, 'urllib.request.urlopen'),
    ],
  },
  {
    name: 'http.client and smtplib',
    code: 'import http.client, smtplib\nhttp.client.HTTPSConnection("example.com")\nsmtplib.SMTP("mail.example.com")\n',
    findings: [
      found('network.import', 1, 'http.client'),
      found('network.http', 2, 'http.client.HTTPSConnection'),
      found('network.http', 3, 'smtplib.SMTP'),
    ],
  },
  {
    name: 'a reader given a URL',
    code: 'import pandas as pd\ndf = pd.read_csv("https://example.com/sales.csv")\n',
    findings: [found('network.http', 2, 'pandas.read_csv')],
  },
  // ---- native code ----
  {
    name: 'ctypes',
    code: 'import ctypes\nlibc = ctypes.CDLL(None)\nctypes.pythonapi.Py_IsInitialized()\n',
    findings: [
      found('native.import', 1, 'ctypes'),
      found('native.ctypes', 2, 'ctypes.CDLL'),
      found('native.ctypes', 3, 'ctypes.pythonapi.Py_IsInitialized'),
    ],
  },
  {
    name: 'from ctypes import *',
    code: 'from ctypes import *\ncdll.LoadLibrary("libc.so.6")\n',
    findings: [found('native.import', 1, 'ctypes'), found('native.ctypes', 2, 'ctypes.cdll.LoadLibrary')],
  },
  {
    name: 'cffi',
    code: 'import cffi\nffi = cffi.FFI()\n',
    findings: [found('native.import', 1, 'cffi'), found('native.cffi', 2, 'cffi.FFI')],
  },
  // ---- files ----
  {
    name: 'open for writing in the workspace',
    code: 'with open("out.csv", "w") as handle:\n    handle.write("a,b\\n")\nopen("data.csv").read()\n',
    findings: [found('file.write', 1, 'open', 'out.csv')],
  },
  {
    name: 'writes outside the workspace',
    code: 'open("/etc/passwd", "a")\nopen("../../etc/cron.d/job", mode="w")\nopen("/tmp/scratch.txt", "w")\n',
    findings: [
      found('file.write_outside', 1, 'open', '/etc/passwd'),
      found('file.write_outside', 2, 'open', '../../etc/cron.d/job'),
      found('file.write', 3, 'open', '/tmp/scratch.txt'),
    ],
  },
  {
    name: 'os.open with write flags only',
    code: 'import os\nos.open("/etc/x", os.O_WRONLY | os.O_CREAT)\nos.open("data.bin", os.O_RDONLY)\n',
    findings: [found('file.write_outside', 2, 'os.open', '/etc/x')],
  },
  {
    name: 'pathlib writes and deletes',
    code: 'from pathlib import Path\nPath("report.txt").write_text("hi")\np = Path("/opt") / "evil"\np.write_bytes(b"")\nPath("old.txt").unlink()\n',
    findings: [
      found('file.write', 2, 'Path.write_text', 'report.txt'),
      found('file.write_outside', 4, 'Path.write_bytes', '/opt/evil'),
      found('file.delete', 5, 'Path.unlink', 'old.txt'),
    ],
  },
  {
    name: 'pathlib joinpath and home',
    code: 'from pathlib import Path\nPath("a").joinpath("b").write_text("x")\n(Path.home() / ".bashrc").write_text("x")\n',
    findings: [
      found('file.write', 2, 'Path.write_text', 'a/b'),
      found('file.write_outside', 3, 'Path.write_text', '~/.bashrc'),
    ],
  },
  {
    name: 'shutil copy, move, rmtree',
    code: 'import shutil\nshutil.copy("a.csv", "b.csv")\nshutil.move("b.csv", "/usr/local/b.csv")\nshutil.rmtree("build")\n',
    findings: [
      found('file.write', 2, 'shutil.copy', 'b.csv'),
      found('file.write_outside', 3, 'shutil.move', '/usr/local/b.csv'),
      found('file.delete', 4, 'shutil.rmtree', 'build'),
    ],
  },
  {
    name: 'os deletes and renames',
    code: 'import os\nos.remove("x.txt")\nos.unlink("/etc/hosts")\nos.rename("a", "b")\n',
    findings: [
      found('file.delete', 2, 'os.remove', 'x.txt'),
      found('file.delete', 3, 'os.unlink', '/etc/hosts'),
      found('file.write', 4, 'os.rename', 'b'),
    ],
  },
  {
    name: 'reads outside the workspace',
    code: 'import pandas as pd\nsecret = open("/etc/shadow").read()\npd.read_csv("/root/data.csv")\n',
    findings: [
      found('file.read_outside', 2, 'open', '/etc/shadow'),
      found('file.read_outside', 3, 'pandas.read_csv', '/root/data.csv'),
    ],
  },
  // ---- serialization ----
  {
    name: 'pickle loads and dumps',
    code: 'import pickle\nobj = pickle.loads(b"")\nblob = pickle.dumps(obj)\n',
    findings: [
      found('serialization.pickle', 2, 'pickle.loads'),
      found('serialization.pickle_dump', 3, 'pickle.dumps'),
    ],
  },
  {
    name: 'pickle behind other APIs',
    code: 'import pandas as pd\nimport numpy as np\nimport joblib\npd.read_pickle("frame.pkl")\njoblib.load("model.joblib")\nnp.load("a.npy", allow_pickle=True)\nnp.load("b.npy")\n',
    findings: [
      found('serialization.pickle', 4, 'pandas.read_pickle'),
      found('serialization.pickle', 5, 'joblib.load'),
      found('serialization.pickle', 6, 'numpy.load'),
    ],
  },
  {
    name: 'marshal',
    code: 'import marshal\ncode = marshal.loads(b"")\n',
    findings: [found('serialization.marshal', 2, 'marshal.loads')],
  },
  {
    name: 'yaml with an unsafe loader',
    code: 'import yaml\ntext = "a: 1"\nyaml.load(text, Loader=yaml.Loader)\nyaml.safe_load(text)\nyaml.load(text, Loader=yaml.SafeLoader)\n',
    findings: [found('serialization.yaml', 3, 'yaml.load')],
  },
  // ---- clean code ----
  {
    name: 'pandas and matplotlib analysis writing into the workspace',
    code: [
      'import pandas as pd',
      'import matplotlib.pyplot as plt',
      'df = pd.DataFrame({"region": ["n", "s"], "revenue": [1.0, 2.5]})',
      'summary = df.groupby("region")["revenue"].sum()',
      'summary.to_csv("out.csv")',
      'fig, ax = plt.subplots()',
      'summary.plot.bar(ax=ax)',
      'fig.savefig("chart.png")',
      'print(summary.describe())',
    ].join('\n'),
    findings: [
      found('file.write', 5, 'summary.to_csv', 'out.csv'),
      found('file.write', 8, 'fig.savefig', 'chart.png'),
    ],
  },
  {
    name: 'plain computation',
    code: 'import math\nimport json\nvalues = [math.sqrt(i) for i in range(10)]\nprint(json.dumps({"total": sum(values)}))\ntext = str(values)\n',
    findings: [],
  },
];

describe('analyze: the corpus', () => {
  const engine = useEngine({ pool: { size: 0 } });
  let session: Session;
  beforeAll(async () => {
    session = await engine.vv.createSession({ preload: [] });
  });

  it('covers every rule the kernel side reports', () => {
    const covered = new Set(CORPUS.flatMap((entry) => entry.findings.map(([ruleId]) => ruleId)));
    // Added by the policy (import lists, parse) or tested below (deep nesting).
    const elsewhere = new Set([
      'syntax.error',
      'syntax.incomplete',
      'import.denied',
      'import.not_allowed',
      'import.missing',
    ]);
    expect(RULE_IDS.filter((id) => !covered.has(id) && !elsewhere.has(id))).toEqual([]);
    expect(CORPUS.length).toBeGreaterThanOrEqual(40);
  });

  for (const entry of CORPUS) {
    it(entry.name, async () => {
      const result = await analyze(session, entry.code, { approvalMode: 'on_risk' });
      expect(analysisResultSchema.safeParse(result).success).toBe(true);
      expect(result.syntaxError).toBeNull();
      expect(shape(result)).toEqual(entry.findings);
      // The decision follows the severities: any warning asks, infos alone allow.
      const warned = result.findings.some((finding) => finding.severity === 'warning');
      expect(result.decision.outcome).toBe(warned ? 'needs_approval' : 'allow');
    });
  }
});

describe('analyze: imports, syntax, decisions, options', () => {
  const engine = useEngine({ pool: { size: 0 } });
  let session: Session;
  beforeAll(async () => {
    session = await engine.vv.createSession({ preload: [] });
  });

  it('classifies imports as stdlib, installed and missing, with their aliases', async () => {
    const result = await analyze(
      session,
      'import json\nimport numpy as np\nimport definitely_not_installed_xyz\nfrom os import path as p\nfrom math import *\n',
    );
    expect(result.imports).toEqual([
      { module: 'json', alias: 'json', line: 1, kind: 'stdlib' },
      { module: 'numpy', alias: 'np', line: 2, kind: 'installed' },
      {
        module: 'definitely_not_installed_xyz',
        alias: 'definitely_not_installed_xyz',
        line: 3,
        kind: 'missing',
      },
      { module: 'os', alias: 'p', line: 4, kind: 'stdlib' },
      { module: 'math', alias: null, line: 5, kind: 'stdlib' },
    ]);
    expect(result.findings).toEqual([
      expect.objectContaining({
        ruleId: 'import.missing',
        severity: 'info',
        line: 3,
        symbol: 'definitely_not_installed_xyz',
      }),
    ]);
    expect(result.decision.outcome).toBe('allow');
  });

  it('tracks a literal dynamic import as an import', async () => {
    const result = await analyze(session, 'import importlib\nsp = importlib.import_module("subprocess")\n');
    expect(result.imports).toEqual([
      { module: 'importlib', alias: 'importlib', line: 1, kind: 'stdlib' },
      { module: 'subprocess', alias: 'sp', line: 2, kind: 'stdlib' },
    ]);
  });

  it('reports a syntax error with line and column, and denies', async () => {
    const result = await analyze(session, 'total = 1\nvalues = (1, 2\nprint(values)\n', {
      approvalMode: 'never',
    });
    expect(result.syntaxError).toEqual({
      message: "'(' was never closed",
      line: 2,
      column: 10,
      text: 'values = (1, 2\n         ^',
    });
    expect(result.findings).toEqual([
      expect.objectContaining({ ruleId: 'syntax.error', severity: 'critical', line: 2, column: 10 }),
    ]);
    expect(result.decision.outcome).toBe('deny');
    expect(result.decision.reasons[0]).toContain(
      "syntax.error at line 2: the code does not parse: SyntaxError: '(' was never closed",
    );
  });

  it('decides by approval mode', async () => {
    const risky = 'import os\nos.system("ls")\n';
    const clean = 'print(1 + 1)\n';
    const decisions = await Promise.all(
      (['never', 'on_risk', 'always'] as const).flatMap((approvalMode) => [
        analyze(session, risky, { approvalMode }),
        analyze(session, clean, { approvalMode }),
      ]),
    );
    expect(decisions.map((result) => result.decision.outcome)).toEqual([
      'allow',
      'allow',
      'needs_approval',
      'allow',
      'needs_approval',
      'needs_approval',
    ]);
    expect(decisions[2]?.decision.reasons).toEqual([
      'process.system at line 2 (`os.system`): `os.system` runs a shell command',
    ]);
    expect(decisions[5]?.decision.reasons).toEqual([
      'approval mode `always`: every version of the code waits for a human decision',
    ]);
  });

  it('applies policy overrides: a denied import and a rule made critical deny, `off` drops', async () => {
    const code = 'import socket\nimport os\neval("1")\nos.system("ls")\n';
    const result = await analyze(session, code, {
      policy: {
        imports: { deny: ['socket'] },
        rules: { 'dynamic.eval': 'off', 'process.system': 'critical' },
      },
    });
    expect(result.findings.map((finding) => [finding.ruleId, finding.severity])).toEqual([
      ['import.denied', 'critical'],
      ['network.import', 'info'],
      ['process.system', 'critical'],
    ]);
    expect(result.decision.outcome).toBe('deny');
    expect(result.decision.reasons).toHaveLength(2);
    const allowList = await analyze(session, 'import json\nimport pandas.io\n', {
      policy: { imports: { allow: ['pandas'] } },
    });
    expect(allowList.findings.map((finding) => [finding.ruleId, finding.symbol])).toEqual([
      ['import.not_allowed', 'json'],
    ]);
  });

  it('judges for the execution mode: the session mode by default, or the one asked', async () => {
    const code = 'import requests\nrequests.get("https://example.com")\nopen("out.csv", "w")\n';
    const readOnly = await engine.vv.createSession({ preload: [], mode: 'read_only' });
    const inSession = await analyze(readOnly, code);
    expect(inSession.decision.mode).toBe('read_only');
    const byRule = Object.fromEntries(inSession.findings.map((finding) => [finding.ruleId, finding]));
    expect(byRule['network.http']?.message).toContain('no network in `read_only` mode');
    expect(byRule['file.write']).toMatchObject({ severity: 'warning', path: 'out.csv' });
    expect(byRule['file.write']?.message).toContain('the workspace is read-only');
    const networked = await analyze(readOnly, code, { mode: 'network' });
    expect(networked.decision.mode).toBe('network');
    const networkedByRule = Object.fromEntries(
      networked.findings.map((finding) => [finding.ruleId, finding]),
    );
    expect(networkedByRule['network.http']?.message).toContain("shares the host's network");
    expect(networkedByRule['file.write']?.severity).toBe('info');
  });

  it('bounds the findings and survives deep nesting with a partial result', async () => {
    const many = await analyze(session, Array.from({ length: 600 }, () => 'eval("1")').join('\n'));
    expect(many.findings).toHaveLength(500);
    expect(many.notes).toContain('findings capped at 500: the code has more');
    const deep = await analyze(session, `import os\nx = ${'-'.repeat(900)}1\nos.system("late")\n`);
    expect(deep.findings.map((finding) => [finding.ruleId, finding.line])).toEqual([
      ['syntax.incomplete', 2],
      ['process.system', 3],
    ]);
    expect(deep.notes.join(' ')).toContain('nests too deeply');
    const unparsable = await analyze(
      session,
      `x = ${Array.from({ length: 100_000 }, () => '1').join('+')}\n`,
    );
    expect(unparsable.findings.map((finding) => finding.ruleId)).toEqual(['syntax.incomplete']);
    expect(unparsable.decision.outcome).toBe('needs_approval');
  });

  it('never runs the code', async () => {
    await analyze(session, 'open("ran.txt", "w").write("yes")\nraise SystemExit(3)\n');
    const listing = await session.files.list();
    expect(listing.entries.map((entry) => entry.path)).not.toContain('ran.txt');
    expect(session.state).toBe('idle');
  });

  it('hashes the code and refuses bad options with the house message', async () => {
    const code = 'print("héllo")\n';
    const result = await analyze(session, code);
    expect(result.codeHash).toBe(createHash('sha256').update(code, 'utf8').digest('hex'));
    const badMode = await analyze(session, code, { mode: 'yolo' as never }).catch((error: unknown) => error);
    expect(isVivariumError(badMode, 'INVALID_ARGUMENT')).toBe(true);
    expect((badMode as Error).message).toBe(
      'Expected `mode` to be one of "read_only", "workspace_write", "network", got `yolo` (string)',
    );
    const badRule = await analyze(session, code, {
      policy: { rules: { 'process.nope': 'off' } as never },
    }).catch((error: unknown) => error);
    expect(isVivariumError(badRule, 'INVALID_ARGUMENT')).toBe(true);
    expect((badRule as Error).message).toContain('`process.nope`');
    const badCode = await analyze(session, 42 as unknown as string).catch((error: unknown) => error);
    expect((badCode as Error).message).toContain('Expected `code` to be a string');
  });
});

describe('vv.analyze with the engine, and the config policy', () => {
  const engine = useEngine({
    pool: { size: 0 },
    policy: { approvalMode: 'never', imports: { deny: ['ctypes'] }, rules: { 'file.write': 'warning' } },
  });

  it('uses config `policy` through the engine, in a short-lived session', async () => {
    const result = await engine.vv.analyze('import ctypes\nopen("out.txt", "w")\n');
    expect(result.decision).toMatchObject({
      outcome: 'deny',
      approvalMode: 'never',
      mode: 'workspace_write',
    });
    expect(result.findings.map((finding) => [finding.ruleId, finding.severity])).toEqual([
      ['import.denied', 'critical'],
      ['native.import', 'info'],
      ['file.write', 'warning'],
    ]);
    // The short-lived session is gone.
    expect(engine.vv.listSessions()).toEqual([]);
  });

  it('uses config `policy` with a session too, and options over it', async () => {
    const session = await engine.vv.createSession({ preload: [] });
    const result = await analyze(session, 'open("out.txt", "w")\n', { approvalMode: 'on_risk' });
    expect(result.findings[0]?.severity).toBe('warning');
    expect(result.decision.outcome).toBe('needs_approval');
    const relaxed = await analyze(session, 'open("out.txt", "w")\n', {
      approvalMode: 'on_risk',
      policy: { rules: { 'file.write': 'info' } },
    });
    expect(relaxed.decision.outcome).toBe('allow');
    await session.close();
  });
});

describe('HTTP: POST /v1/analyze', () => {
  const service = useService();

  it('answers the analysis, with or without a session, and checks the owner', async () => {
    const key = service.keys.a;
    const alone = await api(service.url, 'POST', '/v1/analyze', {
      key,
      json: { code: 'import os\nos.system("ls")\n', approvalMode: 'on_risk' },
    });
    expect(alone.status, alone.text).toBe(200);
    expect(analysisResultSchema.safeParse(alone.body).success).toBe(true);
    expect(alone.body.decision).toMatchObject({ outcome: 'needs_approval', mode: 'workspace_write' });
    expect(alone.body.findings[0]).toMatchObject({ ruleId: 'process.system', symbol: 'os.system', line: 2 });

    const created = await api(service.url, 'POST', '/v1/sessions', { key, json: { mode: 'read_only' } });
    expect(created.status, created.text).toBe(201);
    const inSession = await api(service.url, 'POST', '/v1/analyze', {
      key,
      json: { code: 'x = 1\n', sessionId: created.body.id, approvalMode: 'always' },
    });
    expect(inSession.status, inSession.text).toBe(200);
    expect(inSession.body.decision).toMatchObject({ outcome: 'needs_approval', mode: 'read_only' });

    const foreign = await api(service.url, 'POST', '/v1/analyze', {
      key: service.keys.b,
      json: { code: 'x = 1\n', sessionId: created.body.id },
    });
    expect(foreign.status).toBe(404);

    const audit = (await service.service.store.listAudit({ limit: 50 })).filter(
      (entry) => entry.action === 'analysis.run',
    );
    expect(audit.map((entry) => entry.status)).toEqual(['SESSION_NOT_FOUND', 'ok', 'ok']);
    expect(audit[1]).toMatchObject({
      target: created.body.id,
      details: { codeHash: inSession.body.codeHash, outcome: 'needs_approval', mode: 'read_only' },
    });
  });

  it('400 on a bad mode, naming the valid ones; 413 past the code cap', async () => {
    const key = service.keys.a;
    const bad = await api(service.url, 'POST', '/v1/analyze', { key, json: { code: '1', mode: 'yolo' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_ARGUMENT');
    expect(bad.body.error.message).toContain('"read_only", "workspace_write", "network"');
    const badApproval = await api(service.url, 'POST', '/v1/analyze', {
      key,
      json: { code: '1', approvalMode: 'sometimes' },
    });
    expect(badApproval.status).toBe(400);
    expect(badApproval.body.error.message).toContain('"never", "on_risk", "always"');
    const huge = await api(service.url, 'POST', '/v1/analyze', {
      key,
      json: { code: 'x = 1\n'.repeat(Math.ceil((service.config.server.maxCodeBytes + 10) / 6)) },
    });
    expect(huge.status).toBe(413);
    const unauthenticated = await api(service.url, 'POST', '/v1/analyze', { json: { code: '1' } });
    expect(unauthenticated.status).toBe(401);
    const openapi = await api<{ paths: Record<string, unknown> }>(service.url, 'GET', '/docs/json');
    expect(Object.keys(openapi.body.paths)).toContain('/v1/analyze');
  });
});

describe('vivarium analyze', () => {
  let scratch: { path: string; remove: () => Promise<void> };
  let data: { path: string; remove: () => Promise<void> };
  beforeAll(async () => {
    assertCliBuilt();
    scratch = await temporaryDirectory('vivarium-analyze-');
    data = await temporaryDirectory('vivarium-analyze-data-');
  });
  afterAll(async () => {
    await scratch?.remove();
    await data?.remove();
  });

  it('prints the decision, reasons, findings and imports; exit codes follow the decision', async () => {
    const risky = join(scratch.path, 'risky.py');
    await writeFile(risky, 'import os as o\nimport json\no.system("ls")\nopen("/etc/passwd", "a")\n');
    const table = await runCli(['analyze', risky, '--data', data.path]);
    expect(table.code, table.stderr).toBe(3);
    expect(table.stdout).toContain(`${risky}: needs_approval (mode workspace_write, approval mode on_risk)`);
    expect(table.stdout).toContain('  - process.system at line 3 (`os.system`)');
    expect(table.stdout).toMatch(/LINE\s+COL\s+RULE\s+SEVERITY\s+SYMBOL\s+PATH/);
    expect(table.stdout).toMatch(/4\s+1\s+file\.write_outside\s+warning\s+open\s+\/etc\/passwd/);
    expect(table.stdout).toMatch(/1\s+os as o\s+stdlib/);

    const never = await runCli(['analyze', risky, '--approval-mode', 'never', '--data', data.path]);
    expect(never.code, never.stderr).toBe(0);

    const json = await runCli(['analyze', risky, '--json', '--mode', 'network', '--data', data.path]);
    expect(json.code).toBe(3);
    const parsed = analysisResultSchema.parse(JSON.parse(json.stdout));
    expect(parsed.decision.mode).toBe('network');
    expect(parsed.findings.map((finding) => finding.ruleId)).toEqual([
      'process.system',
      'file.write_outside',
    ]);

    const broken = join(scratch.path, 'broken.py');
    await writeFile(broken, 'x = (1,\n');
    const denied = await runCli(['analyze', broken, '--data', data.path]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain(': deny (');
    expect(denied.stdout).toContain('syntax.error at line 1');

    const clean = join(scratch.path, 'clean.py');
    await writeFile(clean, 'import math\nprint(math.pi)\n');
    const allowed = await runCli(['analyze', clean, '--data', data.path]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain('findings: none');
  });

  it('exit 2 on a bad flag or a missing file', async () => {
    const file = join(scratch.path, 'any.py');
    await writeFile(file, '1\n');
    const badMode = await runCli(['analyze', file, '--mode', 'yolo', '--data', data.path]);
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toContain(
      'Expected `--mode` to be one of `read_only`, `workspace_write`, `network`',
    );
    const badApproval = await runCli(['analyze', file, '--approval-mode', 'maybe', '--data', data.path]);
    expect(badApproval.code).toBe(2);
    expect(badApproval.stderr).toContain('`--approval-mode`');
    const missing = await runCli(['analyze', join(scratch.path, 'nope.py'), '--data', data.path]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
  });
});
