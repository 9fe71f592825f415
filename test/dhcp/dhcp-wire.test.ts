import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMac } from '../../src/net/addr.ts';
import {
  DhcpMessageType, DhcpOptionCode, encodeDhcp, parseDhcp, type DhcpMessage,
} from '../../src/dhcp/dhcp-wire.ts';
import { ip } from '../net/frames.ts';

function hex(...parts: string[]): Uint8Array {
  const h = parts.join('').replace(/\s+/g, '');
  return Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
}

const zeros = (n: number): string => '00'.repeat(n);

// A small OFFER, by hand: RFC 2131 §2 fixed fields, the cookie, then options 53, 1, 3, 6, 51, 54, end.
const FIXED = [
  '02 01 06 00', // op BOOTREPLY, htype 1, hlen 6, hops 0
  'deadbeef', // xid
  '0003 8000', // secs 3, flags BROADCAST
  '00000000', // ciaddr
  'c0a84d64', // yiaddr 192.168.77.100
  'c0a84d02', // siaddr 192.168.77.2
  '00000000', // giaddr
  '020000aabbcc', zeros(10), // chaddr
  zeros(64), zeros(128), // sname, file
  '63825363', // magic cookie
].join('');
const OPTIONS = [
  '35 01 02', // message type OFFER
  '01 04 ffffff00', // subnet mask
  '03 04 c0a84d02', // routers
  '06 08 08080808 01010101', // DNS servers
  '33 04 00000e10', // lease 3600 s
  '36 04 c0a84d02', // server id
  'ff',
].join('');
const OFFER_BYTES = hex(FIXED, OPTIONS);
const OFFER_PADDED = hex(FIXED, OPTIONS, zeros(300 - OFFER_BYTES.length));

const OFFER: DhcpMessage = {
  op: 2,
  xid: 0xdeadbeef,
  secs: 3,
  flags: 0x8000,
  ciaddr: 0,
  yiaddr: ip('192.168.77.100'),
  siaddr: ip('192.168.77.2'),
  giaddr: 0,
  chaddr: parseMac('02:00:00:aa:bb:cc') ?? 0,
  options: {
    messageType: DhcpMessageType.OFFER,
    subnetMask: ip('255.255.255.0'),
    routers: [ip('192.168.77.2')],
    dnsServers: [ip('8.8.8.8'), ip('1.1.1.1')],
    leaseTime: 3600,
    serverId: ip('192.168.77.2'),
  },
};

const FULL: DhcpMessage = {
  op: 1,
  xid: 0x01020304,
  secs: 65535,
  flags: 0,
  ciaddr: ip('10.0.0.5'),
  yiaddr: ip('10.0.0.6'),
  siaddr: ip('10.0.0.7'),
  giaddr: ip('10.0.0.8'),
  chaddr: parseMac('fe:dc:ba:98:76:54') ?? 0,
  options: {
    messageType: DhcpMessageType.REQUEST,
    subnetMask: ip('255.255.0.0'),
    routers: [ip('10.0.0.1'), ip('10.0.0.2')],
    dnsServers: [ip('10.0.0.53')],
    leaseTime: 0xffffffff,
    renewalTime: 100,
    rebindingTime: 200,
    serverId: ip('10.0.0.1'),
    requestedIp: ip('10.0.0.6'),
    parameterRequestList: [1, 3, 6, 51, 54, 58, 59],
    clientId: Uint8Array.from([1, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54]),
    maxMessageSize: 1500,
    hostname: 'mirage-host',
    message: 'héllo',
    interfaceMtu: 1400,
  },
};

/** The OFFER fixture with its options replaced. */
const withOptions = (...opts: string[]): Uint8Array => hex(FIXED, ...opts);

