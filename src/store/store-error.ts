import { HubError } from "../core/index.js";

// Errors that mean "the database cannot serve us now", not "we sent a bad query":
// PostgreSQL classes 08 (connection), 53 (resources), 57P (shutdown), node socket
// errors, knex and pg pool time-outs, and SQLite's busy/locked/full/I/O conditions.
const UNAVAILABLE_SQLSTATE = /^(08|53|57P)/;
const UNAVAILABLE_ERRNO = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EPIPE",
  "EHOSTUNREACH",
]);
const UNAVAILABLE_SQLITE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL)/;
const UNAVAILABLE_MESSAGE =
  /Timeout acquiring a connection|timeout exceeded when trying to connect|Connection terminated|connection is closed|database is closed/i;

/** Maps a database error to the HubError a client sees; the original stays as cause for the log. */
export function toStoreError(error: unknown): HubError {
  if (error instanceof HubError) return error;
  const e = error as { code?: unknown; message?: unknown; name?: unknown } | undefined;
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : "";
  if (
    UNAVAILABLE_SQLSTATE.test(code) ||
    UNAVAILABLE_ERRNO.has(code) ||
    UNAVAILABLE_SQLITE.test(code) ||
    UNAVAILABLE_MESSAGE.test(message) ||
    e?.name === "KnexTimeoutError"
  ) {
    return new HubError("unavailable", "the event log is unavailable", {}, error);
  }
  return new HubError("internal", "internal error", {}, error);
}
