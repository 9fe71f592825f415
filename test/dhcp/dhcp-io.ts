// The DHCP client's events applied to recording callbacks, for tests that watch what it asks for: after every
// call into the client, its events go to `io` in order (a `check` without `io.check` is answered "free" at once,
// as a stack without address conflict detection would).

import { DhcpClient, type DhcpClientOptions, type DhcpSavedLease, type Lease } from '../../src/dhcp/dhcp-client.ts';
import type { Ipv4Addr } from '../../src/net/addr.ts';

export interface DhcpIo {
  send(payload: Uint8Array, dst: Ipv4Addr): void;
  bound(lease: Lease, now: number): void;
  lost(reason: string): void;
  log(line: string): void;
  check?(lease: Lease, now: number): void;
  persist?(saved: DhcpSavedLease | undefined): void;
}

type Options = Pick<DhcpClientOptions, 'mac' | 'random'> & Partial<DhcpClientOptions>;

/** Where each of the client's calls takes its time. */
const NOW_ARG: Record<string, number> = { start: 0, poll: 0, release: 0, receive: 1, addressChecked: 2, addressConflict: 2 };

/** A DhcpClient whose events reach `io` as each call returns. */
export function clientWithIo(options: Options, io: DhcpIo): DhcpClient {
  const client = new DhcpClient(options, (line) => io.log(line));
  const drain = (now: number): void => {
    for (let e = client.takeEvents(); e.length > 0; e = client.takeEvents()) {
      for (const ev of e) {
        if (ev.kind === 'send') io.send(ev.payload, ev.dst);
        else if (ev.kind === 'bound') io.bound(ev.lease, now);
        else if (ev.kind === 'lost') io.lost(ev.reason);
        else if (ev.kind === 'persist') io.persist?.(ev.saved);
        else if (io.check !== undefined) io.check(ev.lease, now);
        else proxy.addressChecked(ev.lease.address, undefined, now);
      }
    }
  };
  const proxy: DhcpClient = new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string' || !(prop in NOW_ARG)) return value;
      return (...args: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        const now = args[NOW_ARG[prop] ?? 0];
        drain(typeof now === 'number' ? now : 0);
        return result;
      };
    },
  });
  return proxy;
}
