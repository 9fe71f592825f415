// The receiving half of a connection: the receive sequence space (RFC 9293 §3.3.1), the acceptability test of
// incoming segments (§3.10.7.4 first check), in-order delivery into the receive buffer, the out-of-order queue
// and its SACK blocks (RFC 2018 §4), the window we advertise (§3.8.6.2) and when an ACK is due (RFC 5681 §4.2,
// delayed ACKs).

import type { LayerCounter } from '../counters.ts';
import { copyBytes } from '../addr.ts';
import { ByteRing } from './byte-ring.ts';
import type { MemoryBudget } from './memory-budget.ts';
import { seqAdd, seqDiff, seqGe, seqGt, seqInWindow, seqLe, seqLt } from './seq.ts';
import { SeqRanges, type SeqRange } from './seq-ranges.ts';
import type { TcpConfig } from './tcp-config.ts';

interface OutOfOrder {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

const EMPTY = new Uint8Array(0);

export class TcpReceiver {
  /** RCV.NXT, and RCV.ADV: the right edge of the window we last advertised. */
  private rcvNxt = 0;
  private rcvAdv = 0;
  private irs = 0;
  /** RFC 7323 window shift of what we advertise (0 when not negotiated). */
  private shift: number;
  private readonly buf: ByteRing;
  private ooo: OutOfOrder[] = [];
  private oooBytes = 0;
  /** The start of the out-of-order segment that arrived last: its block is reported first (RFC 2018 §4). */
  private lastOooSeq: number | undefined;
  /** A duplicate to report as the first SACK block of the next ACK (RFC 2883), when SACK is on. */
  private dsack: SeqRange | undefined;
  /** The peer's FIN has been received (EOF for the application). */
  private peerFin = false;
  /** The application will read no more: data that still arrives is acknowledged and dropped. */
  private readClosed = false;
  private ackNeeded = false;
  private delAckAt: number | undefined;
  private unackedSegments = 0;

  constructor(
    private readonly config: TcpConfig,
    /** Our MSS on this route (segments of this size, less the peer's options, are full ones). */
    private readonly mss: number,
    shift: number,
    private readonly budget: MemoryBudget | undefined,
    private readonly counts: { count(name: LayerCounter<'tcp'>): void },
  ) {
    this.shift = shift;
    this.buf = new ByteRing(config.receiveBufferSize, budget);
  }

  get nxt(): number { return this.rcvNxt; }

  get windowShift(): number { return this.shift; }

  get readable(): number { return this.buf.length; }

  /** The application closed its reading side. */
  get readClosedByApp(): boolean { return this.readClosed; }

  get finReceived(): boolean { return this.peerFin; }

  get outOfOrderSegments(): number { return this.ooo.length; }

  /** What we still accept, from RCV.NXT to the edge we advertised (0 when that edge is behind). */
  get window(): number { return seqDiff(this.rcvAdv, this.rcvNxt) > 0 ? seqDiff(this.rcvAdv, this.rcvNxt) : 0; }

  /** The peer's SYN (or the SYN a cookie stood for) started its sequence space at `irs`. */
  start(irs: number): void {
    this.irs = irs;
    this.rcvNxt = seqAdd(irs, 1);
    this.rcvAdv = this.rcvNxt;
  }

  /** A retransmission of the peer's SYN (same ISN). */
  isPeerSyn(seq: number): boolean {
    return seq === this.irs;
  }

  /** The peer does not scale windows: neither do we (RFC 7323 §2.2). */
  noScaling(): void {
    this.shift = 0;
  }

  /** The window for a SYN or SYN-ACK (never scaled, RFC 7323 §2.2); with `advertised`, RCV.ADV moves to its edge. */
  synWindow(advertised: boolean): number {
    const window = Math.min(65535, this.room());
    if (advertised) this.rcvAdv = seqAdd(this.rcvNxt, window);
    return window;
  }

