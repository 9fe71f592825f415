// The examples under examples/, run as a user runs them, in a lab of this file's own (root, namespaces): the
// node:http server on our stack takes its address from dnsmasq and answers curl from the host-only peer; the UDP
// echo answers the peer kernel's datagrams; fetch() gets a file from the peer by its name, peer.lab.
// In CI (CI=true) nothing skips.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, lastJsonLine, need, nodeProgram, prerequisites, sigterm, waitForStack, type KnownPid } from './lab.ts';
import type { UdpPingReport } from './programs/udp-ping.ts';
import { repoRoot, stopTree, waitForOutput, type Started } from './service-process.ts';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const lab = new Lab('mexa');
const PORT = 8080;
const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'curl']);

describe.skipIf(PREREQUISITES.skip)('the examples, each on a TAP by DHCP (root, real namespaces, dnsmasq, curl)', () => {
  let run: Started | undefined;
  let tmp = '';
  const knownPids: KnownPid[] = [];

  beforeAll(async () => {
    PREREQUISITES.demand();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'examples-e2e-'));
    await lab.up();
  });

  afterAll(async () => {
    if (run !== undefined) await stopTree(run, 5000, knownPids);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  it('examples/http-server.ts: node:http over our stack serves curl from the peer, and stops on SIGTERM', { timeout: 60_000 }, async () => {
    run = lab.spawnInLab([process.execPath, '--import', 'tsx', path.join(repoRoot, 'examples/http-server.ts'), 'br0', String(PORT), path.join(tmp, 'lease.json')], 60_000);
    const m = await waitForStack(run, /^listening on (192\.168\.77\.\d+):8080$/m, 30_000, knownPids);
    const addr = need(m[1], 'the address');
    const r = await lab.curlInPeer(['-s', '-w', '\n%{http_code}', `http://${addr}:${PORT}/from-the-peer`]);
    expect(r.stdout, r.stderr).toBe('hello from node:http on mirage-direct-ts (GET /from-the-peer)\n\n200');
    expect(await sigterm(run)).toBe(0);
    run = undefined;
    expect(await lab.taps()).toBe('');
  });

  it('examples/udp-echo.ts: the kernel\'s UDP from the peer gets each of 50 datagrams back, byte-exact', { timeout: 60_000 }, async () => {
    run = lab.spawnInLab([process.execPath, '--import', 'tsx', path.join(repoRoot, 'examples/udp-echo.ts'), 'br0', '7', path.join(tmp, 'lease-udp.json')], 60_000);
    const m = await waitForStack(run, /^echoing on (192\.168\.77\.\d+):7$/m, 30_000, knownPids);
    const r = await lab.programInPeer('udp-ping.ts', [need(m[1], 'the address'), '7', '50', '20000'], 30_000);
    const rep = lastJsonLine<UdpPingReport>(r, 'udp-ping.ts');
    expect(rep).toMatchObject({ echoed: 50, wrong: 0, how: 'done' });
    expect(await sigterm(run)).toBe(0);
    run = undefined;
  });

  it('examples/fetch.ts: fetch http://peer.lab:PORT/file, the name from dnsmasq, the body from the peer kernel', { timeout: 60_000 }, async () => {
    const file = path.join(tmp, 'file');
    writeFileSync(file, randomBytes(123_456));
    const srv = lab.spawnInPeer(nodeProgram('http-file-server.ts', [file, '192.168.77.1', '45000']), 50_000);
    try {
      const port = Number((await waitForOutput(srv, /listening on (\d+)/, 15_000))[1]);
      const r = await lab.inLab([process.execPath, '--import', 'tsx', path.join(repoRoot, 'examples/fetch.ts'), `http://peer.lab:${port}/file`, 'br0', path.join(tmp, 'lease-fetch.json')], 40_000);
      expect(r.stdout.trim(), r.stderr).toBe('200 123456');
      expect(r.code).toBe(0);
    } finally {
      await stopTree(srv, 2000);
    }
  });
});

