// Classic libpcap capture files (the format tcpdump -w and Wireshark read): writing Ethernet frames as they
// pass a NetDevice, and reading such files back in tests and tools.
//
// Layout: a 24-byte global header (magic, version 2.4, thiszone, sigfigs, snaplen, link type), then per frame a
// 16-byte record header (seconds, micro- or nanoseconds, captured length, original length) and the captured bytes.
// We write little-endian, microsecond files with snaplen 65535 and LINKTYPE_ETHERNET; we read either byte order
// and either time resolution.

import { closeSync, openSync, writeSync, writevSync } from 'node:fs';
import type { MacAddr } from './addr.ts';
import type { NetDevice } from './device.ts';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_SNAPLEN = 65535;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;

const PCAPNG_MAGIC = 0x0a0d0d0a;

export interface PcapFrame {
  /** Capture time, milliseconds since the Unix epoch (fractional: micro- or nanosecond precision). */
  timeMs: number;
  /** The captured bytes (at most snaplen of the original frame). */
  frame: Uint8Array;
}

/** The 24-byte global header: little-endian, microsecond timestamps, snaplen 65535, Ethernet. */
export function encodePcapHeader(): Uint8Array {
  const out = new Uint8Array(PCAP_HEADER_LEN);
  const v = new DataView(out.buffer);
  v.setUint32(0, PCAP_MAGIC_US, true);
  v.setUint16(4, PCAP_VERSION_MAJOR, true);
  v.setUint16(6, PCAP_VERSION_MINOR, true);
  v.setInt32(8, 0, true); // thiszone: timestamps are UTC
  v.setUint32(12, 0, true); // sigfigs
  v.setUint32(16, PCAP_SNAPLEN, true);
  v.setUint32(20, LINKTYPE_ETHERNET, true);
  return out;
}

/** The 16-byte record header for `frame` captured at `timeMs` (ms since the epoch), frames over snaplen cut. */
export function encodePcapRecordHeader(frameLength: number, timeMs: number): Uint8Array {
  if (!Number.isFinite(timeMs) || timeMs < 0) throw new RangeError(`pcap: timestamp ${timeMs} ms is not a non-negative finite number`);
  const totalUs = Math.round(timeMs * 1000);
  const sec = Math.floor(totalUs / 1_000_000);
  if (sec > 0xffffffff) throw new RangeError(`pcap: timestamp ${timeMs} ms does not fit 32-bit seconds`);
  const out = new Uint8Array(PCAP_RECORD_HEADER_LEN);
  const v = new DataView(out.buffer);
  v.setUint32(0, sec, true);
  v.setUint32(4, totalUs - sec * 1_000_000, true);
  v.setUint32(8, Math.min(frameLength, PCAP_SNAPLEN), true);
  v.setUint32(12, frameLength, true);
  return out;
}

/** One record: header plus the captured bytes (a copy; frames over snaplen are cut, keeping the original length). */
export function encodePcapRecord(frame: Uint8Array, timeMs: number): Uint8Array {
  const header = encodePcapRecordHeader(frame.length, timeMs);
  const caplen = Math.min(frame.length, PCAP_SNAPLEN);
  const out = new Uint8Array(PCAP_RECORD_HEADER_LEN + caplen);
  out.set(header, 0);
  out.set(caplen === frame.length ? frame : frame.subarray(0, caplen), PCAP_RECORD_HEADER_LEN);
  return out;
}

/**
 * Parses a whole classic pcap file of Ethernet frames, in either byte order, with micro- or nanosecond
 * timestamps. Throws an Error naming the problem for anything else: too short, not pcap (pcapng included),
 * another link type, or a record cut short. The frames returned are plain Uint8Array copies (also for a Buffer).
 */