describe('parseDhcp', () => {
  it('reads the hand-built OFFER', () => {
    expect(parseDhcp(OFFER_BYTES)).toEqual(OFFER);
    expect(parseDhcp(OFFER_PADDED)).toEqual(OFFER);
  });

  it('reads option 26 (interface MTU, RFC 2132 §5.1): two octets, at least 68', () => {
    expect(parseDhcp(withOptions('35 01 02', '1a 02 05 78', 'ff'))?.options.interfaceMtu).toBe(1400);
    expect(parseDhcp(withOptions('35 01 02', '1a 02 00 43', 'ff'))).toBeUndefined(); // 67
    expect(parseDhcp(withOptions('35 01 02', '1a 01 05', 'ff'))).toBeUndefined();
  });

  it('reads option 15 (domain name, RFC 2132 §3.17): printable ASCII, a trailing NUL dropped', () => {
    expect(parseDhcp(withOptions('35 01 02', '0f 03 6c 61 62', 'ff'))?.options.domainName).toBe('lab');
    expect(parseDhcp(withOptions('35 01 02', '0f 04 6c 61 62 00', 'ff'))?.options.domainName).toBe('lab');
    expect(parseDhcp(withOptions('35 01 02', '0f 03 6c 0a 62', 'ff'))).toBeUndefined();
    expect(parseDhcp(withOptions('35 01 02', '0f 01 00', 'ff'))).toBeUndefined();
  });

  it('rejects messages shorter than the fixed part and cookie', () => {
    expect(parseDhcp(new Uint8Array(0))).toBeUndefined();
    expect(parseDhcp(OFFER_BYTES.subarray(0, 239))).toBeUndefined();
    expect(parseDhcp(OFFER_BYTES.subarray(0, 240))).toEqual({ ...OFFER, options: {} });
  });

  it('rejects a bad op, htype, hlen or cookie', () => {
    const patched = (at: number, v: number): Uint8Array => {
      const b = OFFER_BYTES.slice();
      b[at] = v;
      return b;
    };
    expect(parseDhcp(patched(0, 3))).toBeUndefined();
    expect(parseDhcp(patched(0, 0))).toBeUndefined();
    expect(parseDhcp(patched(1, 6))).toBeUndefined();
    expect(parseDhcp(patched(2, 16))).toBeUndefined();
    expect(parseDhcp(patched(239, 0x64))).toBeUndefined();
  });

  it('rejects an option running past the buffer or missing its length', () => {
    expect(parseDhcp(withOptions('35 01 02', '33 04 0000'))).toBeUndefined();
    expect(parseDhcp(withOptions('35 01 02', '33'))).toBeUndefined();
    expect(parseDhcp(withOptions('35 01 02', 'fe 05 0102'))).toBeUndefined(); // unknown, still bounded
  });

  it('tolerates a missing end when the options fill the buffer exactly', () => {
    expect(parseDhcp(withOptions('35 01 05', '33 04 00000064'))?.options).toEqual({ messageType: 5, leaseTime: 100 });
    expect(parseDhcp(withOptions('35 01 05', '00 00'))?.options).toEqual({ messageType: 5 });
  });

  it('skips pads and unknown options, stops at end, keeps the first occurrence', () => {
    const m = parseDhcp(withOptions('00 00', 'fa 03 010203', '35 01 06', '35 01 02', '38 02 6e6f', 'ff', '33 02 ffff'));
    expect(m?.options).toEqual({ messageType: DhcpMessageType.NAK, message: 'no' });
  });

  it.each([
    ['message type of length 2', '35 02 0102'],
    ['message type 0', '35 01 00'],
    ['message type 9', '35 01 09'],
    ['mask of 3 bytes', '01 03 ffffff'],
    ['routers of 6 bytes', '03 06 010203040506'],
    ['empty routers', '03 00'],
    ['DNS of 5 bytes', '06 05 0102030405'],
    ['lease time of 2 bytes', '33 02 0e10'],
    ['T1 of 8 bytes', '3a 08 0000000000000001'],
    ['T2 of 3 bytes', '3b 03 000001'],
    ['server id of 5 bytes', '36 05 0102030405'],
    ['requested IP of 0 bytes', '32 00'],
    ['max size of 4 bytes', '39 04 000005dc'],
    ['max size below 576', '39 02 0100'],
    ['client id of 1 byte', '3d 01 01'],
    ['empty hostname', '0c 00'],
    ['empty parameter list', '37 00'],
    ['empty message', '38 00'],
    ['a bad repeated option', '35 01 02 35 01 63'],
  ])('rejects %s', (_name, opt) => {
    expect(parseDhcp(withOptions(opt, 'ff'))).toBeUndefined();
  });

  it('never throws on any truncation of valid messages', () => {
    for (const whole of [OFFER_PADDED, encodeDhcp(FULL)]) {
      for (let n = 0; n <= whole.length; n++) {
        const m = parseDhcp(whole.subarray(0, n));
        if (n < 240) expect(m).toBeUndefined();
        else expect(m === undefined || m.xid === parseDhcp(whole)?.xid).toBe(true);
      }
    }
    // Cut between two options: the first ones are kept.
    const cut = FIXED.replace(/\s/g, '').length / 2 + 3 + 6;
    expect(parseDhcp(OFFER_BYTES.subarray(0, cut))?.options).toEqual({ messageType: 2, subnetMask: ip('255.255.255.0') });
    // Cut inside an option: malformed.
    expect(parseDhcp(OFFER_BYTES.subarray(0, cut + 3))).toBeUndefined();
  });
});

