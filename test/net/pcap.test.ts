// The pcap writer and reader, the recording device, and a check that Wireshark's own reader (tshark) agrees.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAC_BROADCAST, parseIpv4, writeIpv4, writeMac, type MacAddr } from '../../src/net/addr.ts';
import type { NetDevice } from '../../src/net/device.ts';
import {
  LINKTYPE_ETHERNET,
  PCAP_HEADER_LEN,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_SNAPLEN,
  PcapWriter,
  RecordingDevice,
  encodePcapHeader,
  encodePcapRecord,
  readPcap,
  type FrameRecorder,
} from '../../src/net/pcap.ts';

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'pcap-test-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function ip(s: string): number {
  const a = parseIpv4(s);
  if (a === undefined) throw new Error(`bad address ${s}`);
  return a;
}

/** A valid Ethernet/ARP frame: request (42 bytes, unpadded) or reply (padded to the 60-byte minimum). */
function arpFrame(op: 1 | 2, srcMac: MacAddr, srcIp: string, dstMac: MacAddr, dstIp: string, pad: boolean): Uint8Array {
  const f = new Uint8Array(pad ? 60 : 42);
  writeMac(f, 0, op === 1 ? MAC_BROADCAST : dstMac);
  writeMac(f, 6, srcMac);
  f[12] = 0x08;
  f[13] = 0x06;
  f.set([0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, op], 14);
  writeMac(f, 22, srcMac);
  writeIpv4(f, 28, ip(srcIp));
  writeMac(f, 32, op === 1 ? 0 : dstMac);
  writeIpv4(f, 38, ip(dstIp));
  return f;
}

/** A pcap file built field by field, in the byte order and resolution asked for. */
function handBuilt(opts: { little: boolean; nano: boolean }, records: Array<{ sec: number; frac: number; frame: Uint8Array }>): Uint8Array {
  const head = new Uint8Array(24);
  const hv = new DataView(head.buffer);
  hv.setUint32(0, opts.nano ? PCAP_MAGIC_NS : PCAP_MAGIC_US, opts.little);
  hv.setUint16(4, 2, opts.little);
  hv.setUint16(6, 4, opts.little);
  hv.setUint32(16, 262144, opts.little);
  hv.setUint32(20, LINKTYPE_ETHERNET, opts.little);
  const parts: Uint8Array[] = [head];
  for (const r of records) {
    const rh = new Uint8Array(16);
    const rv = new DataView(rh.buffer);
    rv.setUint32(0, r.sec, opts.little);
    rv.setUint32(4, r.frac, opts.little);
    rv.setUint32(8, r.frame.length, opts.little);
    rv.setUint32(12, r.frame.length, opts.little);
    parts.push(rh, r.frame);
  }
  return concat(parts);
}

const MAC_A = 0x02_00_00_00_00_0a;
const MAC_B = 0x02_00_00_00_00_0b;
const REQUEST = arpFrame(1, MAC_A, '192.168.77.10', 0, '192.168.77.2', false);
const REPLY = arpFrame(2, MAC_B, '192.168.77.2', MAC_A, '192.168.77.10', true);

