// The shapes every setting is read in, and the one error a bad value stops start-up with.

/** A configuration value that stops start-up; the message names the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** Configuration values as strings, keyed by environment variable name (flags use the same keys). */
export type ConfigSource = Readonly<Record<string, string | undefined>>;

export function integer(variable: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(variable, `"${raw}" is not a whole number`);
  const value = Number(raw.trim());
  if (value < min || value > max)
    throw new ConfigError(variable, `${value} is outside ${min}..${max}`);
  return value;
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * A duration such as `250ms`, `90s`, `1.5h` or `7d` (units ms, s, m, h, d;
 * a unit is required, so `7` is never mistaken for days; `0` alone is
 * zero), in whole milliseconds within `minMs..maxMs`. Throws a ConfigError
 * naming `variable`.
 */
export function parseDuration(
  variable: string,
  raw: string,
  minMs = 1,
  maxMs = Number.MAX_SAFE_INTEGER,
): number {
  const text = raw.trim();
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text);
  if (match === null && text !== "0") {
    throw new ConfigError(
      variable,
      `"${raw}" is not a duration (a number and a unit: ms, s, m, h or d, e.g. 90s, 12h, 7d)`,
    );
  }
  const ms =
    match === null
      ? 0
      : Math.round(Number(match[1]) * (DURATION_UNITS_MS[match[2] as string] as number));
  if (!Number.isSafeInteger(ms)) throw new ConfigError(variable, `"${raw}" is too long`);
  if (ms < minMs) throw new ConfigError(variable, `"${raw}" is shorter than ${minMs} ms`);
  if (ms > maxMs) throw new ConfigError(variable, `"${raw}" is longer than ${maxMs} ms`);
  return ms;
}

export function list(raw: string): string[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
