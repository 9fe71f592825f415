// What each client message carries (src/dhcp/dhcp-messages.ts, RFC 2131 table 5), and that it survives the wire.

import { describe, expect, it } from 'vitest';
import {
  MAX_MESSAGE_SIZE, PARAMETER_REQUEST_LIST, clientIdentifier, declineMessage, discoverMessage, rebootRequestMessage,
  releaseMessage, renewalRequestMessage, selectingRequestMessage, type DhcpClientIdentity, type OutgoingDhcp,
} from '../../src/dhcp/dhcp-messages.ts';
import { DhcpMessageType as T, FLAG_BROADCAST, encodeDhcp, parseDhcp } from '../../src/dhcp/dhcp-wire.ts';
import { IPV4_BROADCAST, parseMac } from '../../src/net/addr.ts';
import { ip } from '../net/frames.ts';

const MAC = parseMac('02:00:00:aa:bb:cc') ?? 0;
const SERVER = ip('192.168.77.1');
const ADDR = ip('192.168.77.100');
const ID: DhcpClientIdentity = { mac: MAC, clientId: clientIdentifier(MAC), hostname: 'mirage' };
const ASK = { clientId: ID.clientId, parameterRequestList: PARAMETER_REQUEST_LIST, maxMessageSize: MAX_MESSAGE_SIZE, hostname: 'mirage' };

/** Through the encoder and back, as a server would see it. */
function wire(out: OutgoingDhcp) {
  const msg = parseDhcp(encodeDhcp(out.msg));
  if (msg === undefined) throw new Error('unparsable');
  return { msg, dst: out.dst };
}

describe('dhcp-messages', () => {
  it('client identifier: hardware type 1, then the MAC (RFC 2132 §9.14)', () => {
    expect(clientIdentifier(MAC)).toEqual(Uint8Array.from([1, 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]));
  });

  it('DISCOVER: broadcast with the BROADCAST flag, ciaddr 0, the parameter list and hostname', () => {
    const { msg, dst } = wire(discoverMessage(ID, 0x1234, 7));
    expect(dst).toBe(IPV4_BROADCAST);
    expect(msg).toMatchObject({ op: 1, xid: 0x1234, secs: 7, flags: FLAG_BROADCAST, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: MAC });
    expect(msg.options).toEqual({ messageType: T.DISCOVER, ...ASK });
  });

  it('leaves the hostname out when there is none', () => {
    expect(wire(discoverMessage({ ...ID, hostname: undefined }, 1, 0)).msg.options.hostname).toBeUndefined();
  });

  it('REQUEST in SELECTING names the offer and its server; INIT-REBOOT names no server', () => {
    const sel = wire(selectingRequestMessage(ID, 9, 3, { address: ADDR, server: SERVER }));
    expect(sel.dst).toBe(IPV4_BROADCAST);
    expect(sel.msg).toMatchObject({ secs: 3, flags: FLAG_BROADCAST, ciaddr: 0 });
    expect(sel.msg.options).toEqual({ messageType: T.REQUEST, requestedIp: ADDR, serverId: SERVER, ...ASK });
    const reboot = wire(rebootRequestMessage(ID, 9, 0, ADDR));
    expect(reboot.dst).toBe(IPV4_BROADCAST);
    expect(reboot.msg).toMatchObject({ flags: FLAG_BROADCAST, ciaddr: 0 });
    expect(reboot.msg.options).toEqual({ messageType: T.REQUEST, requestedIp: ADDR, ...ASK });
  });

  it('REQUEST in RENEWING goes to the server, in REBINDING to everyone; both with ciaddr, no flag, no server id', () => {
    for (const [server, dst] of [[SERVER, SERVER], [undefined, IPV4_BROADCAST]] as const) {
      const r = wire(renewalRequestMessage(ID, 5, 60, ADDR, server));
      expect(r.dst).toBe(dst);
      expect(r.msg).toMatchObject({ secs: 60, flags: 0, ciaddr: ADDR });
      expect(r.msg.options).toEqual({ messageType: T.REQUEST, ...ASK });
    }
  });

  it('DECLINE and RELEASE carry only what table 5 asks of them', () => {
    const d = wire(declineMessage(ID, 5, ADDR, SERVER, parseMac('02:00:00:00:00:99') ?? 0));
    expect(d.dst).toBe(IPV4_BROADCAST);
    expect(d.msg).toMatchObject({ secs: 0, flags: 0, ciaddr: 0 });
    expect(d.msg.options).toEqual({
      messageType: T.DECLINE, requestedIp: ADDR, serverId: SERVER, clientId: ID.clientId, message: 'address in use by 02:00:00:00:00:99',
    });
    const r = wire(releaseMessage(ID, 6, ADDR, SERVER));
    expect(r.dst).toBe(SERVER);
    expect(r.msg).toMatchObject({ secs: 0, flags: 0, ciaddr: ADDR });
    expect(r.msg.options).toEqual({ messageType: T.RELEASE, serverId: SERVER, clientId: ID.clientId });
  });
});
