// A strict parser of the Prometheus text exposition format (version 0.0.4),
// enough to read what a scraper reads and to refuse what a scraper would:
// every sample belongs to a family declared by `# TYPE` before it, a family's
// lines are contiguous, names and label names are valid, label values are
// escaped, no series repeats, and a histogram's buckets are cumulative and
// end in `le="+Inf"` equal to its `_count`.

/** One sample line. */
export interface Sample {
  /** The sample's own name: `x_bucket`, `x_sum`, `x_count` for a histogram `x`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric family: its `# TYPE`, `# HELP` and samples. */
export interface Family {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  readonly help: string | undefined;
  readonly samples: Sample[];
}

export type Families = ReadonlyMap<string, Family>;

/** A family while it is parsed: `declared` once its `# TYPE` was read. */
interface Parsing {
  readonly name: string;
  type: Family["type"];
  help: string | undefined;
  readonly samples: Sample[];
  declared: boolean;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
/** A float as Go's strconv.ParseFloat reads it, which is what Prometheus uses: `Nan` and `inf` too. */
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf(?:inity)?|nan)$/i;

function fail(lineNo: number, line: string, why: string): never {
  throw new Error(`metrics line ${lineNo}: ${why}: ${JSON.stringify(line)}`);
}

function parseValue(raw: string, lineNo: number, line: string): number {
  if (!VALUE.test(raw)) fail(lineNo, line, `bad value "${raw}"`);
  const word = raw.toLowerCase().replace(/^\+/, "");
  if (word === "inf" || word === "infinity") return Infinity;
  if (word === "-inf" || word === "-infinity") return -Infinity;
  return word === "nan" ? Number.NaN : Number(raw);
}

/** Reads `{a="x",b="y"}` from `line` at `start` (the `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, start: number, lineNo: number) {
  const labels: Record<string, string> = {};
  let i = start + 1;
  while (line[i] !== "}") {
    const eq = line.indexOf("=", i);
    if (eq < 0) fail(lineNo, line, "label without =");
    const name = line.slice(i, eq);
    if (!LABEL_NAME.test(name)) fail(lineNo, line, `bad label name "${name}"`);
    if (name in labels) fail(lineNo, line, `label "${name}" twice`);
    if (line[eq + 1] !== '"') fail(lineNo, line, "label value not quoted");
    let value = "";
    let j = eq + 2;
    for (;;) {
      const c = line[j];
      if (c === undefined) fail(lineNo, line, "unterminated label value");
      if (c === '"') break;
      if (c === "\\") {
        const next = line[j + 1];
        if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else if (next === "n") value += "\n";
        else fail(lineNo, line, `bad escape \\${next}`);
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (line[i] === ",") i++;
    else if (line[i] !== "}") fail(lineNo, line, "expected , or } after a label");
  }
  return { labels, end: i + 1 };
}

/** The family a sample named `name` belongs to, among those declared. */
function familyOf<F extends Family>(name: string, declared: ReadonlyMap<string, F>): F | undefined {
  const own = declared.get(name);
  if (own !== undefined) return own;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!name.endsWith(suffix)) continue;
    const base = declared.get(name.slice(0, -suffix.length));
    if (base === undefined) continue;
    if (base.type === "histogram") return base;
    if (base.type === "summary" && suffix !== "_bucket") return base;
  }
  return undefined;
}

const seriesKey = (sample: Sample, without?: string) =>
  `${sample.name}{${Object.entries(sample.labels)
    .filter(([k]) => k !== without)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(",")}}`;

