import { describe, expect, it } from 'vitest';
import { type DhcpClientOptions, type Lease } from '../../src/dhcp/dhcp-client.ts';
import { clientWithIo, type DhcpIo } from './dhcp-io.ts';
import { DhcpMessageType as T, encodeDhcp, parseDhcp, type DhcpMessage, type DhcpOptions } from '../../src/dhcp/dhcp-wire.ts';
import { IPV4_BROADCAST, parseMac } from '../../src/net/addr.ts';
import { seededRandom } from '../../src/random.ts';
import { ip } from '../net/frames.ts';

const MAC = parseMac('02:00:00:aa:bb:cc') ?? 0;
const OTHER_MAC = parseMac('02:00:00:11:22:33') ?? 0;
const SERVER = ip('192.168.77.1');
const ADDR = ip('192.168.77.100');
const GATEWAY = ip('192.168.77.2');
const DNS = ip('192.168.77.53');
const CLIENT_ID = Uint8Array.from([1, 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]);

interface Sent {
  msg: DhcpMessage;
  dst: number;
  at: number;
}

/** A client wired to recording IO. `at` is the time the test last handed the client. */
function harness(options: Partial<DhcpClientOptions> = {}, seed = 1) {
  const h = {
    at: 0,
    sent: [] as Sent[],
    logs: [] as string[],
    bound: [] as { lease: Lease; now: number }[],
    lost: [] as string[],
  };
  const io: DhcpIo = {
    send(payload, dst) {
      const msg = parseDhcp(payload);
      if (msg === undefined) throw new Error('client sent an unparsable message');
      h.sent.push({ msg, dst, at: h.at });
    },
    bound: (lease, now) => h.bound.push({ lease, now }),
    lost: (reason) => h.lost.push(reason),
    log: (line) => h.logs.push(line),
  };
  const client = clientWithIo({ mac: MAC, random: seededRandom(seed), hostname: 'mirage', ...options }, io);
  const last = (): Sent => {
    const s = h.sent.at(-1);
    if (s === undefined) throw new Error('nothing sent');
    return s;
  };
  return {
    sent: h.sent,
    logs: h.logs,
    bound: h.bound,
    lost: h.lost,
    client,
    last,
    start(now: number) {
      h.at = now;
      client.start(now);
    },
    poll(now: number) {
      h.at = now;
      client.poll(now);
    },
    receive(payload: Uint8Array, now: number) {
      h.at = now;
      client.receive(payload, now);
    },
    release(now: number) {
      h.at = now;
      client.release(now);
    },
    /** Polls at the next deadline and returns it. */
    step(): number {
      const d = client.nextDeadline();
      if (d === undefined) throw new Error('no deadline');
      h.at = d;
      client.poll(d);
      return d;
    },
  };
}

const LEASE_OPTIONS: DhcpOptions = {
  subnetMask: ip('255.255.255.0'),
  routers: [GATEWAY],
  dnsServers: [DNS],
  leaseTime: 3600,
  serverId: SERVER,
};

/** The fake server: a reply to `req` of `type`, with lease options unless overridden (undefined drops one). */
function reply(req: DhcpMessage, type: number, options: DhcpOptions = {}, fields: Partial<DhcpMessage> = {}): Uint8Array {
  return encodeDhcp({
    op: 2,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: req.ciaddr,
    yiaddr: type === T.NAK ? 0 : ADDR,
    siaddr: SERVER,
    giaddr: 0,
    chaddr: req.chaddr,
    options: type === T.NAK ? { messageType: type, serverId: SERVER, ...options } : { messageType: type, ...LEASE_OPTIONS, ...options },
    ...fields,
  });
}

/** Runs DISCOVER (t=0) → OFFER (t=100) → REQUEST → ACK (t=300). */
function bind(options: Partial<DhcpClientOptions> = {}, ack: DhcpOptions = {}) {
  const h = harness(options);
  h.start(0);
  h.receive(reply(h.last().msg, T.OFFER), 100);
  h.receive(reply(h.last().msg, T.ACK, ack), 300);
  expect(h.client.state).toBe('bound');
  return h;
}

