// A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line is blank, a `# HELP` or
// `# TYPE` line, another comment, or a sample `name{label="value",…} value [timestamp]`. Anything else throws,
// naming the line. Each sample must belong to a family whose TYPE came before it.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** Family name → its TYPE. */
  types: Map<string, string>;
  /** Family name → its HELP text. */
  help: Map<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** A value as Go's strconv.ParseFloat reads it (the format's definition): NaN and Inf in any case included. */
function parseValue(s: string, line: string): number {
  const special = /^([-+]?)(nan|inf|infinity)$/i.exec(s);
  if (special !== null) {
    if ((special[2] ?? '').toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`not a number ${JSON.stringify(s)} in ${JSON.stringify(line)}`);
  return Number(s);
}

/** The labels of `{…}` starting at `text[0] === '{'`; returns them and the rest after `}`. */
function parseLabels(text: string, line: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) };
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`unterminated labels in ${JSON.stringify(line)}`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in ${JSON.stringify(line)}`);
    if (text[eq + 1] !== '"') throw new Error(`label value not quoted in ${JSON.stringify(line)}`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[j + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`bad escape in ${JSON.stringify(line)}`);
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    if (name in labels) throw new Error(`label ${name} twice in ${JSON.stringify(line)}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`expected , or } in ${JSON.stringify(line)}`);
  }
}

/** The family a sample name belongs to: itself, or for histograms and summaries the name less its suffix. */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === 'histogram' || t === 'summary') return base;
    }
  }
  return undefined;
}

export function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) continue; // another comment
      const [, kind = '', name = '', rest = ''] = m;
      if (!NAME.test(name)) throw new Error(`bad metric name in ${JSON.stringify(line)}`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type in ${JSON.stringify(line)}`);
        if (types.has(name)) throw new Error(`TYPE twice for ${name}`);
        types.set(name, rest);
      } else {
        if (help.has(name)) throw new Error(`HELP twice for ${name}`);
        help.set(name, rest);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line);
    if (m === null) throw new Error(`not a sample: ${JSON.stringify(line)}`);
    const [, name = '', afterName = ''] = m;
    let labels: Record<string, string> = {};
    let rest = afterName;
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const fields = rest.trim().split(/\s+/);
    if (!rest.startsWith(' ') || fields.length < 1 || fields.length > 2) throw new Error(`bad sample ${JSON.stringify(line)}`);
    const value = parseValue(fields[0] ?? '', line);
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`bad timestamp in ${JSON.stringify(line)}`);
    if (familyOf(name, types) === undefined) throw new Error(`sample before (or without) its TYPE: ${JSON.stringify(line)}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`the same series twice: ${JSON.stringify(line)}`);
    seen.add(key);
    samples.push({ name, labels, value });
  }
  return { samples, types, help };
}

/** The value of the one sample named `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples match ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}

/** Every counter sample of `before` that went down in `after` (or disappeared), as readable strings. */
export function counterRegressions(before: Exposition, after: Exposition): string[] {
  const out: string[] = [];
  for (const s of before.samples) {
    const family = familyOf(s.name, before.types);
    if (family === undefined || before.types.get(family) !== 'counter') continue;
    const later = after.samples.find((a) => a.name === s.name && JSON.stringify(Object.entries(a.labels).sort()) === JSON.stringify(Object.entries(s.labels).sort()));
    if (later === undefined) out.push(`${s.name}${JSON.stringify(s.labels)} disappeared`);
    else if (later.value < s.value) out.push(`${s.name}${JSON.stringify(s.labels)} went from ${s.value} to ${later.value}`);
  }
  return out;
}