export function readPcap(bytes: Uint8Array): PcapFrame[] {
  if (bytes.length < PCAP_HEADER_LEN) {
    throw new Error(`pcap: truncated file: ${bytes.length} bytes, the global header alone needs ${PCAP_HEADER_LEN}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicBE = v.getUint32(0, false);
  const magicLE = v.getUint32(0, true);
  let little: boolean;
  let nano: boolean;
  if (magicLE === PCAP_MAGIC_US || magicLE === PCAP_MAGIC_NS) {
    little = true;
    nano = magicLE === PCAP_MAGIC_NS;
  } else if (magicBE === PCAP_MAGIC_US || magicBE === PCAP_MAGIC_NS) {
    little = false;
    nano = magicBE === PCAP_MAGIC_NS;
  } else if (magicBE === PCAPNG_MAGIC) {
    throw new Error('pcap: this is a pcapng file; only classic pcap is supported (convert with: editcap -F pcap IN OUT)');
  } else {
    throw new Error(`pcap: not a pcap file (magic 0x${magicBE.toString(16).padStart(8, '0')})`);
  }
  const major = v.getUint16(4, little);
  if (major !== PCAP_VERSION_MAJOR) throw new Error(`pcap: unsupported version ${major}.${v.getUint16(6, little)}`);
  const linktype = v.getUint32(20, little) & 0xffff; // the upper bits may carry FCS information
  if (linktype !== LINKTYPE_ETHERNET) throw new Error(`pcap: link type ${linktype} is not Ethernet (${LINKTYPE_ETHERNET})`);

  const fracPerMs = nano ? 1_000_000 : 1_000;
  const fracMax = nano ? 1_000_000_000 : 1_000_000;
  const frames: PcapFrame[] = [];
  let off = PCAP_HEADER_LEN;
  while (off < bytes.length) {
    const n = frames.length;
    if (bytes.length - off < PCAP_RECORD_HEADER_LEN) {
      throw new Error(`pcap: truncated file: record ${n} header at offset ${off} has ${bytes.length - off} of ${PCAP_RECORD_HEADER_LEN} bytes`);
    }
    const sec = v.getUint32(off, little);
    const frac = v.getUint32(off + 4, little);
    const caplen = v.getUint32(off + 8, little);
    const origlen = v.getUint32(off + 12, little);
    if (frac >= fracMax) throw new Error(`pcap: corrupt record ${n} at offset ${off}: sub-second field ${frac} out of range`);
    if (caplen > origlen) throw new Error(`pcap: corrupt record ${n} at offset ${off}: captured ${caplen} > original ${origlen} bytes`);
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (bytes.length - start < caplen) {
      throw new Error(`pcap: truncated file: record ${n} at offset ${off} needs ${caplen} bytes, ${bytes.length - start} left`);
    }
    frames.push({ timeMs: sec * 1000 + frac / fracPerMs, frame: new Uint8Array(bytes.subarray(start, start + caplen)) });
    off = start + caplen;
  }
  return frames;
}

/** Where a RecordingDevice puts frames. PcapWriter is one; tests may pass their own. */
export interface FrameRecorder {
  /** Records `frame` (valid only during the call) captured at `timeMs`, ms since the epoch. */
  write(frame: Uint8Array, timeMs: number): void;
  close(): void;
}

/** Writes a pcap file synchronously: the header when opened, one record per `write`. */
export class PcapWriter implements FrameRecorder {
  private fd: number | undefined;

  /** Creates (or truncates) `path` and writes the global header. */
  constructor(readonly path: string) {
    const fd = openSync(path, 'w');
    try {
      writeAll(fd, [encodePcapHeader()]);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.fd = fd;
  }

  get closed(): boolean {
    return this.fd === undefined;
  }

  /** Appends one record; the frame is written before returning and not kept. Throws after close(). */
  write(frame: Uint8Array, timeMs: number): void {
    if (this.fd === undefined) throw new Error(`pcap: write to closed PcapWriter (${this.path})`);
    const header = encodePcapRecordHeader(frame.length, timeMs);
    const data = frame.length > PCAP_SNAPLEN ? frame.subarray(0, PCAP_SNAPLEN) : frame;
    writeAll(this.fd, [header, data]);
  }

  /** Closes the file; later calls do nothing. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

/** Writes every byte of `parts`, in one writev when the kernel takes it all, without copying the frame. */
function writeAll(fd: number, parts: Uint8Array[]): void {
  const total = parts.reduce((n, p) => n + p.length, 0);
  let written = writevSync(fd, parts);
  if (written === total) return;
  for (const p of parts) {
    if (written >= p.length) {
      written -= p.length;
      continue;
    }
    let off = written;
    written = 0;
    while (off < p.length) off += writeSync(fd, p, off, p.length - off);
  }
}

export interface RecordingDeviceOptions {
  /** Wall-clock milliseconds since the epoch for each record; Date.now by default. */
  now?: () => number;
}

/**
 * A NetDevice that passes everything through to `inner` and records each frame sent and each frame received,
 * in the order they pass, into `recorder` (a PcapWriter, or a path to create one). Recording never breaks the
 * link: should the recorder throw, the first error is kept in `recordError`, recording stops and frames flow on.
 */
export class RecordingDevice implements NetDevice {
  private readonly recorder: FrameRecorder;
  private readonly now: () => number;
  private recording = true;
  private error: Error | undefined;

  constructor(
    private readonly inner: NetDevice,
    recorder: FrameRecorder | string,
    options: RecordingDeviceOptions = {},
  ) {
    this.recorder = typeof recorder === 'string' ? new PcapWriter(recorder) : recorder;
    this.now = options.now ?? Date.now;
  }

  get mac(): MacAddr {
    return this.inner.mac;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  /** The error that stopped recording, if any. */
  get recordError(): Error | undefined {
    return this.error;
  }

  send(frame: Uint8Array): void {
    this.record(frame); // first: a synchronous inner link may answer before send() returns
    this.inner.send(frame);
  }

  // No offloads pass through a recorder, and what the device knows of a frame (RxInfo) stays behind: a capture
  // is of wire frames with complete checksums, so src/stack/direct-stack.ts opens the TAP without offloads under --pcap.
  onFrame(receiver: (frame: Uint8Array) => void): void {
    this.inner.onFrame((frame) => {
      this.record(frame); // now, while the frame is valid, and before the receiver may reuse it
      receiver(frame);
    });
  }

  /** Closes the inner device, then the recorder (even if the inner close fails). */
  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      this.stop();
    }
  }

  private record(frame: Uint8Array): void {
    if (!this.recording) return;
    try {
      this.recorder.write(frame, this.now());
    } catch (err) {
      this.error = err instanceof Error ? err : new Error(String(err));
      this.stop();
    }
  }

  private stop(): void {
    if (!this.recording) return;
    this.recording = false;
    try {
      this.recorder.close();
    } catch (err) {
      this.error ??= err instanceof Error ? err : new Error(String(err));
    }
  }
}