describe('pcap encoding', () => {
  it('writes the classic global header: magic, 2.4, snaplen 65535, Ethernet', () => {
    const h = encodePcapHeader();
    expect(h.length).toBe(PCAP_HEADER_LEN);
    const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
    expect(v.getUint32(0, true)).toBe(0xa1b2c3d4);
    expect([v.getUint16(4, true), v.getUint16(6, true)]).toEqual([2, 4]);
    expect(v.getInt32(8, true)).toBe(0);
    expect(v.getUint32(16, true)).toBe(65535);
    expect(v.getUint32(20, true)).toBe(1);
  });

  it('writes a record header with seconds, microseconds and both lengths', () => {
    const r = encodePcapRecord(REQUEST, 1_700_000_000_123.456);
    const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
    expect(v.getUint32(0, true)).toBe(1_700_000_000);
    expect(v.getUint32(4, true)).toBe(123_456);
    expect(v.getUint32(8, true)).toBe(42);
    expect(v.getUint32(12, true)).toBe(42);
    expect(r.subarray(16)).toEqual(REQUEST);
  });

  it('rounds microseconds up into the next second without overflowing the field', () => {
    const r = encodePcapRecord(REQUEST, 1999.9999);
    const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
    expect([v.getUint32(0, true), v.getUint32(4, true)]).toEqual([2, 0]);
  });

  it('rejects timestamps it cannot represent', () => {
    expect(() => encodePcapRecord(REQUEST, -1)).toThrow(RangeError);
    expect(() => encodePcapRecord(REQUEST, Number.NaN)).toThrow(RangeError);
    expect(() => encodePcapRecord(REQUEST, 2 ** 32 * 1000)).toThrow(RangeError);
  });

  it('round-trips header and records through readPcap', () => {
    const times = [0, 1_700_000_000_000, 1_700_000_000_000.001, 1_700_000_001_999.999];
    const frames = [REQUEST, REPLY, new Uint8Array(0), Uint8Array.from({ length: 1514 }, (_, i) => i & 0xff)];
    const file = concat([encodePcapHeader(), ...frames.map((f, i) => encodePcapRecord(f, times[i] ?? 0))]);
    const back = readPcap(file);
    expect(back.map((r) => r.frame)).toEqual(frames);
    back.forEach((r, i) => expect(r.timeMs).toBeCloseTo(times[i] ?? -1, 6));
  });

  it('cuts frames longer than snaplen but keeps their original length', () => {
    const big = new Uint8Array(PCAP_SNAPLEN + 100).fill(7);
    const r = encodePcapRecord(big, 5);
    const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
    expect(v.getUint32(8, true)).toBe(PCAP_SNAPLEN);
    expect(v.getUint32(12, true)).toBe(PCAP_SNAPLEN + 100);
    const back = readPcap(concat([encodePcapHeader(), r]));
    expect(back[0]?.frame.length).toBe(PCAP_SNAPLEN);
  });

  it('returns an empty list for a header-only file', () => {
    expect(readPcap(encodePcapHeader())).toEqual([]);
  });
});

describe('readPcap on other writers’ files', () => {
  const records = [
    { sec: 1_600_000_000, frac: 250_000, frame: REQUEST },
    { sec: 1_600_000_001, frac: 999_999, frame: REPLY },
  ];

  it('reads a big-endian (byte-swapped) microsecond file', () => {
    const back = readPcap(handBuilt({ little: false, nano: false }, records));
    expect(back.map((r) => r.frame)).toEqual([REQUEST, REPLY]);
    expect(back[0]?.timeMs).toBeCloseTo(1_600_000_000_250, 6);
    expect(back[1]?.timeMs).toBeCloseTo(1_600_000_001_999.999, 6);
  });

  it('reads nanosecond files in both byte orders', () => {
    const ns = [
      { sec: 10, frac: 123_456_789, frame: REQUEST },
      { sec: 11, frac: 999_999_999, frame: REPLY },
    ];
    for (const little of [true, false]) {
      const back = readPcap(handBuilt({ little, nano: true }, ns));
      expect(back.map((r) => r.frame)).toEqual([REQUEST, REPLY]);
      expect(back[0]?.timeMs).toBeCloseTo(10_123.456789, 9);
      expect(back[1]?.timeMs).toBeCloseTo(11_999.999999, 9);
    }
  });

  it('reads from a view into a larger buffer', () => {
    const file = handBuilt({ little: true, nano: false }, records);
    const padded = new Uint8Array(file.length + 10);
    padded.set(file, 5);
    expect(readPcap(padded.subarray(5, 5 + file.length)).map((r) => r.frame)).toEqual([REQUEST, REPLY]);
  });

  it('throws a clear error on a truncated file', () => {
    const file = concat([encodePcapHeader(), encodePcapRecord(REQUEST, 1), encodePcapRecord(REPLY, 2)]);
    expect(() => readPcap(file.subarray(0, 10))).toThrow(/truncated.*global header/);
    expect(() => readPcap(file.subarray(0, PCAP_HEADER_LEN + 8))).toThrow(/truncated.*record 0 header/);
    expect(() => readPcap(file.subarray(0, file.length - 1))).toThrow(/truncated.*record 1.*needs 60 bytes, 59 left/);
  });

  it('throws a clear error on files that are not classic Ethernet pcap', () => {
    expect(() => readPcap(new TextEncoder().encode('this is certainly not a capture file'))).toThrow(/not a pcap file/);
    const ng = new Uint8Array(32);
    new DataView(ng.buffer).setUint32(0, 0x0a0d0d0a, true);
    expect(() => readPcap(ng)).toThrow(/pcapng/);
    const other = encodePcapHeader();
    new DataView(other.buffer).setUint32(20, 113, true); // LINKTYPE_LINUX_SLL
    expect(() => readPcap(other)).toThrow(/link type 113 is not Ethernet/);
    const corrupt = concat([encodePcapHeader(), encodePcapRecord(REQUEST, 1)]);
    new DataView(corrupt.buffer).setUint32(PCAP_HEADER_LEN + 8, 43, true); // caplen 43 > origlen 42
    expect(() => readPcap(corrupt)).toThrow(/corrupt record 0/);
  });
});