const opt = (o: DhcpOptions) => o;

describe('DhcpClient: discovery', () => {
  it('does nothing before start', () => {
    const h = harness();
    h.poll(100_000);
    expect(h.client.state).toBe('init');
    expect(h.client.nextDeadline()).toBeUndefined();
    expect(h.sent).toEqual([]);
  });

  it('broadcasts a DISCOVER with our options and the BROADCAST flag', () => {
    const h = harness();
    h.start(0);
    expect(h.client.state).toBe('selecting');
    expect(h.logs).toEqual(['DHCP: start discovery']);
    const { msg, dst } = h.last();
    expect(dst).toBe(IPV4_BROADCAST);
    expect(msg).toMatchObject({ op: 1, xid: h.client.xid, flags: 0x8000, ciaddr: 0, chaddr: MAC, secs: 0 });
    expect(msg.options).toEqual(
      opt({ messageType: T.DISCOVER, clientId: CLIENT_ID, parameterRequestList: [1, 3, 6, 15, 26, 51, 54, 58, 59], maxMessageSize: 1500, hostname: 'mirage' }),
    );
    h.start(10); // already running: no second DISCOVER
    expect(h.sent).toHaveLength(1);
  });

  it('leaves out the hostname when none is given', () => {
    const h = harness({ hostname: undefined });
    h.start(0);
    expect(h.last().msg.options.hostname).toBeUndefined();
  });

  it('retransmits DISCOVER after 4, 8, 16, 32, 64, 64 s (±1 s), keeping the xid', () => {
    const h = harness();
    h.start(0);
    const xid = h.client.xid;
    const offsets: number[] = [];
    for (const base of [4000, 8000, 16000, 32000, 64000, 64000]) {
      const prev = h.last().at;
      const d = h.client.nextDeadline() ?? NaN;
      expect(d - prev).toBeGreaterThanOrEqual(base - 1000);
      expect(d - prev).toBeLessThanOrEqual(base + 1000);
      offsets.push(d - prev - base);
      const before = h.sent.length;
      h.poll(d - 1);
      expect(h.sent).toHaveLength(before); // not yet
      h.poll(d);
      expect(h.sent).toHaveLength(before + 1);
      expect(h.last().msg.xid).toBe(xid);
      expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
    }
    expect(new Set(offsets.map(Math.round)).size).toBeGreaterThan(1); // really randomised
    expect(h.last().msg.secs).toBe(Math.floor(h.last().at / 1000)); // seconds since discovery began
    expect(h.logs).toEqual(['DHCP: start discovery']);
  });

  it('answers the first OFFER with a broadcast REQUEST for it, same xid', () => {
    const h = harness();
    h.start(0);
    const discover = h.last().msg;
    h.receive(reply(discover, T.OFFER), 100);
    expect(h.client.state).toBe('requesting');
    expect(h.logs).toContain('DHCP: offer received: 192.168.77.100');
    const { msg, dst } = h.last();
    expect(dst).toBe(IPV4_BROADCAST);
    expect(msg).toMatchObject({ op: 1, xid: discover.xid, flags: 0x8000, ciaddr: 0, chaddr: MAC });
    expect(msg.options).toMatchObject({ messageType: T.REQUEST, requestedIp: ADDR, serverId: SERVER, clientId: CLIENT_ID, maxMessageSize: 1500 });
    expect(msg.options.parameterRequestList).toEqual([1, 3, 6, 15, 26, 51, 54, 58, 59]);
    // A second OFFER, from another server, changes nothing.
    h.receive(reply(discover, T.OFFER, { serverId: ip('192.168.77.9') }, { yiaddr: ip('192.168.77.200') }), 150);
    expect(h.sent).toHaveLength(2);
    expect(h.client.state).toBe('requesting');
  });

  it('ignores replies with another xid, another chaddr, op 1, no server id, or malformed', () => {
    const h = harness();
    h.start(0);
    const discover = h.last().msg;
    h.receive(reply(discover, T.OFFER, {}, { xid: (discover.xid + 1) >>> 0 }), 10);
    h.receive(reply(discover, T.OFFER, {}, { chaddr: OTHER_MAC }), 20);
    h.receive(reply(discover, T.OFFER, {}, { op: 1 }), 30);
    h.receive(reply(discover, T.OFFER, { serverId: undefined }), 40);
    h.receive(reply(discover, T.ACK), 50); // not an OFFER
    h.receive(reply(discover, T.OFFER).subarray(0, 239), 60);
    h.receive(new Uint8Array(0), 70);
    expect(h.client.state).toBe('selecting');
    expect(h.sent).toHaveLength(1);
    expect(h.logs).toEqual(['DHCP: start discovery']);
  });

  it('retries REQUEST requestAttempts times, then discovers again with a new xid', () => {
    const h = harness();
    h.start(0);
    h.receive(reply(h.last().msg, T.OFFER), 100);
    const xid = h.client.xid;
    for (const base of [4000, 8000, 16000]) {
      const prev = h.last().at;
      const d = h.step();
      expect(d - prev).toBeGreaterThanOrEqual(base - 1000);
      expect(d - prev).toBeLessThanOrEqual(base + 1000);
      expect(h.last().msg.options.messageType).toBe(T.REQUEST);
      expect(h.last().msg.xid).toBe(xid);
    }
    expect(h.sent.filter((s) => s.msg.options.messageType === T.REQUEST)).toHaveLength(4);
    const prev = h.last().at;
    const d = h.step();
    expect(d - prev).toBeGreaterThanOrEqual(31000);
    expect(d - prev).toBeLessThanOrEqual(33000);
    expect(h.client.state).toBe('selecting');
    expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
    expect(h.client.xid).not.toBe(xid);
    expect(h.last().msg.xid).toBe(h.client.xid);
    expect(h.logs.filter((l) => l === 'DHCP: start discovery')).toHaveLength(2);
  });

  it('honours a smaller requestAttempts', () => {
    const h = harness({ requestAttempts: 2 });
    h.start(0);
    h.receive(reply(h.last().msg, T.OFFER), 100);
    h.step();
    expect(h.last().msg.options.messageType).toBe(T.REQUEST);
    h.step();
    expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
  });

  it('restarts discovery at once with a new xid on NAK in REQUESTING', () => {
    const h = harness();
    h.start(0);
    h.receive(reply(h.last().msg, T.OFFER), 100);
    const request = h.last().msg;
    h.receive(reply(request, T.NAK, { message: 'wrong network' }), 200);
    expect(h.client.state).toBe('selecting');
    expect(h.last()).toMatchObject({ at: 200, dst: IPV4_BROADCAST });
    expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
    expect(h.client.xid).not.toBe(request.xid);
    expect(h.last().msg.xid).toBe(h.client.xid);
    expect(h.lost).toEqual([]); // never had an address
    expect(h.logs).toContain('DHCP: NAK received: wrong network');
    expect(h.logs.filter((l) => l === 'DHCP: start discovery')).toHaveLength(2);
    const d = h.client.nextDeadline() ?? NaN;
    expect(d - 200).toBeGreaterThanOrEqual(3000); // a fresh backoff
    expect(d - 200).toBeLessThanOrEqual(5000);
  });

  it('ignores an ACK or NAK from a server other than the one requested', () => {
    const h = harness();
    h.start(0);
    h.receive(reply(h.last().msg, T.OFFER), 100);
    h.receive(reply(h.last().msg, T.ACK, { serverId: ip('192.168.77.9') }), 200);
    h.receive(reply(h.last().msg, T.NAK, { serverId: ip('192.168.77.9') }), 200);
    expect(h.client.state).toBe('requesting');
    expect(h.bound).toEqual([]);
  });
});