function checkHistogram(family: Family): void {
  const byLabels = new Map<string, { buckets: [number, number][]; count?: number }>();
  const entry = (sample: Sample) => {
    const key = seriesKey({ ...sample, name: family.name }, "le");
    let found = byLabels.get(key);
    if (found === undefined) {
      found = { buckets: [] };
      byLabels.set(key, found);
    }
    return found;
  };
  for (const sample of family.samples) {
    if (sample.name === `${family.name}_bucket`) {
      const le = sample.labels.le;
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      entry(sample).buckets.push([le === "+Inf" ? Infinity : Number(le), sample.value]);
    } else if (sample.name === `${family.name}_count`) {
      entry(sample).count = sample.value;
    }
  }
  for (const [key, { buckets, count }] of byLabels) {
    const last = buckets[buckets.length - 1];
    if (last === undefined || last[0] !== Infinity)
      throw new Error(`${key}: no le="+Inf" bucket last`);
    for (let i = 1; i < buckets.length; i++) {
      const [bound, value] = buckets[i] as [number, number];
      const [prevBound, prevValue] = buckets[i - 1] as [number, number];
      if (bound <= prevBound || value < prevValue)
        throw new Error(`${key}: buckets not ascending and cumulative`);
    }
    if (count !== last[1]) throw new Error(`${key}: _count ${count} != +Inf bucket ${last[1]}`);
  }
}

/** Parses a scrape; throws naming the line at the first thing a strict scraper would refuse. */
export function parsePrometheusText(text: string): Families {
  const families = new Map<string, Parsing>();
  const seen = new Set<string>();
  let current: Parsing | undefined;
  const closed = new Set<string>();
  const lines = text.split("\n");
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("metrics text must end with \\n");
  lines.forEach((line, index) => {
    const lineNo = index + 1;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (m === null) return; // a comment
      const [, keyword, name, rest = ""] = m as unknown as [string, string, string, string?];
      if (!METRIC_NAME.test(name)) fail(lineNo, line, `bad metric name "${name}"`);
      if (closed.has(name)) fail(lineNo, line, `family "${name}" is not contiguous`);
      let family = families.get(name);
      if (family === undefined) {
        if (current !== undefined) closed.add(current.name);
        family = { name, type: "untyped", help: undefined, samples: [], declared: false };
        families.set(name, family);
        current = family;
      } else if (family !== current) {
        fail(lineNo, line, `family "${name}" is not contiguous`);
      }
      if (keyword === "TYPE") {
        if (family.declared) fail(lineNo, line, "TYPE twice");
        if (family.samples.length > 0) fail(lineNo, line, "TYPE after samples");
        if (!TYPES.has(rest)) fail(lineNo, line, `unknown type "${rest}"`);
        family.type = rest as Family["type"];
        family.declared = true;
      } else {
        if (family.help !== undefined) fail(lineNo, line, "HELP twice");
        family.help = rest.replace(/\\(n|\\)/g, (_, c: string) => (c === "n" ? "\n" : "\\"));
      }
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) fail(lineNo, line, "no value");
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) fail(lineNo, line, `bad metric name "${name}"`);
    let labels: Record<string, string> = {};
    let rest = nameEnd;
    if (line[nameEnd] === "{") {
      const parsed = parseLabels(line, nameEnd, lineNo);
      labels = parsed.labels;
      rest = parsed.end;
    }
    if (line[rest] !== " ") fail(lineNo, line, "expected a space before the value");
    const fields = line.slice(rest + 1).split(" ");
    if (fields.length > 2 || fields[0] === "") fail(lineNo, line, "expected value [timestamp]");
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) fail(lineNo, line, "bad timestamp");
    const family = familyOf(name, families);
    if (family === undefined || !family.declared)
      fail(lineNo, line, "sample without a # TYPE before it");
    if (family !== current) fail(lineNo, line, `family "${family.name}" is not contiguous`);
    const sample: Sample = { name, labels, value: parseValue(fields[0] as string, lineNo, line) };
    const key = seriesKey(sample);
    if (seen.has(key)) fail(lineNo, line, "series repeated");
    seen.add(key);
    family.samples.push(sample);
  });
  for (const family of families.values()) {
    if (family.type === "histogram") checkHistogram(family);
  }
  return families;
}

/** True when `labels` has every pair of `want` (and maybe more). */
export function hasLabels(labels: Readonly<Record<string, string>>, want: Record<string, string>) {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** The value of the one sample named `name` whose labels are exactly `labels`; undefined if none. */
export function sampleValue(
  families: Families,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = familyOf(name, families);
  const wanted = Object.keys(labels).length;
  return family?.samples.find(
    (s) =>
      s.name === name && Object.keys(s.labels).length === wanted && hasLabels(s.labels, labels),
  )?.value;
}
