// The shape of the code, checked from its imports: every arrow points down (app/http → stack → tcp/udp → ip →
// link), src/arp and src/dhcp build on src/net and never the reverse, no two folders import each other round a
// circle, transport never names IPv4, and no file of src/net/tcp outgrows ~450 lines.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return files(p);
    return name.endsWith('.ts') ? [p] : [];
  });
}

/** Each source file (relative to src/) with the source files it imports (type-only imports included). */
const graph: Map<string, string[]> = new Map(
  files(SRC).map((file) => {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gms)]
      .map((m) => path.relative(SRC, path.resolve(path.dirname(file), m[1] ?? '')))
      .filter((t) => !t.startsWith('..'));
    return [path.relative(SRC, file), targets];
  }),
);

/** A file's folder under src/ ('net', 'net/tcp', 'arp', …), or '.' for the files at the top. */
const folder = (file: string): string => path.dirname(file);
const top = (file: string): string => file.split(path.sep)[0] ?? '';

/** The files at the top of src/ that every layer may use: the clock and randomness they are given. */
const SHARED = new Set(['clock.ts', 'random.ts']);

describe('architecture', () => {
  it('reads the imports of every source file', () => {
    expect(graph.size).toBeGreaterThan(60);
    expect(graph.get(path.join('stack', 'stack.ts'))).toContain(path.join('net', 'ipv4.ts'));
  });

  it('src/net imports nothing above it: not the root, src/arp, src/dhcp, src/http, src/app or the command line', () => {
    const up = [...graph].flatMap(([file, targets]) =>
      top(file) === 'net' ? targets.filter((t) => top(t) !== 'net' && !SHARED.has(t)).map((t) => `${file} -> ${t}`) : [],
    );
    expect(up).toEqual([]);
  });

  it('src/arp, src/ndp and src/dhcp build on src/net only; nothing below src/stack imports it', () => {
    const bad = [...graph].flatMap(([file, targets]) => {
      const t0 = top(file);
      if (t0 === 'arp' || t0 === 'ndp' || t0 === 'dhcp') return targets.filter((t) => !['net', t0].includes(top(t)) && !SHARED.has(t)).map((t) => `${file} -> ${t}`);
      if (['net', 'http', 'app'].includes(t0)) return targets.filter((t) => top(t) === 'stack').map((t) => `${file} -> ${t}`);
      return [];
    });
    expect(bad).toEqual([]);
  });

  it('the command line (cli.ts, main.ts) is imported by no layer: it only parses flags and starts things', () => {
    const bad = [...graph].flatMap(([file, targets]) =>
      folder(file) === '.' ? [] : targets.filter((t) => t === 'cli.ts' || t === 'main.ts').map((t) => `${file} -> ${t}`),
    );
    expect(bad).toEqual([]);
  });

  it('transport never imports the IPv4 layer: TCP and UDP see the network through src/net/ip.ts', () => {
    const transport = [...graph].filter(([file]) => folder(file) === path.join('net', 'tcp') || file === path.join('net', 'udp.ts') || file === path.join('net', 'udp-wire.ts'));
    expect(transport.length).toBeGreaterThan(10);
    const named = transport.flatMap(([file, targets]) => targets.filter((t) => /ipv4/.test(path.basename(t))).map((t) => `${file} -> ${t}`));
    expect(named).toEqual([]);
  });

  it('no circle of imports between folders (the files at the top of src/ each count as one)', () => {
    const node = (f: string): string => (folder(f) === '.' ? f : folder(f));
    const edges = new Map<string, Set<string>>();
    for (const [file, targets] of graph) {
      for (const t of targets) {
        if (node(t) === node(file)) continue;
        const set = edges.get(node(file)) ?? new Set<string>();
        set.add(node(t));
        edges.set(node(file), set);
      }
    }
    // Depth-first search for a back edge; the circle found, if any, is the failure message.
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (f: string, trail: string[]): void => {
      state.set(f, 'open');
      for (const g of edges.get(f) ?? []) {
        if (state.get(g) === 'open') circles.push([...trail, f, g].join(' -> '));
        else if (state.get(g) === undefined) visit(g, [...trail, f]);
      }
      state.set(f, 'done');
    };
    for (const f of edges.keys()) if (state.get(f) === undefined) visit(f, []);
    expect(circles).toEqual([]);
  });

  it('no file of src/net/tcp is over ~450 lines', () => {
    const long = [...graph.keys()]
      .filter((f) => folder(f) === path.join('net', 'tcp'))
      .map((f) => [f, readFileSync(path.join(SRC, f), 'utf8').split('\n').length] as const)
      .filter(([, n]) => n > 460);
    expect(long).toEqual([]);
  });
});