  /** RFC 9293 §3.10.7.4 first check: is a segment of SEG.LEN `len` at `seq` acceptable? */
  acceptable(seq: number, len: number): boolean {
    const wnd = this.window;
    const next = this.rcvNxt;
    const edge = seqAdd(next, wnd);
    if (len === 0) return wnd === 0 ? seq === next : seqInWindow(seq, next, edge);
    return wnd > 0 && (seqInWindow(seq, next, edge) || seqInWindow(seqAdd(seq, len - 1), next, edge));
  }

  /**
   * Segment text (§3.10.7.4 seventh): cuts off what we already have and what lies past `wnd` (the window the
   * segment was judged against). Returns what is left to take, or undefined when nothing is (an all-old
   * duplicate is then owed an ACK at once).
   */
  trim(seg: { seq: number; payload: Uint8Array; fin: boolean }, wnd: number): { seq: number; payload: Uint8Array; fin: boolean } | undefined {
    let { seq, payload, fin } = seg;
    if (seqLt(seq, this.rcvNxt)) {
      const skip = seqDiff(this.rcvNxt, seq);
      // RFC 2883 §4: data we had already is reported, once, as the first SACK block (a D-SACK).
      if (payload.length > 0) this.dsack = [seq, seqAdd(seq, Math.min(skip, payload.length))];
      fin = fin && skip <= payload.length; // the FIN sits right after the data
      payload = payload.subarray(Math.min(skip, payload.length));
      seq = this.rcvNxt;
    }
    const room = Math.max(0, seqDiff(seqAdd(this.rcvNxt, wnd), seq));
    if (payload.length > room) {
      payload = payload.subarray(0, room);
      fin = false;
    }
    if (payload.length > 0 || fin) return { seq, payload, fin };
    if (seg.payload.length > 0) this.ackNeeded = true; // all of it was old: a duplicate, acknowledged at once
    return undefined;
  }

  /**
   * In-order data and FIN (what `trim` left), with the out-of-order queue and delayed ACKs. Returns `fin` when the
   * peer's FIN was reached (RCV.NXT then covers it), `held` when the piece went to the out-of-order queue (nothing
   * new for the application), else `data`.
   */
  take(piece: { seq: number; payload: Uint8Array; fin: boolean }, now: number): 'data' | 'fin' | 'held' {
    const { seq, payload, fin } = piece;
    if (seq !== this.rcvNxt) {
      // RFC 5681 §4.2: out-of-order data is acknowledged at once (a duplicate ACK, with SACK blocks).
      this.queueOutOfOrder(seq, payload, fin);
      this.ackNeeded = true;
      return 'held';
    }
    const hadHoles = this.ooo.length > 0;
    let taken = this.accept(payload);
    let finNow = fin && taken === payload.length;
    // Pull in what was waiting right after it.
    while (taken >= 0) {
      const next = this.ooo[0];
      if (next === undefined || seqGt(next.seq, this.rcvNxt)) break;
      this.ooo.shift();
      this.oooBytes -= next.data.length;
      this.budget?.release(next.data.length);
      const skip = seqDiff(this.rcvNxt, next.seq);
      const rest = skip < next.data.length ? next.data.subarray(skip) : EMPTY;
      const n = this.accept(rest);
      if (n < rest.length) {
        taken = -1; // out of room: the peer will send the rest again
        break;
      }
      if (next.fin && skip <= next.data.length) finNow = true;
    }
    if (finNow) {
      this.rcvNxt = seqAdd(this.rcvNxt, 1);
      this.peerFin = true;
      this.dropOutOfOrder();
      this.ackNeeded = true;
    } else if (hadHoles) {
      this.ackNeeded = true; // RFC 5681 §4.2: a segment that fills a hole is acknowledged at once
    } else if (payload.length > 0) {
      // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: ACK at least every second full-sized segment, else within the delay.
      // Counted in full segments' worth, so that a super-segment merged by the device (GRO) counts as many.
      // A full segment from the peer is our MSS less its timestamp option (when `tsOk`).
      const full = this.mss - (this.tsOk ? 12 : 0);
      this.unackedSegments += Math.max(1, Math.floor(payload.length / full));
      if (this.unackedSegments >= 2) this.ackNeeded = true;
      else this.delAckAt ??= now + this.config.delayedAckMs;
    }
    return finNow ? 'fin' : 'data';
  }

