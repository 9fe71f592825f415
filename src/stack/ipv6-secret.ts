// The secret of RFC 7217 stable interface identifiers, kept in a file beside the DHCP lease so that the
// addresses a host forms from each prefix stay the same across restarts (and differ from every other host's).

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { macToString, type MacAddr } from '../net/addr.ts';

/** RFC 7217 §5: at least 128 bits; we keep 256. */
const SECRET_BYTES = 32;

export function defaultIpv6SecretPath(stateDir: string, mac: MacAddr): string {
  return path.join(stateDir, `ipv6-secret-${macToString(mac).replaceAll(':', '-')}`);
}

/**
 * The secret in `file`, or a new random one written there (mode 0600, atomically) when it is missing or not a
 * secret of ours. `made` says which; a file that cannot be written leaves a secret for this run only.
 */
export function loadIpv6Secret(file: string): { secret: Uint8Array; made: boolean; error?: string } {
  try {
    const b = readFileSync(file);
    if (b.length === SECRET_BYTES) return { secret: new Uint8Array(b), made: false };
  } catch {
    // missing or unreadable: make one
  }
  const secret = new Uint8Array(randomBytes(SECRET_BYTES));
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    // Opened exclusively under a fresh name: never through a link planted in the (service-owned) directory.
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, secret);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    return { secret, made: true };
  } catch (err) {
    return { secret, made: true, error: err instanceof Error ? err.message : String(err) };
  }
}