describe('DhcpClient: ACK', () => {
  it('binds with the lease of the ACK, counted from the REQUEST', () => {
    const h = bind();
    const lease: Lease = {
      address: ADDR,
      prefix: 24,
      gateway: GATEWAY,
      dns: [DNS],
      server: SERVER,
      leaseSeconds: 3600,
      t1Seconds: 1800,
      t2Seconds: 3150,
      obtainedAt: 100, // the REQUEST went out when the OFFER came in
    };
    expect(h.client.lease).toEqual(lease);
    expect(h.bound).toEqual([{ lease, now: 300 }]);
    expect(h.logs).toEqual([
      'DHCP: start discovery',
      'DHCP: offer received: 192.168.77.100',
      'DHCP offer received and bound to 192.168.77.100 nm 255.255.255.0 gw [192.168.77.2]',
    ]);
    expect(h.client.nextDeadline()).toBe(100 + 1800_000);
  });

  it('takes T1 and T2 from the ACK, clamped so that T1 ≤ T2 ≤ lease', () => {
    expect(bind({}, { renewalTime: 600, rebindingTime: 900 }).client.lease).toMatchObject({ t1Seconds: 600, t2Seconds: 900 });
    expect(bind({}, { renewalTime: 5000, rebindingTime: 4000 }).client.lease).toMatchObject({ t1Seconds: 3600, t2Seconds: 3600 });
    expect(bind({}, { renewalTime: 3300 }).client.lease).toMatchObject({ t1Seconds: 3150, t2Seconds: 3150 });
  });

  it('defaults T1 to half and T2 to 7/8 of the lease', () => {
    expect(bind({}, { leaseTime: 1000 }).client.lease).toMatchObject({ leaseSeconds: 1000, t1Seconds: 500, t2Seconds: 875 });
  });

  it('defaults to /24 without a mask, reads other masks, logs gw [] without routers', () => {
    const h = bind({}, { subnetMask: undefined, routers: undefined, dnsServers: undefined });
    expect(h.client.lease).toMatchObject({ prefix: 24, gateway: undefined, dns: [] });
    expect(h.logs).toContain('DHCP offer received and bound to 192.168.77.100 nm 255.255.255.0 gw []');
    expect(bind({}, { subnetMask: ip('255.255.240.0') }).client.lease?.prefix).toBe(20);
  });

  it.each([
    ['without lease time', { leaseTime: undefined }],
    ['without server id', { serverId: undefined }],
    ['with a non-contiguous mask', { subnetMask: ip('255.0.255.0') }],
  ])('ignores an ACK %s', (_name, bad: DhcpOptions) => {
    const h = harness();
    h.start(0);
    h.receive(reply(h.last().msg, T.OFFER), 100);
    h.receive(reply(h.last().msg, T.ACK, bad), 200);
    expect(h.client.state).toBe('requesting');
    expect(h.client.lease).toBeUndefined();
    expect(h.bound).toEqual([]);
    expect(h.logs.at(-1)).toMatch(/^DHCP: ignoring ACK: /);
    h.receive(reply(h.last().msg, T.ACK), 300); // a good one still binds
    expect(h.client.state).toBe('bound');
  });
});

