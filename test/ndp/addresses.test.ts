// The interface's IPv6 addresses (RFC 4862, RFC 7217, RFC 7527, RFC 6724) with a hand-moved clock: DAD before
// use and its conflicts, stable identifiers, lifetimes and the two-hours rule, source address selection.

import { describe, expect, it } from 'vitest';
import { ipv6ToString, parseIpv6, solicitedNode } from '../../src/net/addr.ts';
import { Ipv6Addresses, type AddressOptions } from '../../src/ndp/addresses.ts';
import { mac } from '../net/frames.ts';

const v6 = (s: string): bigint => parseIpv6(s) ?? 0n;
const MAC = mac('02:00:00:00:77:01');
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const PREFIX = v6('fd77::');
const H = 3600;

function addrs(options: Partial<AddressOptions> = {}, secret: Uint8Array = SECRET, m = MAC) {
  // random() = 0: no DAD delay, and a nonce of zeros.
  const a = new Ipv6Addresses(m, secret, () => 0, options);
  const run = (until: number): void => {
    for (let d = a.nextDeadline(); d !== undefined && d <= until; d = a.nextDeadline()) a.poll(d);
  };
  return { a, run };
}

describe('IPv6 addresses (RFC 4862)', () => {
  it('link-local by EUI-64 is the kernel’s own; it joins its solicited-node group, detects duplicates, then is usable', () => {
    const { a, run } = addrs({ iid: 'eui64' });
    a.addLinkLocal(0);
    const ll = v6('fe80::ff:fe00:7701');
    expect(a.list()).toMatchObject([{ address: ll, state: 'tentative', origin: 'link-local' }]);
    expect(a.isAssigned(ll)).toBe(false);
    expect(a.selectSource(v6('fe80::1'))).toBeUndefined(); // a tentative address is never a source (§5.4)
    expect(a.takeEvents()).toEqual([{ kind: 'join', group: solicitedNode(ll) }]);
    run(999);
    expect(a.takeEvents()).toEqual([{ kind: 'dad', target: ll, nonce: new Uint8Array(6) }]);
    run(1000);
    expect(a.takeEvents()).toEqual([{ kind: 'added', address: ll, origin: 'link-local', prefix: parseIpv6('fe80::') ?? 0n, prefixLength: 64 }]);
    expect(a.isAssigned(ll)).toBe(true);
    expect(a.selectSource(v6('fe80::1'))).toBe(ll);
  });

  it('stable identifiers (RFC 7217): the same for the same prefix, secret and MAC; different otherwise', () => {
    const at = (secret: Uint8Array, prefix: bigint, m = MAC): bigint => {
      const { a } = addrs({}, secret, m);
      a.autoconf(prefix, H, H, 0);
      return a.list()[0]?.address ?? 0n;
    };
    const one = at(SECRET, PREFIX);
    expect(one >> 64n).toBe(PREFIX >> 64n);
    expect(at(SECRET, PREFIX)).toBe(one); // a restart with the secret kept gives the same address
    expect(at(SECRET, v6('fd78::')) & 0xffff_ffff_ffff_ffffn).not.toBe(one & 0xffff_ffff_ffff_ffffn); // per prefix
    expect(at(new Uint8Array(32), PREFIX)).not.toBe(one);
    expect(at(SECRET, PREFIX, mac('02:00:00:00:77:02'))).not.toBe(one);
    expect(ipv6ToString(one)).not.toContain('ff:fe'); // not EUI-64
  });

  it('a DAD solicitation from another host removes the tentative address; a stable one tries the next identifier', () => {
    const { a, run } = addrs({ idgenRetries: 1 });
    a.autoconf(PREFIX, H, H, 0);
    const first = a.list()[0]?.address ?? 0n;
    a.takeEvents();
    run(0);
    const dad = a.takeEvents().find((e) => e.kind === 'dad');
    if (dad?.kind !== 'dad') throw new Error('no DAD');
    expect(a.solicitationFor(first, true, dad.nonce, 10)).toBe('none'); // our own, looped back (RFC 7527)
    expect(a.solicitationFor(first, false, undefined, 10)).toBe('none'); // resolution, not a conflict
    expect(a.solicitationFor(first, true, Uint8Array.of(1, 2, 3, 4, 5, 6), 10)).toBe('duplicate');
    const ev = a.takeEvents();
    expect(ev).toContainEqual({ kind: 'removed', address: first, origin: 'slaac', reason: 'duplicate' });
    const second = a.list()[0]?.address ?? 0n;
    expect(second).not.toBe(first);
    expect(second >> 64n).toBe(PREFIX >> 64n);
    expect(a.advertisementFor(second, 20)).toBe('duplicate'); // an NA for it too; retries are used up now
    expect(a.list()).toEqual([]);
  });

  it('an NA for an assigned address is a conflict to report, and the address stays (§5.4.4)', () => {
    const { a, run } = addrs({ iid: 'eui64' });
    a.addLinkLocal(0);
    run(2000);
    expect(a.advertisementFor(v6('fe80::ff:fe00:7701'), 3000)).toBe('conflict');
    expect(a.isAssigned(v6('fe80::ff:fe00:7701'))).toBe(true);
    expect(a.advertisementFor(v6('fe80::1'), 3000)).toBe('none');
  });

  it('deprecates at the end of the preferred lifetime, removes at the end of the valid one, leaving its group', () => {
    const { a, run } = addrs();
    a.autoconf(PREFIX, 100, 50, 0);
    const addr = a.list()[0]?.address ?? 0n;
    run(1000);
    a.takeEvents();
    run(50_000);
    expect(a.takeEvents()).toEqual([{ kind: 'deprecated', address: addr }]);
    expect(a.isAssigned(addr)).toBe(true); // deprecated: still ours for the connections it has
    run(100_000);
    expect(a.takeEvents()).toEqual([{ kind: 'leave', group: solicitedNode(addr) }, { kind: 'removed', address: addr, origin: 'slaac', reason: 'expired' }]);
    expect(a.isAssigned(addr)).toBe(false);
  });

  it('updates lifetimes by the two-hours rule (§5.5.3 (e)); a new preferred lifetime revives a deprecated address', () => {
    const valid = (a: Ipv6Addresses): number | undefined => a.list()[0]?.validUntil;
    const { a, run } = addrs();
    a.autoconf(PREFIX, H, 0, 0);
    run(1000);
    expect(a.list()[0]?.state).toBe('deprecated');
    a.autoconf(PREFIX, 3 * H, H, 1000); // over two hours: taken
    expect(valid(a)).toBe(1000 + 3 * H * 1000);
    expect(a.list()[0]?.state).toBe('preferred');
    a.autoconf(PREFIX, 60, 60, 2000); // remaining ~3 h, advertised 1 min: cut to two hours only
    expect(valid(a)).toBe(2000 + 7200 * 1000);
    a.autoconf(PREFIX, 60, 60, 2000 + 6000 * 1000); // remaining 20 min: kept
    expect(valid(a)).toBe(2000 + 7200 * 1000);
    a.autoconf(PREFIX, 0, 0, 2000 + 6000 * 1000); // a valid lifetime of 0 cannot remove it either
    expect(valid(a)).toBe(2000 + 7200 * 1000);
  });

  it('selects sources by scope, preference and longest matching prefix (RFC 6724 rules 2, 3, 8)', () => {
    const { a, run } = addrs({ dadTransmits: 0 });
    a.addLinkLocal(0);
    a.addStatic(v6('2001:db8:1::5'), 64, 0);
    a.addStatic(v6('2001:db8:2::5'), 64, 0);
    a.autoconf(PREFIX, H, 0, 0); // deprecated at once
    run(0);
    const ll = a.list().find((e) => e.origin === 'link-local')?.address;
    expect(a.selectSource(v6('fe80::9'))).toBe(ll);
    expect(a.selectSource(v6('ff02::1'))).toBe(ll);
    expect(a.selectSource(v6('2001:db8:2::9'))).toBe(v6('2001:db8:2::5'));
    expect(a.selectSource(v6('2001:db8:1::9'))).toBe(v6('2001:db8:1::5'));
    expect(a.selectSource(v6('fd77::9'))).not.toBe(a.list().find((e) => e.origin === 'slaac')?.address); // deprecated: avoided
    expect(a.selectSource(v6('2001:db8:1::5'))).toBe(v6('2001:db8:1::5'));
  });

  it('bounds the addresses; with DAD off they are usable at once', () => {
    const { a } = addrs({ maxAddresses: 2, dadTransmits: 0 });
    for (let i = 1; i <= 3; i++) a.autoconf(v6(`fd7${i}::`), H, H, 0);
    expect(a.list()).toHaveLength(2);
    expect(a.list().every((e) => e.state === 'preferred')).toBe(true);
  });
});
