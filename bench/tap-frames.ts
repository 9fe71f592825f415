// The device layer alone, through real TAPs: one process sends minimum-size frames out of its TAP as fast
// as it can, the bridge forwards them to a second TAP, another process takes them in through its reader.
// Run in the lab namespace (bench/run.ts does), as two processes:
//   node dist/tap-frames.js recv SECONDS   prints `ready`, then one JSON line: frames in, their rate
//   node dist/tap-frames.js send SECONDS   one JSON line: frames out, their rate
// No stack: this is the frame path the stack sits on (src/net/tap-device.ts), both bindings' way.

import { TapDevice, type TapBinding } from '../src/net/tap-device.ts';

const RX_MAC = 0x02000000f00d;
const TX_MAC = 0x02000000beef;
/** IEEE 802 local experimental EtherType: nobody on the bridge answers it. */
const ETHERTYPE = 0x88b5;

function frameTo(dst: number, src: number): Uint8Array {
  const f = new Uint8Array(60);
  for (let i = 0; i < 6; i++) {
    f[i] = Math.floor(dst / 2 ** (8 * (5 - i))) & 0xff;
    f[6 + i] = Math.floor(src / 2 ** (8 * (5 - i))) & 0xff;
  }
  f[12] = ETHERTYPE >>> 8;
  f[13] = ETHERTYPE & 0xff;
  return f;
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

async function recv(seconds: number, binding: TapBinding): Promise<void> {
  const dev = TapDevice.open({ bridge: 'br0', mac: RX_MAC, binding, offloads: false });
  let frames = 0;
  let first = 0;
  let last = 0;
  dev.onFrame((f) => {
    if (f[0] !== 0x02 || f[5] !== 0x0d || f[12] !== 0x88) return;
    if (frames === 0) first = performance.now();
    frames++;
    last = performance.now();
  });
  // One frame out, so that the bridge learns where RX_MAC lives and forwards to this port only.
  dev.send(frameTo(0xffffffffffff, RX_MAC));
  process.stdout.write('ready\n');
  const deadline = performance.now() + seconds * 1000 + 10_000;
  while (performance.now() < deadline && (frames === 0 || performance.now() - last < 300)) await new Promise((r) => setTimeout(r, 50));
  const s = (last - first) / 1000;
  process.stdout.write(`${JSON.stringify({ role: 'recv', binding: dev.binding, frames, seconds: s, rate: s > 0 ? frames / s : 0, rx: dev.pumpStats })}\n`);
  await dev.close();
  process.exit(0);
}

async function send(seconds: number, binding: TapBinding): Promise<void> {
  const dev = TapDevice.open({ bridge: 'br0', mac: TX_MAC, binding, offloads: false });
  dev.onFrame(() => {});
  const frame = frameTo(RX_MAC, TX_MAC);
  // Give the bridge a moment to take the new port into forwarding.
  await new Promise((r) => setTimeout(r, 300));
  let frames = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 1024; i++) dev.send(frame);
    frames += 1024;
    await immediate();
  }
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(`${JSON.stringify({ role: 'send', binding: dev.binding, frames, seconds: s, rate: frames / s })}\n`);
  await dev.close();
  process.exit(0);
}

const [role, secondsArg, bindingArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? '3');
const binding: TapBinding = bindingArg === 'tuntap2' ? 'tuntap2' : 'native';
if (role === 'recv') await recv(seconds, binding);
else if (role === 'send') await send(seconds, binding);
else {
  process.stderr.write('usage: tap-frames recv|send SECONDS [native|tuntap2]\n');
  process.exit(2);
}