describe('encodeDhcp', () => {
  it('writes the fixture byte for byte', () => {
    expect(encodeDhcp(OFFER)).toEqual(OFFER_PADDED);
  });

  it('round-trips every option', () => {
    const b = encodeDhcp(FULL);
    expect(parseDhcp(b)).toEqual(FULL);
    expect(b[240]).toBe(DhcpOptionCode.MESSAGE_TYPE); // message type first
    expect(b.length).toBeGreaterThanOrEqual(300);
  });

  it('grows past 300 bytes when the options need it, ending in END', () => {
    const routers = Array.from({ length: 40 }, (_, i) => ip(`10.1.0.${i + 1}`));
    const msg: DhcpMessage = { ...OFFER, options: { ...OFFER.options, routers, hostname: 'x'.repeat(100) } };
    const b = encodeDhcp(msg);
    expect(b.length).toBe(240 + 3 + 6 + 162 + 10 + 102 + 6 + 6 + 1);
    expect(b[b.length - 1]).toBe(DhcpOptionCode.END);
    expect(parseDhcp(b)).toEqual(msg);
  });

  it('throws a RangeError for an option that cannot be represented', () => {
    expect(() => encodeDhcp({ ...OFFER, options: { routers: [] } })).toThrow(RangeError);
    expect(() => encodeDhcp({ ...OFFER, options: { hostname: 'x'.repeat(256) } })).toThrow(RangeError);
  });
});

describe('parseDhcp properties', () => {
  const valid = [OFFER_BYTES, OFFER_PADDED, encodeDhcp(FULL)];
  const mutated = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete')), {
        maxLength: 8,
      }),
    )
    .map(([seed, edits]) => {
      const out = Array.from(seed);
      for (const [pos, byte, kind] of edits) {
        // Mostly hit the options, where the interesting lengths are.
        const i = out.length === 0 ? 0 : (pos % 3 === 0 ? pos : 236 + (pos % 80)) % out.length;
        if (kind === 'flip') out[i] = byte;
        else if (kind === 'insert') out.splice(i, 0, byte);
        else out.splice(i, 1);
      }
      return Uint8Array.from(out);
    });
  const header = hex(FIXED);
  const randomOptions = fc.uint8Array({ maxLength: 400 }).map((o) => Uint8Array.from([...header, ...o]));
  const input = fc.oneof(fc.uint8Array({ maxLength: 700 }), mutated, randomOptions);

  it('never throws, and whatever parses re-encodes to the same message', () => {
    fc.assert(
      fc.property(input, (bytes) => {
        const m = parseDhcp(bytes);
        if (m === undefined) return;
        let again: Uint8Array;
        try {
          again = encodeDhcp(m);
        } catch (e) {
          // Only possible when lossy UTF-8 decoding made a text option longer than 255 bytes.
          expect(e).toBeInstanceOf(RangeError);
          return;
        }
        expect(parseDhcp(again)).toEqual(m);
      }),
      { numRuns: 3000 },
    );
  });
});