  /** Timestamps agreed: full segments from the peer carry 12 bytes of them. */
  tsOk = false;

  /** Takes in-order bytes (dropped if the application is gone); returns how many were taken. */
  private accept(data: Uint8Array): number {
    if (data.length === 0) return 0;
    const n = this.readClosed ? data.length : this.buf.push(data);
    if (n < data.length) this.counts.count('tcp.rx_no_room');
    this.rcvNxt = seqAdd(this.rcvNxt, n);
    return n;
  }

  private queueOutOfOrder(seq: number, data: Uint8Array, fin: boolean): void {
    // RFC 2883 §4 (case of out-of-order data received twice): the duplicated part is D-SACKed.
    const end = seqAdd(seq, data.length);
    const dup = this.ooo.find((o) => seqLt(o.seq, end) && seqLt(seq, seqAdd(o.seq, o.data.length)));
    if (dup !== undefined) {
      const dupEnd = seqAdd(dup.seq, dup.data.length);
      this.dsack = [seqGt(dup.seq, seq) ? dup.seq : seq, seqLt(dupEnd, end) ? dupEnd : end];
    }
    if (this.ooo.some((o) => o.seq === seq && o.data.length >= data.length)) return;
    if (this.ooo.length >= this.config.maxOutOfOrderSegments || this.oooBytes + data.length > this.config.receiveBufferSize) {
      this.counts.count('tcp.rx_ooo_dropped');
      return;
    }
    // Held bytes count against the shared budget too: otherwise many connections' out-of-order data, each
    // within its window, could add up past every bound.
    // A quarter of the budget stays for in-order data, which is what lets a connection move on.
    const budget = this.budget;
    if (budget !== undefined && (budget.available - data.length < budget.limit / 4 || !budget.tryReserve(data.length))) {
      this.counts.count('tcp.rx_ooo_no_memory');
      return;
    }
    this.ooo.push({ seq, data: copyBytes(data), fin });
    this.oooBytes += data.length;
    this.ooo.sort((a, b) => seqDiff(a.seq, b.seq));
    this.lastOooSeq = seq;
    this.counts.count('tcp.rx_out_of_order');
  }

  /** Forgets the out-of-order data held, and gives its bytes back to the budget. */
  dropOutOfOrder(): void {
    this.budget?.release(this.oooBytes);
    this.ooo = [];
    this.oooBytes = 0;
  }

  /** Takes up to `max` received bytes; the window opens as the application reads (§3.10.3 RECEIVE). */
  read(max: number): Uint8Array {
    const out = this.buf.take(Math.min(max, this.buf.length));
    if (out.length > 0 && this.windowUpdateDue()) this.ackNeeded = true;
    return out;
  }

  /** The application will read no more: what is buffered is dropped, and so is what still arrives. */
  closeRead(): void {
    this.readClosed = true;
    this.buf.consume(this.buf.length);
  }

  /** Free receive space: what the buffer (and the shared memory budget) can still take. */
  private room(): number {
    return this.readClosed ? this.config.receiveBufferSize : this.buf.room;
  }

  /** The window field of a segment we send now (scaled; rounded down, see `advertise`). */
  windowField(): number {
    // Round down: the peer must never be told of room past RCV.ADV, the edge we accept up to. A kept
    // edge that is not a multiple of 2^shift looks up to 2^shift − 1 bytes nearer; we still accept to it.
    return Math.min(0xffff, Math.floor(this.advertise() / 2 ** this.shift));
  }

