// The DHCP client's lease arithmetic (src/dhcp/lease.ts): leases from ACKs, their deadlines, `secs`, and the
// retransmission delays. Plain numbers in, numbers out; the randomness is a fixed function.

import { describe, expect, it } from 'vitest';
import { DhcpMessageType as T, type DhcpMessage, type DhcpOptions } from '../../src/dhcp/dhcp-wire.ts';
import {
  JITTER_MS, backoff, expiryAt, leaseFromAck, renewalRetransmitAt, secsSince, t1At, t2At, type Lease,
} from '../../src/dhcp/lease.ts';
import { parseMac } from '../../src/net/addr.ts';
import { ip } from '../net/frames.ts';

const SERVER = ip('192.168.77.1');
const ADDR = ip('192.168.77.100');

function ack(options: DhcpOptions, yiaddr = ADDR): DhcpMessage {
  return {
    op: 2, xid: 1, secs: 0, flags: 0, ciaddr: 0, yiaddr, siaddr: SERVER, giaddr: 0, chaddr: parseMac('02:00:00:aa:bb:cc') ?? 0,
    options: { messageType: T.ACK, leaseTime: 3600, serverId: SERVER, ...options },
  };
}

const lease = (l: Partial<Lease>): Lease => ({
  address: ADDR, prefix: 24, dns: [], server: SERVER, leaseSeconds: 3600, t1Seconds: 1800, t2Seconds: 3150, obtainedAt: 0, ...l,
});

describe('leaseFromAck', () => {
  it('reads address, mask, first router, DNS and server, counting from obtainedAt', () => {
    const got = leaseFromAck(ack({ subnetMask: ip('255.255.240.0'), routers: [ip('192.168.77.2'), ip('192.168.77.3')], dnsServers: [ip('9.9.9.9')] }), 1234);
    expect(got).toEqual({
      address: ADDR, prefix: 20, gateway: ip('192.168.77.2'), dns: [ip('9.9.9.9')], server: SERVER,
      leaseSeconds: 3600, t1Seconds: 1800, t2Seconds: 3150, obtainedAt: 1234,
    });
  });

  it('defaults: /24 without a mask, no gateway, no DNS, T1 = 1/2 and T2 = 7/8 of the lease (RFC 2131 §4.4.5)', () => {
    expect(leaseFromAck(ack({ leaseTime: 1000 }), 0)).toMatchObject({ prefix: 24, gateway: undefined, dns: [], t1Seconds: 500, t2Seconds: 875 });
  });

  it('clamps T1 ≤ T2 ≤ lease', () => {
    expect(leaseFromAck(ack({ renewalTime: 5000, rebindingTime: 4000 }), 0)).toMatchObject({ t1Seconds: 3600, t2Seconds: 3600 });
    expect(leaseFromAck(ack({ renewalTime: 3300 }), 0)).toMatchObject({ t1Seconds: 3150, t2Seconds: 3150 });
    expect(leaseFromAck(ack({ renewalTime: 600, rebindingTime: 900 }), 0)).toMatchObject({ t1Seconds: 600, t2Seconds: 900 });
  });

  it('says why an ACK is unusable', () => {
    expect(leaseFromAck(ack({}, 0), 0)).toBe('no address');
    expect(leaseFromAck(ack({ leaseTime: undefined }), 0)).toBe('no lease time');
    expect(leaseFromAck(ack({ serverId: undefined }), 0)).toBe('no server identifier');
    expect(leaseFromAck(ack({ subnetMask: ip('255.0.255.0') }), 0)).toBe('non-contiguous subnet mask 255.0.255.0');
  });

  it('an infinite lease (RFC 2131 §3.3) gives finite, far deadlines', () => {
    const l = leaseFromAck(ack({ leaseTime: 0xffffffff }), 0);
    if (typeof l === 'string') throw new Error(l);
    expect(expiryAt(l)).toBe(0xffffffff * 1000);
    expect(t1At(l)).toBeLessThan(t2At(l));
    expect(t2At(l)).toBeLessThan(expiryAt(l));
  });
});

describe('lease deadlines', () => {
  it('T1, T2 and expiry count from obtainedAt, in ms', () => {
    const l = lease({ obtainedAt: 100 });
    expect(t1At(l)).toBe(100 + 1800_000);
    expect(t2At(l)).toBe(100 + 3150_000);
    expect(expiryAt(l)).toBe(100 + 3600_000);
  });
});

describe('secsSince', () => {
  it('whole seconds, never negative, at most 0xffff', () => {
    expect(secsSince(1000, 1000)).toBe(0);
    expect(secsSince(1000, 1999)).toBe(0);
    expect(secsSince(1000, 2000)).toBe(1);
    expect(secsSince(0, 12_345)).toBe(12);
    expect(secsSince(5000, 1000)).toBe(0);
    expect(secsSince(0, 0x10000 * 1000)).toBe(0xffff);
  });
});

describe('backoff (RFC 2131 §4.1)', () => {
  const timeouts = { initialTimeoutMs: 4000, maxTimeoutMs: 64000 };
  const fixed = (x: number) => () => x;

  it('doubles from the initial timeout up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoff(n, timeouts, fixed(0.5)))).toEqual([4000, 8000, 16000, 32000, 64000, 64000, 64000]);
  });

  it('adds up to ±1 s of jitter, drawn from `random` once per call', () => {
    expect(backoff(1, timeouts, fixed(0))).toBe(4000 - JITTER_MS);
    expect(backoff(3, timeouts, fixed(0.75))).toBe(16000 + JITTER_MS / 2);
    expect(backoff(6, timeouts, fixed(1 - 2 ** -32))).toBeCloseTo(64000 + JITTER_MS, 3);
    let draws = 0;
    backoff(2, timeouts, () => (draws++, 0.5));
    expect(draws).toBe(1);
  });

  it('keeps the jitter under half the delay when the timeouts are small', () => {
    const small = { initialTimeoutMs: 100, maxTimeoutMs: 1000 };
    expect(backoff(1, small, fixed(0))).toBe(50);
    expect(backoff(1, small, fixed(0.999))).toBeCloseTo(149.9, 6);
    expect(backoff(5, small, fixed(0))).toBe(500); // capped at 1000, jitter ±500
  });
});

describe('renewalRetransmitAt (RFC 2131 §4.4.5)', () => {
  it('half the time left, at least the floor, never past the deadline', () => {
    expect(renewalRetransmitAt(0, 1_000_000, 60_000)).toBe(500_000);
    expect(renewalRetransmitAt(900_000, 1_000_000, 60_000)).toBe(960_000); // 50 s is below the floor
    expect(renewalRetransmitAt(950_000, 1_000_000, 60_000)).toBe(1_000_000); // the floor would pass the deadline
    expect(renewalRetransmitAt(1_000_000, 1_000_000, 60_000)).toBe(1_000_000);
  });
});
