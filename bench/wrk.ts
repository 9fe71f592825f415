// wrk from the peer namespace against the auth service: a fixed duration, keep-alive or `Connection: close`.
//
// Requests rotate over USERS users (u0, u1, …, all with the password "password"): the login throttle counts
// attempts in progress per (user, address), so 64 concurrent logins of one user from one address would be
// answered 429 and the benchmark would measure the throttle instead of the stacks.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Lab } from './lab.ts';

export const USERS = 256;
export const PASSWORD = 'password';

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  seconds: number;
  non2xx: number;
  socketErrors: number;
  latencyMs: number;
}

/** The Lua script that makes wrk rotate users; written into `dir`, its path returned. */
export function writeWrkScript(dir: string): string {
  const file = path.join(dir, 'users.lua');
  writeFileSync(
    file,
    `local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/?user=u" .. (n % ${USERS}) .. "&password=${PASSWORD}")
end
`,
  );
  return file;
}

function unitMs(value: number, unit: string): number {
  return unit === 'us' ? value / 1000 : unit === 's' ? value * 1000 : unit === 'm' ? value * 60_000 : value;
}

/** Reads wrk's summary; throws when it printed none. */
export function parseWrk(out: string): WrkResult {
  const rps = /^Requests\/sec:\s+([0-9.]+)/m.exec(out);
  const total = /^\s+(\d+) requests in ([0-9.]+)(ms|s|m)/m.exec(out);
  if (rps === null || total === null) throw new Error(`wrk printed no summary:\n${out}`);
  const lat = /^\s+Latency\s+([0-9.]+)(us|ms|s|m)/m.exec(out);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSecond: Number(rps[1]),
    requests: Number(total[1]),
    seconds: unitMs(Number(total[2]), total[3] ?? 's') / 1000,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: errs === null ? 0 : errs.slice(1).reduce((s, v) => s + Number(v), 0),
    latencyMs: lat === null ? NaN : unitMs(Number(lat[1]), lat[2] ?? 'ms'),
  };
}

export interface WrkOptions {
  url: string;
  /** A Lua script (the user rotation); without it every request is the URL as given. */
  script: string | undefined;
  seconds: number;
  connections: number;
  threads: number;
  close: boolean;
}

export async function runWrk(lab: Lab, o: WrkOptions): Promise<WrkResult> {
  const args = ['wrk', `-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '5s'];
  if (o.script !== undefined) args.push('-s', o.script);
  if (o.close) args.push('-H', 'Connection: close');
  const r = await lab.inPeer([...args, o.url], (o.seconds + 30) * 1000);
  if (r.code !== 0) throw new Error(`wrk exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return parseWrk(r.stdout);
}