describe('DhcpClient: renewing and rebinding', () => {
  // bind(): obtainedAt 100, lease 3600 s, T1 1800 s, T2 3150 s.
  const T1 = 100 + 1800_000;
  const T2 = 100 + 3150_000;
  const EXPIRY = 100 + 3600_000;

  it('renews at exactly T1 by unicast to the server, with ciaddr and no broadcast flag', () => {
    const h = bind();
    const sent = h.sent.length;
    const bindXid = h.client.xid;
    h.poll(T1 - 1);
    expect(h.sent).toHaveLength(sent);
    expect(h.client.state).toBe('bound');
    h.poll(T1);
    expect(h.client.state).toBe('renewing');
    const { msg, dst } = h.last();
    expect(dst).toBe(SERVER);
    expect(msg).toMatchObject({ op: 1, ciaddr: ADDR, flags: 0, chaddr: MAC, secs: 0 });
    expect(msg.xid).not.toBe(bindXid);
    expect(msg.options.messageType).toBe(T.REQUEST);
    expect(msg.options.requestedIp).toBeUndefined();
    expect(msg.options.serverId).toBeUndefined();
    expect(msg.options.clientId).toEqual(CLIENT_ID);
    expect(h.client.lease?.address).toBe(ADDR); // still usable
    expect(h.lost).toEqual([]);
  });

  it('a renewal ACK extends the lease from the REQUEST that got it', () => {
    const h = bind();
    h.poll(T1);
    h.receive(reply(h.last().msg, T.ACK, { leaseTime: 7200 }), T1 + 50);
    expect(h.client.state).toBe('bound');
    expect(h.client.lease).toMatchObject({ address: ADDR, leaseSeconds: 7200, t1Seconds: 3600, t2Seconds: 6300, obtainedAt: T1 });
    expect(h.bound).toHaveLength(2);
    expect(h.bound[1]?.now).toBe(T1 + 50);
    expect(h.client.nextDeadline()).toBe(T1 + 3600_000);
    expect(h.logs.at(-1)).toBe('DHCP: lease of 192.168.77.100 renewed for 7200 s');
    // A duplicate of that ACK is ignored.
    h.receive(reply(h.sent.at(-1)?.msg ?? h.last().msg, T.ACK, { leaseTime: 10 }), T1 + 60);
    expect(h.client.lease?.leaseSeconds).toBe(7200);
  });

  it('retransmits after half the time left (60 s floor), rebinds at exactly T2 by broadcast, expires', () => {
    const h = bind();
    const steps: { at: number; state: string; dst: number; type?: number | undefined }[] = [];
    let sent = h.sent.length;
    while (h.lost.length === 0) {
      const at = h.step();
      if (h.sent.length > sent) steps.push({ at, state: h.client.state, dst: h.last().dst, type: h.last().msg.options.messageType });
      sent = h.sent.length;
    }
    const s = (seconds: number) => 100 + seconds * 1000;
    const R = T.REQUEST;
    expect(steps).toEqual([
      { at: T1, state: 'renewing', dst: SERVER, type: R }, // T2 - T1 = 1350 s
      { at: s(2475), state: 'renewing', dst: SERVER, type: R }, // + 675
      { at: s(2812.5), state: 'renewing', dst: SERVER, type: R }, // + 337.5
      { at: s(2981.25), state: 'renewing', dst: SERVER, type: R }, // + 168.75
      { at: s(3065.625), state: 'renewing', dst: SERVER, type: R }, // + 84.375
      { at: s(3125.625), state: 'renewing', dst: SERVER, type: R }, // + 60 (42.2 is below the floor)
      { at: T2, state: 'rebinding', dst: IPV4_BROADCAST, type: R }, // the next 60 s would pass T2
      { at: s(3375), state: 'rebinding', dst: IPV4_BROADCAST, type: R }, // expiry - T2 = 450 s, + 225
      { at: s(3487.5), state: 'rebinding', dst: IPV4_BROADCAST, type: R }, // + 112.5
      { at: s(3547.5), state: 'rebinding', dst: IPV4_BROADCAST, type: R }, // + 60 (56.25 is below the floor)
      { at: EXPIRY, state: 'selecting', dst: IPV4_BROADCAST, type: T.DISCOVER }, // never past expiry
    ]);
    expect(h.lost).toEqual(['expired']);
    expect(h.client.lease).toBeUndefined();
    expect(h.logs.at(-1)).toBe('DHCP: start discovery');
    expect(h.last().msg).toMatchObject({ ciaddr: 0, flags: 0x8000 });
  });

  it('rebinds with ciaddr set and no broadcast flag, one xid per exchange', () => {
    const h = bind();
    h.poll(T1);
    const renewXid = h.client.xid;
    h.poll(T1 + 675_000);
    expect(h.last().msg.xid).toBe(renewXid); // retransmission keeps it
    h.poll(T2 - 1);
    expect(h.client.state).toBe('renewing');
    h.poll(T2);
    expect(h.client.state).toBe('rebinding');
    const { msg, dst } = h.last();
    expect(dst).toBe(IPV4_BROADCAST);
    expect(msg).toMatchObject({ ciaddr: ADDR, flags: 0 });
    expect(msg.options.serverId).toBeUndefined();
    expect(msg.options.requestedIp).toBeUndefined();
    expect(msg.xid).not.toBe(renewXid);
    // Any server may answer in REBINDING.
    const other = ip('192.168.77.9');
    h.receive(reply(msg, T.ACK, { serverId: other }), T2 + 10);
    expect(h.client.state).toBe('bound');
    expect(h.client.lease).toMatchObject({ server: other, obtainedAt: T2 });
  });

  it('ignores a renewal ACK for another xid', () => {
    const h = bind();
    h.poll(T1);
    h.receive(reply(h.last().msg, T.ACK, {}, { xid: (h.client.xid ^ 1) >>> 0 }), T1 + 10);
    expect(h.client.state).toBe('renewing');
  });

  it('on NAK while renewing, drops the address and discovers again', () => {
    const h = bind();
    h.poll(T1);
    h.receive(reply(h.last().msg, T.NAK), T1 + 10);
    expect(h.lost).toEqual(['nak']);
    expect(h.client.lease).toBeUndefined();
    expect(h.client.state).toBe('selecting');
    expect(h.last()).toMatchObject({ at: T1 + 10, dst: IPV4_BROADCAST });
    expect(h.last().msg).toMatchObject({ ciaddr: 0, flags: 0x8000 });
    expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
  });

  it('on NAK while rebinding, drops the address and discovers again', () => {
    const h = bind();
    h.poll(T2);
    expect(h.client.state).toBe('rebinding'); // a late first poll goes straight to REBINDING
    expect(h.sent.filter((x) => x.msg.options.messageType === T.REQUEST && x.at === T2)).toHaveLength(1);
    h.receive(reply(h.last().msg, T.NAK), T2 + 10);
    expect(h.lost).toEqual(['nak']);
    expect(h.client.state).toBe('selecting');
  });

  it('a poll after expiry expires at once without renewing', () => {
    const h = bind();
    const sent = h.sent.length;
    h.poll(EXPIRY + 5000);
    expect(h.lost).toEqual(['expired']);
    expect(h.sent).toHaveLength(sent + 1);
    expect(h.last().msg.options.messageType).toBe(T.DISCOVER);
  });
});

