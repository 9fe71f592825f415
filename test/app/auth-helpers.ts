// Shared by the auth tests: an in-memory store, requests as the HTTP server builds them, response accessors.

import type { KvRo } from '../../src/app/kv-store.ts';
import type { HttpResponse } from '../../src/http/response.ts';
import type { HttpRequest } from '../../src/http/server.ts';

const encoder = new TextEncoder();

/** An in-memory kv_ro; `lookups` records every key asked for, `onGet` runs on every lookup (e.g. to move a clock). */
export class MemoryKv implements KvRo {
  readonly map = new Map<string, Uint8Array>();
  readonly lookups: string[] = [];
  onGet: () => void = () => {};

  constructor(entries: Record<string, string | Uint8Array> = {}) {
    for (const [k, v] of Object.entries(entries)) this.set(k, v);
  }

  set(key: string, value: string | Uint8Array): void {
    this.map.set(key, typeof value === 'string' ? encoder.encode(value) : value);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    this.lookups.push(key);
    this.onGet();
    return Promise.resolve(this.map.get(key));
  }
}

export interface RequestSpec {
  method?: string;
  path?: string;
  query?: Record<string, string>;
  /** The peer's address (default 192.0.2.1). */
  from?: string;
}

export function request(spec: RequestSpec = {}): HttpRequest {
  const path = spec.path ?? '/';
  const query = new Map<string, string>(Object.entries(spec.query ?? {}));
  const qs = [...query].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return {
    method: spec.method ?? 'GET',
    target: qs === '' ? path : `${path}?${qs}`,
    path,
    query,
    version: '1.1',
    headers: [],
    remote: { address: spec.from ?? '192.0.2.1', port: 40000 },
  };
}

export function login(user: string, password: string, from?: string): RequestSpec {
  return { query: { user, password }, ...(from === undefined ? {} : { from }) };
}

export function bodyText(res: HttpResponse): string {
  return typeof res.body === 'string' ? res.body : new TextDecoder().decode(res.body);
}

export function header(res: HttpResponse, name: string): string | undefined {
  return res.headers?.find(([n]) => n.toLowerCase() === name)?.[1];
}

/** Lets every promise callback that is ready run (no timers, no sleeping). */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
