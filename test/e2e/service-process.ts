// Starting the real service with `npm start` and talking to it with real clients (curl, raw TCP).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs `npm start -- ARGS` and resolves once `readyPattern` appears in its output (or it exits). */
export function startService(args: string[], readyPattern: RegExp, timeoutMs = 20_000): Promise<Started> {
  const child = spawn('npm', ['start', '--', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started: Started = { child, output: () => out, exited };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (readyPattern.test(out)) {
        clearTimeout(timer);
        resolve(started);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(started);
    });
  });
}

/** Ends a process this test started, by its PID, and waits for it. */
export async function stop(s: Started, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (s.child.exitCode === null && s.child.pid !== undefined) process.kill(s.child.pid, signal);
  return s.exited;
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function curl(args: string[], timeoutMs = 15_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['--max-time', String(timeoutMs / 1000), ...args], { timeout: timeoutMs + 2000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Sends raw bytes over one TCP connection and collects everything until the server closes it. */
export function rawExchange(host: string, port: number, data: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host, () => sock.write(data));
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    sock.on('error', () => {});
  });
}

// --- Processes run under a namespace (or any wrapper) and plain commands, every one with a time limit. ---

/**
 * Starts `cmd args` (in the repo root) and collects its output, without waiting for anything. The process gets
 * `killSignal` once `timeoutMs` has passed, whatever happens to the test. `exited` resolves with the exit code
 * once the output is drained (or shortly after exit, should a grandchild keep the pipes open).
 */
export function spawnProcess(cmd: string, args: string[], timeoutMs: number, killSignal: NodeJS.Signals = 'SIGTERM'): Started {
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal });
  let out = '';
  const onData = (d: Buffer): void => {
    out += d.toString();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('exit', (code) => setTimeout(() => resolve(code), 2000).unref());
    child.on('error', () => resolve(null));
  });
  return { child, output: () => out, exited };
}

/** Resolves with the first match of `pattern` in the output; rejects when the process exits or time runs out. */
export function waitForOutput(s: Started, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, m?: RegExpExecArray): void => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      if (m !== undefined) resolve(m);
      else reject(err ?? new Error('no match'));
    };
    const check = (): boolean => {
      const m = pattern.exec(s.output());
      if (m !== null) finish(undefined, m);
      return m !== null;
    };
    const poll = setInterval(check, 50);
    const timer = setTimeout(() => {
      if (!check()) finish(new Error(`${pattern} did not appear within ${timeoutMs} ms; output:\n${s.output()}`));
    }, timeoutMs);
    void s.exited.then((code) => {
      if (!check()) finish(new Error(`exited (${code}) before ${pattern} appeared; output:\n${s.output()}`));
    });
    check();
  });
}

export interface CommandResult {
  /** The exit code; null when killed by a signal (the time limit included). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, SIGKILLed after `timeoutMs`; never rejects. */
export function runCommand(cmd: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: repoRoot, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr: err !== null && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr });
    });
  });
}

/** The start time of `pid` (clock ticks since boot, /proc/PID/stat field 22), or undefined when it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The live descendants of `pid` (children first), read from /proc, each with its start time. */
export function descendantPids(pid: number): { pid: number; start: string }[] {
  const children = new Map<number, { pid: number; start: string }[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^[0-9]+$/.test(e));
  } catch {
    return [];
  }
  for (const e of entries) {
    try {
      const fields = readFileSync(`/proc/${e}/stat`, 'utf8');
      const rest = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      const start = rest[19];
      if (start === undefined) continue;
      const list = children.get(ppid) ?? [];
      list.push({ pid: Number(e), start });
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out: { pid: number; start: string }[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

/**
 * Ends a process this test started and everything it started, by pid: SIGTERM to the process first, then,
 * after `graceMs`, SIGKILL to whatever of it and its descendants (as found now, plus `known` ones found earlier,
 * which may have been orphaned since) is still there. A pid is only signalled while it still has the start time
 * it had, so a reused pid is never hit.
 */
export async function stopTree(s: Started, graceMs = 5000, known: { pid: number; start: string }[] = []): Promise<void> {
  const pid = s.child.pid;
  if (pid === undefined) return;
  const running = s.child.exitCode === null && s.child.signalCode === null;
  // Once our child has exited its pid may be reused: then only the `known` pids are candidates.
  const tree = [...(running ? [{ pid, start: startTime(pid) ?? '' }, ...descendantPids(pid)] : []), ...known];
  if (running) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await Promise.race([s.exited, new Promise((r) => setTimeout(r, graceMs))]);
  }
  for (const p of tree.reverse()) {
    if (p.start !== '' && startTime(p.pid) === p.start) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

// --- Long-lived helpers driven over stdin, and a process's memory. ---

export interface Interactive extends Started {
  /** Writes one line to the process's stdin; false once stdin is closed. */
  send(line: string): boolean;
  /** Closes the process's stdin (a well-behaved helper then exits). */
  endInput(): void;
}

/**
 * As spawnProcess, with stdin a pipe: for helpers a test drives line by line (a client kept running in a
 * namespace, say). The process gets `killSignal` once `timeoutMs` has passed, whatever happens to the test.
 */
export function spawnInteractive(cmd: string, args: string[], timeoutMs: number, killSignal: NodeJS.Signals = 'SIGTERM'): Interactive {
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal });
  let out = '';
  const onData = (d: Buffer): void => {
    out += d.toString();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.stdin.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('exit', (code) => setTimeout(() => resolve(code), 2000).unref());
    child.on('error', () => resolve(null));
  });
  return {
    child,
    output: () => out,
    exited,
    send: (line) => child.stdin.writable && child.stdin.write(`${line}\n`),
    endInput: () => child.stdin.end(),
  };
}

/** The first live descendant of `pid` whose command line matches `pattern` (e.g. the node under `npm start`). */
export function findDescendant(pid: number, pattern: RegExp): number | undefined {
  for (const d of descendantPids(pid)) {
    try {
      if (pattern.test(readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').split('\0').join(' '))) return d.pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** A process's resident set (VmRSS) and its peak (VmHWM) in KiB, from /proc/PID/status; undefined when it is gone. */
export function memoryKiB(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    const peak = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    if (rss === undefined || peak === undefined) return undefined;
    return { rss: Number(rss), peak: Number(peak) };
  } catch {
    return undefined;
  }
}

// --- Helpers without new imports: tools on PATH, a file's digest (the lab's own helpers are in lab.ts). ---

/** True when `tool` is on PATH or in /usr/sbin or /sbin (where root's tools live when PATH lacks them). */
export async function haveTool(tool: string): Promise<boolean> {
  if (!/^[A-Za-z0-9_.+-]+$/.test(tool)) return false;
  const r = await runCommand('bash', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool} || test -x /sbin/${tool}`], 5000);
  return r.code === 0;
}

/** The hex SHA-256 of a file (sha256sum, so a large file never sits in the test's memory). */
export async function sha256File(file: string, timeoutMs = 60_000): Promise<string> {
  const r = await runCommand('sha256sum', ['--', file], timeoutMs);
  const hex = /^([0-9a-f]{64})\s/.exec(r.stdout)?.[1];
  if (r.code !== 0 || hex === undefined) throw new Error(`sha256sum ${file} exited ${r.code}: ${r.stderr}`);
  return hex;
}
