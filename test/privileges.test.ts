// The privilege drop's parts that run without becoming another user: looking users up, reading what
// /proc/PID/status says, and refusing --user when not started as root. The drop itself is tested end to end
// (test/e2e/https.test.ts reads the running service's /proc/PID/status).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropPrivileges, groupName, lookupUser, privilegeStatus, PrivilegeError } from '../src/privileges.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'privileges-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('lookupUser', () => {
  const passwd = path.join(tmp, 'passwd');
  writeFileSync(passwd, ['root:x:0:0:root:/root:/bin/bash', '# a comment', '', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin', 'auth:x:998:997::/var/lib/auth:/usr/sbin/nologin'].join('\n'));

  it('finds a user by name or by uid, with its primary group', () => {
    expect(lookupUser('nobody', passwd)).toEqual({ name: 'nobody', uid: 65534, gid: 65534 });
    expect(lookupUser('998', passwd)).toEqual({ name: 'auth', uid: 998, gid: 997 });
    expect(lookupUser('root', passwd)).toEqual({ name: 'root', uid: 0, gid: 0 });
  });

  it('knows no user that is not there, and no file that cannot be read', () => {
    expect(lookupUser('mallory', passwd)).toBeUndefined();
    expect(lookupUser('1234', passwd)).toBeUndefined();
    expect(lookupUser('nobody', path.join(tmp, 'missing'))).toBeUndefined();
  });
});

describe('groupName', () => {
  it('names a group by gid, or gives the number back', () => {
    const group = path.join(tmp, 'group');
    writeFileSync(group, 'root:x:0:\nnogroup:x:65534:\n');
    expect(groupName(65534, group)).toBe('nogroup');
    expect(groupName(42, group)).toBe('42');
    expect(groupName(0, path.join(tmp, 'missing'))).toBe('0');
  });
});

describe('privilegeStatus', () => {
  it('reads Uid, CapEff, CapPrm and NoNewPrivs', () => {
    const status = path.join(tmp, 'status');
    writeFileSync(status, 'Name:\tnode\nUid:\t0\t65534\t65534\t65534\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\n');
    expect(privilegeStatus(status)).toEqual({ uid: 65534, capEff: '0000000000000000', capPrm: '0000000000000000', noNewPrivs: true });
  });

  it('reads this process', () => {
    const me = privilegeStatus();
    expect(me.uid).toBe(process.getuid?.());
    expect(me.capEff).toMatch(/^[0-9a-f]{16}$/);
  });
});

/** What dropPrivileges says in a process that is not root: this one, or (when the tests run as root) one run as nobody. */
function notRoot(user: string | undefined, setprivArgs: string[] = []): string {
  const code = `import { dropPrivileges } from './src/privileges.ts';
    try { console.log(dropPrivileges({ user: ${JSON.stringify(user)}, owned: [], writable: [], readable: [], rereadable: [] }).kind); }
    catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
  if (process.getuid?.() !== 0) {
    try {
      return dropPrivileges({ user, owned: [], writable: [], readable: [], rereadable: [] }).kind;
    } catch (e) {
      return e instanceof PrivilegeError ? `PrivilegeError: ${e.message}` : String(e);
    }
  }
  return execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...setprivArgs, process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: path.resolve(import.meta.dirname, '..'),
    encoding: 'utf8',
  }).trim();
}

describe('dropPrivileges', () => {
  it('not started as root: nothing to drop, and another --user is refused', () => {
    expect(notRoot(undefined)).toBe('not-root');
    expect(notRoot('root')).toBe('PrivilegeError: --user root needs the process to start as root');
  });

  it.skipIf(process.getuid?.() !== 0)('not root but holding CAP_NET_ADMIN (ambient): the capabilities are dropped', () => {
    expect(notRoot(undefined, ['--inh-caps=+net_admin', '--ambient-caps=+net_admin'])).toBe('caps-cleared');
  });

  it.skipIf(process.getuid?.() !== 0)('as root, --user root keeps root and says why that is a risk', () => {
    const out = dropPrivileges({ user: 'root', owned: [], writable: [], readable: [], rereadable: [] });
    expect(out.kind).toBe('kept-root');
    expect(out.warnings.join('\n')).toMatch(/parsed with root's privileges/);
    expect(() => dropPrivileges({ user: 'no-such-user-here', owned: [], writable: [], readable: [], rereadable: [] })).toThrow(/no such user/);
  });
});