describe('PcapWriter', () => {
  it('writes the header on open and a record per write; close is idempotent and final', () => {
    const file = path.join(tmp, 'writer.pcap');
    const w = new PcapWriter(file);
    expect(readFileSync(file).length).toBe(PCAP_HEADER_LEN);
    w.write(REQUEST, 1000.5);
    w.write(REPLY, 1001);
    w.close();
    w.close();
    expect(w.closed).toBe(true);
    expect(() => w.write(REQUEST, 1)).toThrow(/closed/);
    const back = readPcap(readFileSync(file));
    expect(back).toEqual([
      { timeMs: 1000.5, frame: REQUEST },
      { timeMs: 1001, frame: REPLY },
    ]);
  });

  it('truncates an existing file', () => {
    const file = path.join(tmp, 'again.pcap');
    writeFileSync(file, new Uint8Array(1000).fill(1));
    new PcapWriter(file).close();
    expect(readPcap(readFileSync(file))).toEqual([]);
  });
});

/** A NetDevice whose "wire" is the test: sent frames are kept, received frames are pushed with deliver(). */
class FakeDevice implements NetDevice {
  readonly mac = MAC_A;
  readonly mtu = 1500;
  readonly sent: Uint8Array[] = [];
  closed = false;
  private receiver: ((frame: Uint8Array) => void) | undefined;
  private readonly rxBuffer = new Uint8Array(2048); // reused for every received frame, like a real driver