describe('DhcpClient: release', () => {
  it('sends RELEASE to the server with ciaddr and client id, then stops', () => {
    const h = bind();
    h.release(5000);
    const { msg, dst } = h.last();
    expect(dst).toBe(SERVER);
    expect(msg).toMatchObject({ op: 1, ciaddr: ADDR, flags: 0, chaddr: MAC });
    expect(msg.options).toEqual(opt({ messageType: T.RELEASE, serverId: SERVER, clientId: CLIENT_ID }));
    expect(h.lost).toEqual(['released']);
    expect(h.client.state).toBe('stopped');
    expect(h.client.lease).toBeUndefined();
    expect(h.client.nextDeadline()).toBeUndefined();
    const sent = h.sent.length;
    h.poll(10_000_000);
    h.receive(reply(msg, T.ACK), 10_000_001);
    expect(h.sent).toHaveLength(sent);
    expect(h.client.state).toBe('stopped');
    h.start(20_000_000); // and may start over
    expect(h.client.state).toBe('selecting');
  });

  it('releases while renewing too', () => {
    const h = bind();
    h.poll(100 + 1800_000);
    expect(h.client.state).toBe('renewing');
    h.release(100 + 1800_001);
    expect(h.last()).toMatchObject({ dst: SERVER, msg: { ciaddr: ADDR } });
    expect(h.last().msg.options.messageType).toBe(T.RELEASE);
    expect(h.lost).toEqual(['released']);
  });

  it('without a lease, just stops: nothing sent, nothing lost', () => {
    const h = harness();
    h.start(0);
    h.client.release(10);
    expect(h.sent).toHaveLength(1);
    expect(h.lost).toEqual([]);
    expect(h.client.state).toBe('stopped');
    expect(h.client.nextDeadline()).toBeUndefined();
  });
});
