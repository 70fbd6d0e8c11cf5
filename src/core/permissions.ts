// PLACEHOLDER until the perms branch lands (helper writes the real one).
import { compilePattern } from "./subject.js";

export interface SubjectRules {
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
}
export interface Permissions {
  mayPublish(subject: string): boolean;
  maySubscribe(pattern: string): boolean;
  readonly deliverable: ((subject: string) => boolean) | undefined;
}
export function patternCovers(outer: string, inner: string): boolean {
  const o = outer.split(".");
  const i = inner.split(".");
  for (let k = 0; k < o.length; k++) {
    if (o[k] === ">") return k < i.length;
    if (k >= i.length) return false;
    if (i[k] === ">") return false;
    if (o[k] === "*") continue;
    if (o[k] !== i[k]) return false;
  }
  return o.length === i.length;
}
export function compilePermissions(rules: {
  publish?: SubjectRules;
  subscribe?: SubjectRules;
}): Permissions {
  const pa = rules.publish?.allow?.map(compilePattern);
  const pd = (rules.publish?.deny ?? []).map(compilePattern);
  const sa = rules.subscribe?.allow;
  const sd = rules.subscribe?.deny ?? [];
  const sdm = sd.map(compilePattern);
  return {
    mayPublish: (s) => (pa === undefined || pa.some((m) => m(s))) && !pd.some((m) => m(s)),
    maySubscribe: (p) =>
      (sa === undefined || sa.some((a) => patternCovers(a, p))) &&
      !sd.some((d) => patternCovers(d, p)),
    deliverable: sdm.length === 0 ? undefined : (s) => !sdm.some((m) => m(s)),
  };
}
