import { describe, expect, it } from 'vitest';
import { decodeComponent, parseQuery, splitTarget } from '../../src/http/query.ts';

function entries(m: ReadonlyMap<string, string> | undefined): Array<[string, string]> | undefined {
  return m === undefined ? undefined : [...m];
}

describe('splitTarget', () => {
  it.each([
    ['/', '/', ''],
    ['/path', '/path', ''],
    ['/path?a=1&b=2', '/path', 'a=1&b=2'],
    ['/?user=john', '/', 'user=john'],
    ['/p?', '/p', ''],
    ['/p?a=1#frag', '/p', 'a=1'],
    ['/p#frag?x=1', '/p', ''],
    ['/p?a=1?b=2', '/p', 'a=1?b=2'],
    ['http://h:1/p?q', '/p', 'q'],
    ['http://example.com/a/b?x=1#y', '/a/b', 'x=1'],
    ['HTTPS://h/p', '/p', ''],
    ['http://h:1', '/', ''],
    ['http://h:1?x=1', '/', 'x=1'],
    ['?x=1', '/', 'x=1'],
    ['', '/', ''],
  ])('%j → path %j, query %j', (target, path, query) => {
    expect(splitTarget(target)).toEqual({ path, query });
  });
});

describe('decodeComponent', () => {
  it.each([
    ['plain', 'plain'],
    ['', ''],
    ['p%40ss%20w%26rd%3D1', 'p@ss w&rd=1'],
    ['a+b', 'a b'],
    ['%2B', '+'],
    ['a%2Bb+c', 'a+b c'],
    ['%2b', '+'],
    ['%C3%A9', 'é'],
    ['%c3%a9', 'é'],
    ['%F0%9F%98%80', '😀'],
    ['%25', '%'],
    ['%00', '\0'],
  ])('%j → %j', (raw, decoded) => {
    expect(decodeComponent(raw)).toBe(decoded);
  });

  it.each(['%', '%4', '%zz', '%G1', 'a%', 'a%4', '%%41', '%4 '])('malformed escape %j → undefined', (raw) => {
    expect(decodeComponent(raw)).toBeUndefined();
  });

  it.each(['%ff', '%C3', '%C3%28', '%80', '%ED%A0%80', '%C0%AF'])('invalid UTF-8 %j → undefined', (raw) => {
    expect(decodeComponent(raw)).toBeUndefined();
  });

  it.each(['é', 'pässword', 'a+é', 'é%20'])('raw non-ASCII %j → undefined', (raw) => {
    expect(decodeComponent(raw)).toBeUndefined();
  });
});

describe('parseQuery', () => {
  it('parses the empty query', () => {
    expect(entries(parseQuery(''))).toEqual([]);
  });

  it('decodes names and values', () => {
    expect(entries(parseQuery('user=john&password=p%40ss%20w%26rd%3D1'))).toEqual([
      ['user', 'john'],
      ['password', 'p@ss w&rd=1'],
    ]);
  });

  it("decodes '+' as space and '%2B' as plus", () => {
    expect(parseQuery('password=a+b%2Bc')?.get('password')).toBe('a b+c');
    expect(parseQuery('a+b=1')?.get('a b')).toBe('1');
  });

  it('decodes UTF-8 escapes', () => {
    expect(parseQuery('user=%C3%A9')?.get('user')).toBe('é');
  });

  it('keeps the first value of a repeated name', () => {
    expect(parseQuery('user=first&user=second')?.get('user')).toBe('first');
    expect(parseQuery('user=&user=second')?.get('user')).toBe('');
    expect(parseQuery('user=first&us%65r=second')?.get('user')).toBe('first');
  });

  it("maps a name without '=' to the empty string", () => {
    expect(entries(parseQuery('flag&user=john'))).toEqual([
      ['flag', ''],
      ['user', 'john'],
    ]);
    expect(parseQuery('password')?.get('password')).toBe('');
  });

  it('splits only at the first =', () => {
    expect(parseQuery('password=a=b')?.get('password')).toBe('a=b');
  });

  it("ignores empty pairs from '&&' and leading or trailing '&'", () => {
    expect(entries(parseQuery('&&user=john&&password=x&'))).toEqual([
      ['user', 'john'],
      ['password', 'x'],
    ]);
    expect(entries(parseQuery('&'))).toEqual([]);
  });

  it.each(['user=%', 'user=%4', 'user=%zz', 'user=%G1', 'us%zzer=john', 'a=1&b=%'])('rejects malformed escape %j', (q) => {
    expect(parseQuery(q)).toBeUndefined();
  });

  it.each(['user=%ff', 'user=john&password=%C3', '%ff=1'])('rejects invalid UTF-8 %j', (q) => {
    expect(parseQuery(q)).toBeUndefined();
  });

  it.each(['user=é', 'user=john&password=pässword', 'é=1', 'user=é+x'])('rejects a raw non-ASCII character %j', (q) => {
    expect(parseQuery(q)).toBeUndefined();
  });
});
