import { describe, expect, it } from 'vitest';
import { USAGE, parseCli, type CliResult } from '../src/cli.ts';

function errorOf(r: CliResult): string {
  if (r.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r.message;
}

describe('parseCli', () => {
  it('has defaults', () => {
    expect(parseCli([])).toEqual({
      kind: 'run',
      config: { stack: 'direct', port: 8088, listen: '0.0.0.0', data: './data', bridge: 'br0', mac: undefined, ipv4: undefined, pcap: undefined, echoPort: undefined, fault: undefined, ipv6: { mode: 'auto' } },
    });
  });

  it.each([['--help'], ['-h']])('%s asks for help', (flag) => {
    expect(parseCli([flag])).toEqual({ kind: 'help' });
  });

  it('help wins over other valid flags', () => {
    expect(parseCli(['--port', '9000', '-h'])).toEqual({ kind: 'help' });
  });

  it('takes every flag', () => {
    expect(parseCli(['--stack', 'socket', '--port', '9000', '--listen', '127.0.0.1', '--data', '/srv/users'])).toEqual({
      kind: 'run',
      config: { stack: 'socket', port: 9000, listen: '127.0.0.1', data: '/srv/users', bridge: 'br0', mac: undefined, ipv4: undefined, pcap: undefined, echoPort: undefined, fault: undefined },
    });
  });

  it('takes --flag=value', () => {
    expect(parseCli(['--port=8443', '--data=x'])).toEqual({
      kind: 'run',
      config: { stack: 'direct', port: 8443, listen: '0.0.0.0', data: 'x', bridge: 'br0', mac: undefined, ipv4: undefined, pcap: undefined, echoPort: undefined, fault: undefined, ipv6: { mode: 'auto' } },
    });
  });

  it.each([
    ['unknown flag', ['--nope'], '--nope'],
    ['port 0', ['--port', '0'], '--port'],
    ['port 65536', ['--port', '65536'], '--port'],
    ['port abc', ['--port', 'abc'], '--port'],
    ['port 80.5', ['--port', '80.5'], '--port'],
    ['port -1', ['--port=-1'], '--port'],
    ['port empty', ['--port='], '--port'],
    ['port 1e3', ['--port', '1e3'], '--port'],
    ['port 0x50', ['--port', '0x50'], '--port'],
    ['port with space', ['--port', ' 80'], '--port'],
    ['port without value', ['--port'], '--port'],
    ['listen not-an-ip', ['--listen', 'not-an-ip'], '--listen'],
    ['listen host name', ['--listen', 'localhost'], '--listen'],
    ['stack foo', ['--stack', 'foo'], '--stack'],
    ['mac not a mac', ['--mac', '02:00:5e:00:00'], '--mac'],
    ['multicast mac', ['--mac', '01:00:5e:00:00:42'], '--mac'],
    ['ipv4 without prefix', ['--ipv4', '192.168.77.10'], '--ipv4'],
    ['ipv4 bad prefix', ['--ipv4', '192.168.77.10/33'], '--ipv4'],
    ['ipv4 not an address', ['--ipv4', '192.168.77/24'], '--ipv4'],
    ['gateway without ipv4', ['--gateway', '192.168.77.2'], '--gateway'],
    ['gateway off the subnet', ['--ipv4', '192.168.77.10/24', '--gateway', '10.0.0.1'], '--gateway'],
    ['gateway is us', ['--ipv4', '192.168.77.10/24', '--gateway', '192.168.77.10'], '--gateway'],
    ['bridge not a name', ['--bridge', 'br 0'], '--bridge'],
    ['direct flag with socket', ['--stack', 'socket', '--mac', '02:00:5e:00:00:42'], '--mac'],
    ['pcap with socket', ['--stack', 'socket', '--pcap', 'x.pcap'], '--pcap'],
    ['echo port 0', ['--echo-port', '0'], '--echo-port'],
    ['fault unknown key', ['--fault', 'loss=0.1'], '--fault'],
    ['acd mode', ['--acd', 'slow'], '--acd'],
    ['fault probability above 1', ['--fault', 'drop=1.5'], '--fault'],
    ['fault delay without unit', ['--fault', 'delay=5'], '--fault'],
    ['echo port equals port', ['--echo-port', '8088'], '--echo-port'],
    ['chargen port 0', ['--chargen-port', '0'], '--chargen-port'],
    ['chargen port equals echo port', ['--echo-port', '7', '--chargen-port', '7'], '--chargen-port'],
    ['empty data', ['--data='], '--data'],
  ])('%s is an error naming the flag', (_label, argv, flag) => {
    expect(errorOf(parseCli(argv))).toContain(flag);
  });

  it('names the bad value in the error', () => {
    expect(errorOf(parseCli(['--port', 'abc']))).toContain('abc');
    expect(errorOf(parseCli(['--listen', 'not-an-ip']))).toContain('not-an-ip');
    expect(errorOf(parseCli(['--stack', 'foo']))).toContain('foo');
  });

  it('takes the direct stack flags', () => {
    const r = parseCli(['--bridge', 'br1', '--mac', '02:00:5E:00:00:42', '--ipv4', '192.168.77.10/24', '--gateway', '192.168.77.2', '--pcap', 'out.pcap', '--echo-port', '7', '--fault', 'drop=0.05,dup=0.01,reorder=0.05,corrupt=0.01,delay=2ms,seed=7']);
    expect(r).toEqual({
      kind: 'run',
      config: {
        stack: 'direct', port: 8088, listen: '0.0.0.0', data: './data', bridge: 'br1', mac: 0x02005e000042,
        ipv4: { address: 0xc0a84d0a, prefix: 24, gateway: 0xc0a84d02 }, pcap: 'out.pcap', echoPort: 7, fault: { drop: 0.05, dup: 0.01, reorder: 0.05, corrupt: 0.01, delayMs: 2, seed: 7 },
        ipv6: { mode: 'auto' },
      },
    });
    const noGw = parseCli(['--ipv4', '10.0.0.5/8']);
    expect(noGw.kind === 'run' && noGw.config.ipv4).toEqual({ address: 0x0a000005, prefix: 8 });
  });

  it('refuses a positional argument, naming it', () => {
    expect(errorOf(parseCli(['stray']))).toContain('stray');
    expect(errorOf(parseCli(['--port', '80', 'stray']))).toContain('stray');
  });

  it('error messages are one line', () => {
    for (const argv of [['--nope'], ['stray'], ['--port'], ['--port', 'x']]) {
      expect(errorOf(parseCli(argv))).not.toContain('\n');
    }
  });

  it.each([
    ['65535', 65535],
    ['1', 1],
    ['80', 80],
  ])('accepts --port %s', (value, port) => {
    const r = parseCli(['--port', value]);
    expect(r.kind).toBe('run');
    if (r.kind === 'run') expect(r.config.port).toBe(port);
  });

  it.each(['::1', '::', '127.0.0.1', '192.0.2.1', 'fe80::1'])('accepts --listen %s', (addr) => {
    const r = parseCli(['--listen', addr]);
    expect(r.kind).toBe('run');
    if (r.kind === 'run') expect(r.config.listen).toBe(addr);
  });

  it('USAGE documents every flag', () => {
    for (const flag of ['--stack', '--port', '--listen', '--data', '--bridge', '--mac', '--ipv4', '--gateway', '--pcap', '--echo-port', '--fault', '--metrics-port', '--log-level', '--log-format', '--help', '-h']) expect(USAGE).toContain(flag);
  });

  it('takes --log-level, --log-format and --metrics-port on either stack; absent, they are the defaults', () => {
    for (const stack of ['direct', 'socket']) {
      const r = parseCli(['--stack', stack, '--log-level', 'debug', '--log-format', 'json', '--metrics-port', '9100']);
      expect(r.kind === 'run' && [r.config.logLevel, r.config.logFormat, r.config.metricsPort]).toEqual(['debug', 'json', 9100]);
    }
    for (const level of ['debug', 'info', 'warn', 'error']) {
      const r = parseCli([`--log-level=${level}`]);
      expect(r.kind === 'run' && r.config.logLevel).toBe(level);
    }
    const d = parseCli([]);
    expect(d.kind === 'run' && [d.config.logLevel, d.config.logFormat, d.config.metricsPort]).toEqual([undefined, undefined, undefined]);
  });

  it.each([
    ['log level', ['--log-level', 'verbose'], '--log-level'],
    ['log level case', ['--log-level', 'INFO'], '--log-level'],
    ['log format', ['--log-format', 'xml'], '--log-format'],
    ['metrics port 0', ['--metrics-port', '0'], '--metrics-port'],
    ['metrics port text', ['--metrics-port', 'x'], '--metrics-port'],
    ['metrics port is the port', ['--metrics-port', '8088'], '--metrics-port'],
    ['metrics port is the echo port', ['--echo-port', '7', '--metrics-port', '7'], '--metrics-port'],
    ['tap binding unknown', ['--tap-binding', 'tuntap'], '--tap-binding'],
    ['tap binding case', ['--tap-binding', 'Native'], '--tap-binding'],
    ['tap binding empty', ['--tap-binding='], '--tap-binding'],
    ['tap binding without value', ['--tap-binding'], '--tap-binding'],
    ['no-offloads with a value', ['--no-offloads=true'], '--no-offloads'],
    ['no-offloads with tuntap2', ['--no-offloads', '--tap-binding', 'tuntap2'], '--no-offloads'],
  ])('%s is an error naming the flag', (_label, argv, flag) => {
    expect(errorOf(parseCli(argv))).toContain(flag);
  });

  it.each(['auto', 'native', 'tuntap2'] as const)('takes --tap-binding %s', (binding) => {
    const r = parseCli(['--tap-binding', binding]);
    expect(r.kind === 'run' && r.config.tapBinding).toBe(binding);
    const eq = parseCli([`--tap-binding=${binding}`]);
    expect(eq.kind === 'run' && eq.config.tapBinding).toBe(binding);
  });

  it('names the bad --tap-binding value', () => {
    expect(errorOf(parseCli(['--tap-binding', 'vhost']))).toContain("'vhost'");
  });

  it('takes --no-offloads; absent, neither it nor --tap-binding is set', () => {
    const r = parseCli(['--no-offloads']);
    expect(r.kind === 'run' && r.config.noOffloads).toBe(true);
    const both = parseCli(['--tap-binding', 'native', '--no-offloads', '--pcap', 'x.pcap']);
    expect(both.kind === 'run' && [both.config.tapBinding, both.config.noOffloads, both.config.pcap]).toEqual(['native', true, 'x.pcap']);
    const d = parseCli([]);
    expect(d.kind === 'run' && [d.config.tapBinding, d.config.noOffloads]).toEqual([undefined, undefined]);
  });

  it.each([
    ['--tap-binding', ['--tap-binding', 'native']],
    ['--tap-binding', ['--tap-binding=tuntap2']],
    ['--no-offloads', ['--no-offloads']],
  ])('%s is for the direct stack: an error with --stack socket', (flag, argv) => {
    const msg = errorOf(parseCli(['--stack', 'socket', ...argv]));
    expect(msg).toContain(flag);
    expect(msg).toContain('is for the direct stack');
  });

  it('USAGE documents --tap-binding and --no-offloads', () => {
    for (const flag of ['--tap-binding', '--no-offloads', 'auto', 'native', 'tuntap2']) expect(USAGE).toContain(flag);
  });

  const cfg = (args: string[]) => {
    const r = parseCli(args);
    if (r.kind !== 'run') throw new Error(JSON.stringify(r));
    return r.config;
  };

  it('takes --ipv6 auto, off and ADDRESS/PREFIX, and --ipv6-iid with them; refuses what is not an address for us', () => {
    expect(cfg([]).ipv6).toEqual({ mode: 'auto' }); // the default
    expect(cfg(['--stack', 'socket']).ipv6).toBeUndefined();
    expect(cfg(['--ipv6', 'off']).ipv6).toBeUndefined();
    expect(cfg(['--ipv6', 'auto']).ipv6).toEqual({ mode: 'auto' });
    expect(cfg(['--ipv6', 'fd77::10/64', '--ipv6-iid', 'eui64'])).toMatchObject({ ipv6: { mode: 'static', address: 0xfd77_0000_0000_0000_0000_0000_0000_0010n, prefixLength: 64 }, ipv6Iid: 'eui64' });
    expect(errorOf(parseCli(['--ipv6', 'yes']))).toMatch(/--ipv6 must be auto, off or ADDRESS\/PREFIX/);
    expect(errorOf(parseCli(['--ipv6', 'fd77::10']))).toMatch(/--ipv6 must be/);
    expect(errorOf(parseCli(['--ipv6', 'fd77::10/129']))).toMatch(/--ipv6 must be/);
    expect(errorOf(parseCli(['--ipv6', 'fe80::1/64']))).toMatch(/not a usable address/);
    expect(errorOf(parseCli(['--ipv6', 'ff02::1/64']))).toMatch(/not a usable address/);
    expect(errorOf(parseCli(['--ipv6', 'off', '--ipv6-iid', 'eui64']))).toMatch(/--ipv6-iid is for IPv6, not with --ipv6 off/);
    expect(errorOf(parseCli(['--ipv6', 'auto', '--ipv6-iid', 'random']))).toMatch(/--ipv6-iid must be stable or eui64/);
    expect(errorOf(parseCli(['--stack', 'socket', '--ipv6', 'auto']))).toMatch(/--ipv6 is for the direct stack/);
  });

  it('takes --tcp-recovery rack, sack or newreno for the direct stack; refuses others, and it with --stack socket', () => {
    expect(cfg([]).tcpRecovery).toBeUndefined(); // the TCP layer's default: rack
    for (const r of ['rack', 'sack', 'newreno'] as const) expect(cfg(['--tcp-recovery', r]).tcpRecovery).toBe(r);
    expect(errorOf(parseCli(['--tcp-recovery', 'fack']))).toMatch(/--tcp-recovery must be rack, sack, newreno, not 'fack'/);
    expect(errorOf(parseCli(['--stack', 'socket', '--tcp-recovery', 'rack']))).toMatch(/--tcp-recovery is for the direct stack/);
  });

  it('takes --tcp-cc cubic or newreno for the direct stack; refuses others, and it with --stack socket', () => {
    expect(cfg([]).tcpCc).toBeUndefined(); // the TCP layer's default: cubic
    expect(cfg(['--tcp-cc', 'cubic']).tcpCc).toBe('cubic');
    expect(cfg(['--tcp-cc', 'newreno']).tcpCc).toBe('newreno');
    expect(errorOf(parseCli(['--tcp-cc', 'bbr']))).toMatch(/--tcp-cc must be cubic or newreno, not 'bbr'/);
    expect(errorOf(parseCli(['--stack', 'socket', '--tcp-cc', 'cubic']))).toMatch(/--tcp-cc is for the direct stack/);
    expect(cfg(['--tcp-ecn', 'on']).tcpEcn).toBe('on');
    expect(cfg(['--chargen-port', '19']).chargenPort).toBe(19);
    expect(cfg(['--tcp-ecn', 'off']).tcpEcn).toBe('off');
    expect(errorOf(parseCli(['--tcp-ecn', 'yes']))).toMatch(/--tcp-ecn must be off, passive or on, not 'yes'/);
  });

  it('takes --ipv4 off for an IPv6-only stack, but not with --ipv6 off, --gateway or --dhcp-state', () => {
    expect(cfg(['--ipv4', 'off'])).toMatchObject({ ipv4: 'off', ipv6: { mode: 'auto' } });
    expect(cfg(['--ipv4', 'off', '--ipv6', 'fd77::10/64']).ipv4).toBe('off');
    expect(errorOf(parseCli(['--ipv4', 'off', '--ipv6', 'off']))).toMatch(/leave the stack no address at all/);
    expect(errorOf(parseCli(['--ipv4', 'off', '--gateway', '192.168.77.2']))).toMatch(/--gateway is for IPv4, not with --ipv4 off/);
    expect(errorOf(parseCli(['--ipv4', 'off', '--dhcp-state', '/tmp/x.json']))).toMatch(/--dhcp-state is for DHCP/);
    expect(errorOf(parseCli(['--ipv4', 'of']))).toMatch(/--ipv4 must be ADDRESS\/PREFIX .*, or off/);
  });

  it('takes --gateway6 with a static --ipv6: link-local or on its prefix, not ours, not multicast', () => {
    expect(cfg(['--ipv6', 'fd77::10/64', '--gateway6', 'fe80::1']).ipv6).toMatchObject({ mode: 'static', gateway: 0xfe80_0000_0000_0000_0000_0000_0000_0001n });
    expect(cfg(['--ipv6', 'fd77::10/64', '--gateway6', 'fd77::2']).ipv6).toMatchObject({ gateway: 0xfd77_0000_0000_0000_0000_0000_0000_0002n });
    expect(errorOf(parseCli(['--gateway6', 'fe80::1']))).toMatch(/--gateway6 needs --ipv6 ADDR\/PREFIX/);
    expect(errorOf(parseCli(['--ipv6', 'fd77::10/64', '--gateway6', 'fd78::2']))).toMatch(/not a router on the link/);
    expect(errorOf(parseCli(['--ipv6', 'fd77::10/64', '--gateway6', 'fd77::10']))).toMatch(/not a router on the link/);
    expect(errorOf(parseCli(['--ipv6', 'fd77::10/64', '--gateway6', 'ff02::2']))).toMatch(/not a router on the link/);
    expect(errorOf(parseCli(['--ipv6', 'fd77::10/64', '--gateway6', 'router']))).toMatch(/--gateway6 must be an IPv6 address/);
    expect(errorOf(parseCli(['--stack', 'socket', '--gateway6', 'fe80::1']))).toMatch(/--gateway6 needs|--gateway6 is for the direct stack/);
  });
});

describe('parseCli: HTTPS and privileges', () => {
  const tlsOf = (args: string[]) => {
    const r = parseCli(args);
    if (r.kind !== 'run') throw new Error(JSON.stringify(r));
    return r.config.tls;
  };

  it('takes a certificate and a key, with 8443 and a 10 s handshake limit by default', () => {
    expect(tlsOf(['--tls-cert', 'c.pem', '--tls-key', 'k.pem'])).toEqual({ certFile: 'c.pem', keyFile: 'k.pem', port: 8443, only: false, handshakeTimeoutMs: 10_000 });
    expect(tlsOf(['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-port', '443', '--tls-only', '--tls-handshake-timeout', '2500'])).toEqual({
      certFile: 'c.pem', keyFile: 'k.pem', port: 443, only: true, handshakeTimeoutMs: 2500,
    });
    expect(tlsOf([])).toBeUndefined();
  });

  it.each([
    [['--tls-cert', 'c.pem'], '--tls-cert needs --tls-key FILE too'],
    [['--tls-key', 'k.pem'], '--tls-key needs --tls-cert FILE too'],
    [['--tls-only'], '--tls-only needs --tls-cert and --tls-key'],
    [['--tls-port', '8443'], '--tls-port needs --tls-cert and --tls-key'],
    [['--tls-cert', 'c', '--tls-key', 'k', '--tls-port', '0'], "--tls-port must be a whole number from 1 to 65535, not '0'"],
    [['--tls-cert', 'c', '--tls-key', 'k', '--tls-port', '8088'], '--tls-port 8088 is the --port'],
    [['--tls-cert', 'c', '--tls-key', 'k', '--echo-port', '8443'], '--tls-port 8443 is the --echo-port'],
    [['--tls-cert', 'c', '--tls-key', 'k', '--tls-handshake-timeout', '10'], "--tls-handshake-timeout must be milliseconds from 100 to 600000, not '10'"],
    [['--tls-cert', 'c', '--tls-key', 'k', '--tls-handshake-timeout', '1e4'], "--tls-handshake-timeout must be milliseconds from 100 to 600000, not '1e4'"],
    [['--user', 'no body'], "--user must be a user name or a numeric uid, not 'no body'"],
  ])('%j is refused: %s', (args, message) => {
    expect(errorOf(parseCli(args))).toBe(message);
  });

  it('--tls-only frees the plain port for --tls-port; --user takes a name or a uid', () => {
    expect(tlsOf(['--tls-cert', 'c', '--tls-key', 'k', '--tls-only', '--tls-port', '8088'])?.port).toBe(8088);
    for (const user of ['nobody', 'mirage-auth', '65534', 'root']) {
      const r = parseCli(['--user', user]);
      expect(r.kind === 'run' ? r.config.user : r).toBe(user);
    }
  });

  it('the usage text names every new flag', () => {
    for (const flag of ['--tls-cert', '--tls-key', '--tls-port', '--tls-only', '--tls-handshake-timeout', '--user']) expect(USAGE).toContain(flag);
  });
});

describe('parseCli: --hostname', () => {
  it('takes a host name for DHCP, and refuses what is not one', () => {
    const r = parseCli(['--hostname', 'auth-1.lab']);
    expect(r.kind === 'run' ? r.config.hostname : r).toBe('auth-1.lab');
    expect(errorOf(parseCli(['--hostname', 'no_underscores']))).toMatch(/^--hostname must be a host name/);
    expect(errorOf(parseCli(['--hostname=-dash.lab']))).toMatch(/^--hostname must be a host name/);
    expect(errorOf(parseCli(['--stack', 'socket', '--hostname', 'x']))).toBe('--hostname is for the direct stack, not --stack socket');
    expect(USAGE).toContain('--hostname NAME');
  });
});