  /**
   * The window to advertise, never moving the right edge left (RFC 9293 §3.8.6.2.1) and opening it
   * only in steps of min(buffer/2, MSS) (receiver SWS avoidance, §3.8.6.2.2).
   */
  private advertise(): number {
    const free = this.room();
    const edge = seqAdd(this.rcvNxt, free);
    const step = Math.min(this.config.receiveBufferSize / 2, this.mss);
    if (seqGe(this.rcvAdv, this.rcvNxt) && seqDiff(edge, this.rcvAdv) < step) return Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    // A new edge sits on a multiple of 2^shift from RCV.NXT, so the shifted field says it exactly.
    const unit = 2 ** this.shift;
    this.rcvAdv = seqAdd(this.rcvNxt, Math.floor(Math.min(free, 0xffff * unit) / unit) * unit);
    return seqDiff(this.rcvAdv, this.rcvNxt);
  }

  private windowUpdateDue(): boolean {
    const edge = seqAdd(this.rcvNxt, this.room());
    const step = Math.min(this.config.receiveBufferSize / 2, this.mss);
    return seqDiff(edge, this.rcvAdv) >= step;
  }

  /**
   * Up to 3 SACK blocks (4 without timestamps), the most recently changed first (RFC 2018 §4), after a D-SACK
   * block when a duplicate is to be reported (RFC 2883 §4); none without holes or duplicates.
   */
  sackBlocks(): SeqRange[] | undefined {
    const dsack = this.dsack;
    if (this.ooo.length === 0) return dsack === undefined ? undefined : [dsack];
    const blocks = new SeqRanges();
    for (const o of this.ooo) blocks.add(o.seq, seqAdd(o.seq, o.data.length));
    const all = [...blocks.list];
    const recent = this.lastOooSeq;
    const first = recent === undefined ? -1 : all.findIndex(([s, e]) => seqLe(s, recent) && seqLt(recent, e));
    const ordered = first >= 0 ? [all[first] as SeqRange, ...all.filter((_, i) => i !== first).reverse()] : all.reverse();
    return (dsack === undefined ? ordered : [dsack, ...ordered]).slice(0, this.tsOk ? 3 : 4);
  }

  /** A segment that fell outside the window: data all below RCV.NXT is a duplicate to D-SACK (RFC 2883 §4). */
  oldDuplicate(seq: number, len: number): void {
    if (len > 0 && seqLe(seqAdd(seq, len), this.rcvNxt) && seqGt(seqAdd(seq, len), seqAdd(this.rcvNxt, -0x40000000))) this.dsack = [seq, seqAdd(seq, len)];
  }

  /** A D-SACK waits for the next ACK (its room is kept on data segments meanwhile, see sackBlocksRide). */
  get dsackPending(): boolean {
    return this.dsack !== undefined;
  }

  // ——— When an ACK is due ———

  /** An ACK must go out with the next output (a duplicate, a window update, a challenge…). */
  needAck(): void {
    this.ackNeeded = true;
  }

  /** An ACK is due now: asked for, or the delayed ACK's time has come. */
  ackDue(now: number): boolean {
    return this.ackNeeded || (this.delAckAt !== undefined && now >= this.delAckAt);
  }

  get ackWanted(): boolean { return this.ackNeeded; }

  get delayedAckAt(): number | undefined { return this.delAckAt; }

  /** A segment carrying an ACK left: nothing is owed any more. */
  ackSent(): void {
    this.dsack = undefined; // reported once (RFC 2883 §4)
    this.ackNeeded = false;
    this.delAckAt = undefined;
    this.unackedSegments = 0;
  }

  stopTimer(): void {
    this.delAckAt = undefined;
  }

  /** The connection is gone (`now`) or done but the application may still be reading (`whenEmpty`). */
  dispose(whenEmpty: boolean): void {
    this.dropOutOfOrder();
    if (whenEmpty) this.buf.disposeWhenEmpty();
    else this.buf.dispose();
  }
}
