// A leaf shared by config (which checks DATABASE_URL at start-up) and the
// store (which opens it): one parser, so both read a URL the same way.

/** Where the event log lives: an embedded SQLite file or a PostgreSQL server. */
export type DatabaseTarget =
  | { readonly kind: "sqlite"; readonly path: string }
  | { readonly kind: "postgres"; readonly url: string };

/**
 * Parses `sqlite:<path>`, `sqlite::memory:`, the seed design's
 * `sqlite+aiosqlite:///<path>` (three slashes: relative, four: absolute) and
 * `postgres://…` / `postgresql://…`. Throws a TypeError that says what is wrong.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const trimmed = url.trim();
  if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      throw new TypeError(`"${redact(trimmed)}" is not a valid PostgreSQL URL`);
    }
    if (!parsed.hostname && !parsed.searchParams.get("host")) {
      throw new TypeError(`"${redact(trimmed)}" names no host`);
    }
    return { kind: "postgres", url: trimmed };
  }
  const sqlite = /^sqlite(?:\+[a-z0-9]+)?:(.*)$/i.exec(trimmed);
  if (sqlite) {
    let path = sqlite[1] ?? "";
    // SQLAlchemy form: sqlite:///relative.db and sqlite:////absolute.db.
    if (path.startsWith("///")) path = path.slice(3);
    else if (path.startsWith("//")) path = path.slice(2);
    if (path === "" || path === "memory" || path === ":memory:") {
      if (path === "")
        throw new TypeError(
          `"${trimmed}" names no file (use sqlite:./data/hub.db or sqlite::memory:)`,
        );
      return { kind: "sqlite", path: ":memory:" };
    }
    return { kind: "sqlite", path };
  }
  throw new TypeError(`"${redact(trimmed)}" is neither sqlite:<path> nor postgres://…`);
}

/** Hides a password in a URL before it is printed. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1***@");
}
