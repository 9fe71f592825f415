// Names, for real, as root: the lab's dnsmasq (scripts/setup-bridge.sh) serves peer.lab for the host-only peer and
// names itself as the DNS server in its DHCP offer. `npm run get http://peer.lab:PORT/file` takes its lease, asks
// dnsmasq over our UDP, and downloads from the peer kernel's HTTP server; a name that does not exist fails with
// ENOTFOUND, exit 1. The library's stack.lookup is the same resolver. In CI (CI=true) nothing skips.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, nodeProgram, prerequisites } from './lab.ts';
import { stopTree, waitForOutput } from './service-process.ts';

const lab = new Lab('mdns');
const PREREQUISITES = await prerequisites(['ip', 'dnsmasq']);

describe.skipIf(PREREQUISITES.skip)('DNS through the lab\'s dnsmasq (root, real namespaces)', () => {
  let tmp = '';

  beforeAll(async () => {
    PREREQUISITES.demand();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'dns-e2e-'));
    await lab.up();
  });

  afterAll(async () => {
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  const get = async (url: string, out: string, mac: string): Promise<{ code: number | null; output: string }> => {
    const args = [url, '-o', out, '--bridge', 'br0', '--mac', mac, '--ipv6', 'off', '--hostname', `get-${mac.slice(-2)}`, '--dhcp-state', path.join(tmp, `lease-${mac.replaceAll(':', '')}.json`), '--timeout', '30'];
    const g = lab.spawnInLab(['npm', 'run', 'get', '--', ...args], 40_000, 'SIGKILL');
    const code = await g.exited;
    return { code, output: g.output() };
  };

  it('npm run get http://peer.lab:PORT/file: resolved by dnsmasq over our UDP, downloaded byte-exact', { timeout: 60_000 }, async () => {
    const content = randomBytes(200_000);
    const file = path.join(tmp, 'file');
    writeFileSync(file, content);
    const srv = lab.spawnInPeer(nodeProgram('http-file-server.ts', [file, '192.168.77.1', '45000']), 50_000);
    try {
      const port = Number((await waitForOutput(srv, /listening on (\d+)/, 15_000))[1]);
      const out = path.join(tmp, 'got');
      const r = await get(`http://peer.lab:${port}/file`, out, '02:00:5e:00:00:4d');
      expect(r.code, r.output.slice(-2000)).toBe(0);
      expect(r.output).toMatch(/^get: peer\.lab is 192\.168\.77\.1$/m);
      expect(r.output).toMatch(/^get: 200 .*, 200000 bytes in /m);
      expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(createHash('sha256').update(content).digest('hex'));
      // DHCP carried the name given (option 12), and the lease named the domain (option 15) that we asked for.
      expect(lab.dnsmasqLog()).toMatch(/client provides name: get-4d/);
      expect(lab.dnsmasqLog()).toMatch(/sent size:\s+\d+ option: 15 domain-name\s+lab/);
    } finally {
      await stopTree(srv, 2000);
    }
  });

  it('a name dnsmasq does not know: ENOTFOUND, exit 1', { timeout: 60_000 }, async () => {
    const r = await get('http://nosuch.lab/', path.join(tmp, 'none'), '02:00:5e:00:00:4e');
    expect(r.code, r.output.slice(-2000)).toBe(1);
    expect(r.output).toMatch(/ENOTFOUND nosuch\.lab: no such name/);
  });
});