  send(frame: Uint8Array): void {
    this.sent.push(frame.slice());
  }
  onFrame(receiver: (frame: Uint8Array) => void): void {
    this.receiver = receiver;
  }
  deliver(frame: Uint8Array): void {
    this.rxBuffer.set(frame);
    this.receiver?.(this.rxBuffer.subarray(0, frame.length));
    this.rxBuffer.fill(0xee); // the frame is gone once the callback returns
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

class ListRecorder implements FrameRecorder {
  readonly records: Array<{ timeMs: number; frame: Uint8Array }> = [];
  closed = false;
  write(frame: Uint8Array, timeMs: number): void {
    this.records.push({ timeMs, frame: frame.slice() });
  }
  close(): void {
    this.closed = true;
  }
}

describe('RecordingDevice', () => {
  it('passes frames through and records sent and received frames in order, with the injected clock', async () => {
    const inner = new FakeDevice();
    const rec = new ListRecorder();
    let t = 1000;
    const dev = new RecordingDevice(inner, rec, { now: () => t++ });
    expect(dev.mac).toBe(MAC_A);
    expect(dev.mtu).toBe(1500);
    const got: Uint8Array[] = [];
    dev.onFrame((f) => got.push(f.slice()));

    dev.send(REQUEST);
    inner.deliver(REPLY);
    const third = Uint8Array.from(REQUEST);
    third[41] = 99;
    dev.send(third);

    expect(inner.sent).toEqual([REQUEST, third]);
    expect(got).toEqual([REPLY]);
    expect(rec.records).toEqual([
      { timeMs: 1000, frame: REQUEST },
      { timeMs: 1001, frame: REPLY },
      { timeMs: 1002, frame: third },
    ]);

    await dev.close();
    expect(inner.closed).toBe(true);
    expect(rec.closed).toBe(true);
  });

  it('writes a pcap file that reads back the same, received frames captured while valid', async () => {
    const file = path.join(tmp, 'recorded.pcap');
    const inner = new FakeDevice();
    const times = [1_700_000_000_000, 1_700_000_000_000.25, 1_700_000_000_001];
    let i = 0;
    const dev = new RecordingDevice(inner, file, { now: () => times[i++] ?? 0 });
    dev.onFrame(() => {});
    inner.deliver(REQUEST);
    dev.send(REPLY);
    inner.deliver(REPLY);
    await dev.close();
    expect(readPcap(readFileSync(file))).toEqual([
      { timeMs: times[0], frame: REQUEST },
      { timeMs: times[1], frame: REPLY },
      { timeMs: times[2], frame: REPLY },
    ]);
  });

  it('defaults to wall-clock time', async () => {
    const rec = new ListRecorder();
    const dev = new RecordingDevice(new FakeDevice(), rec);
    const before = Date.now();
    dev.send(REQUEST);
    const after = Date.now();
    await dev.close();
    const t = rec.records[0]?.timeMs ?? -1;
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(after);
  });

  it('keeps the link working when recording fails, and reports the error', async () => {
    const inner = new FakeDevice();
    let closed = 0;
    const broken: FrameRecorder = {
      write: () => {
        throw new Error('disk full');
      },
      close: () => {
        closed++;
      },
    };
    const dev = new RecordingDevice(inner, broken);
    const got: Uint8Array[] = [];
    dev.onFrame((f) => got.push(f.slice()));
    expect(() => dev.send(REQUEST)).not.toThrow();
    inner.deliver(REPLY);
    dev.send(REPLY);
    expect(inner.sent).toEqual([REQUEST, REPLY]);
    expect(got).toEqual([REPLY]);
    expect(dev.recordError?.message).toBe('disk full');
    await dev.close();
    expect(closed).toBe(1);
    expect(inner.closed).toBe(true);
  });
});

describe('tshark reads what we write', () => {
  // A missing tshark fails these tests rather than skipping them: the check is the point.
  function tshark(args: string[]): string {
    return execFileSync('tshark', args, { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  it('sees the same frames, lengths and EtherType', () => {
    const file = path.join(tmp, 'arp.pcap');
    const w = new PcapWriter(file);
    w.write(REQUEST, 1_700_000_000_000);
    w.write(REPLY, 1_700_000_000_000.5);
    w.close();
    const out = tshark(['-r', file, '-T', 'fields', '-e', 'frame.len', '-e', 'eth.type']);
    // Numbers, not strings: tshark versions differ in how they print a hex field (0x0806 vs 0x00000806).
    const rows = out.trim().split('\n').map((l) => l.split('\t').map(Number));
    expect(rows).toEqual([
      [42, 0x0806],
      [60, 0x0806],
    ]);
    const arp = tshark(['-r', file, '-T', 'fields', '-e', 'arp.opcode', '-e', 'arp.src.proto_ipv4', '-e', 'arp.dst.proto_ipv4', '-e', 'frame.time_epoch']);
    const arpRows = arp.trim().split('\n').map((l) => l.split('\t'));
    expect(arpRows.map((r) => r.slice(0, 3))).toEqual([
      ['1', '192.168.77.10', '192.168.77.2'],
      ['2', '192.168.77.2', '192.168.77.10'],
    ]);
    expect(arpRows.map((r) => Number(r[3]))).toEqual([1_700_000_000, 1_700_000_000.0005]);
  });

  it('reads tshark’s own nanosecond rewrite of our file', () => {
    const src = path.join(tmp, 'src.pcap');
    const dst = path.join(tmp, 'nsec.pcap');
    const w = new PcapWriter(src);
    w.write(REQUEST, 1_700_000_000_123.456);
    w.write(REPLY, 1_700_000_001_000);
    w.close();
    tshark(['-r', src, '-F', 'nsecpcap', '-w', dst]);
    const bytes = readFileSync(dst);
    expect(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true)).toBe(PCAP_MAGIC_NS);
    const back = readPcap(bytes);
    expect(back.map((r) => r.frame)).toEqual([REQUEST, REPLY]);
    expect(back[0]?.timeMs).toBeCloseTo(1_700_000_000_123.456, 6);
    expect(back[1]?.timeMs).toBe(1_700_000_001_000);
  });
});
