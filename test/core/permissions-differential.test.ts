import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compilePermissions, type SubjectRules } from "../../src/core/permissions.js";
import {
  compilePattern,
  hasWildcard,
  patternCovers,
  validatePattern,
  validateSubject,
} from "../../src/core/subject.js";
import { type NatsServerHandle, startNatsServer } from "../helpers/nats.js";
import { seededRandom } from "../helpers/random.js";
import { generateSubjectCases } from "../helpers/subject-cases.js";

/**
 * The contract gives callers the permissions of a nats-server user with the
 * same allow and deny lists, so this suite asks nats-server: one user per
 * rule set in a configuration file, and for each user which publishes it
 * accepts, which subscriptions it accepts and what those deliver, compared
 * with compilePermissions case by case.
 *
 * nats-server 2.9 differs from "covered by an allow pattern" in one class,
 * and delivers some denied subjects in another; both are computed here
 * independently, listed and counted, and everything else must agree.
 */

const SEED = 0x9e7_2025;
const RANDOM_USERS = 30;
const PASSWORD = "pw";

type Rules = { publish?: SubjectRules; subscribe?: SubjectRules };
interface User {
  readonly name: string;
  readonly rules: Rules;
}

/** Rule sets that make sure each edge the suite is about occurs, whatever the seed gives. */
const FIXED_USERS: readonly User[] = [
  // nats-server reads `allow: []` as no allow list: everything.
  {
    name: "empty-lists",
    rules: { publish: { allow: [], deny: [] }, subscribe: { allow: [], deny: [] } },
  },
  // Allow patterns ending in `*`, so nats-server accepts `>`-patterns of the same length.
  {
    name: "one-token",
    rules: { publish: { allow: ["*", "a.*"] }, subscribe: { allow: ["*", "a.*", "hub.*.*"] } },
  },
  // Deny patterns that overlap wildcard subscriptions without lying inside them.
  { name: "overlapping-deny", rules: { subscribe: { deny: ["*.b", "hub.*.b", "a.a.>"] } } },
  // Deny patterns ending in `*` refuse `>`-patterns of the same length.
  {
    name: "deny-star",
    rules: {
      publish: { deny: ["a.*", "hub.>"] },
      subscribe: { allow: [">"], deny: ["a.*", "hub.>"] },
    },
  },
  // The contract's example entry.
  {
    name: "billing",
    rules: {
      publish: { allow: ["hub.local-hub.billing.>"], deny: [] },
      subscribe: { allow: ["hub.*.billing.>", "hub.global.>"], deny: ["hub.*.billing.secret.>"] },
    },
  },
];

const EXTRA_SUBJECTS = [
  "hub.local-hub.billing.paid",
  "hub.other.billing.refunded",
  "hub.other.billing.secret.key",
  "hub.local-hub.billing.secret",
  "hub.global.billing.paid",
];
const EXTRA_PATTERNS = [
  "hub.*.billing.>",
  "hub.*.billing.*",
  "hub.local-hub.billing.>",
  "hub.*.billing.secret.>",
  "hub.*.billing.secret.*",
  "hub.global.>",
];

function generate(seed: number): { users: User[]; subjects: string[]; patterns: string[] } {
  const cases = generateSubjectCases(seed);
  const subjects = [
    ...new Set([...cases.subjects, ...EXTRA_SUBJECTS.map((s) => validateSubject(s))]),
  ];
  const patterns = [
    ...new Set([...cases.patterns, ...EXTRA_PATTERNS.map((p) => validatePattern(p))]),
  ];
  const random = seededRandom(seed ^ 0x5a5a);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  // Rules drawn from the same patterns and subjects, so they collide with the cases.
  const rule = () => (random() < 0.75 ? pick(patterns) : pick(subjects));
  const list = (most: number): string[] | undefined => {
    const shape = random();
    if (shape < 0.2) return undefined;
    if (shape < 0.3) return [];
    return [...new Set(Array.from({ length: 1 + Math.floor(random() * most) }, rule))];
  };
  const side = (): SubjectRules => {
    const allow = list(5);
    const deny = list(3);
    return { ...(allow && { allow }), ...(deny && { deny }) };
  };
  const users = [...FIXED_USERS];
  for (let i = 0; i < RANDOM_USERS; i++) {
    users.push({ name: `random-${i}`, rules: { publish: side(), subscribe: side() } });
  }
  return { users, subjects, patterns };
}

/**
 * The divergent subscribe class: nats-server's canSubscribe matches the
 * pattern against the allow list with Sublist.Match, which reads the
 * pattern's tokens literally, so an allow `*` matches a trailing `>` as if
 * it were one token. The class is the patterns it accepts that no allow
 * pattern covers: a `>` pattern that an allow pattern ending in `*` covers
 * once the `>` is read as `*`, and that the deny list does not refuse.
 */
function widenedByServer(rules: Rules, pattern: string): boolean {
  const allow = rules.subscribe?.allow ?? [];
  const deny = rules.subscribe?.deny ?? [];
  if (!pattern.endsWith(">") || allow.length === 0) return false;
  if (allow.some((a) => patternCovers(a, pattern))) return false;
  const asOneToken = `${pattern.slice(0, -1)}*`;
  return (
    allow.some((a) => patternCovers(a, asOneToken)) && !deny.some((d) => compilePattern(d)(pattern))
  );
}

/**
 * nats-server 2.9 turns on its delivery filter for a connection only when it
 * accepts a wildcard subscription that some deny pattern lies entirely inside
 * (subjectIsSubsetMatch; 2.11.16, 2.12.7 and 2.14 test for any overlap).
 */
function loadsDenyFilter(rules: Rules, pattern: string): boolean {
  const deny = rules.subscribe?.deny ?? [];
  return hasWildcard(pattern) && deny.some((d) => patternCovers(pattern, d));
}

/** Collects the permission errors nats-server sends on a connection, by operation. */
function watchPermissionErrors(nc: NatsConnection) {
  const seen = new Map<string, string[]>([
    ["publish", []],
    ["subscription", []],
  ]);
  let wake: (() => void) | undefined;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "error" && status.error instanceof PermissionViolationError) {
        seen.get(status.error.operation)?.push(status.error.subject);
        wake?.();
      }
    }
  })();
  return {
    seen: (operation: "publish" | "subscription") => seen.get(operation) as string[],
    /** Resolves once `count` errors of the operation have arrived (status events come through an async iterator, a few microtasks after the flush that saw them). */
    reached: (operation: "publish" | "subscription", count: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if ((seen.get(operation)?.length ?? 0) >= count) resolve();
          else wake = check;
        };
        check();
      }),
  };
}

describe("compilePermissions agrees with nats-server users", () => {
  const { users, subjects, patterns } = generate(SEED);
  // Literal subscriptions are patterns too.
  const candidates = [...new Set([...patterns, ...subjects])];
  let server: NatsServerHandle;
  let dir: string;
  let root: NatsConnection;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hubbus-perms-"));
    const file = join(dir, "users.conf");
    // nats-server's configuration format accepts JSON.
    const config = {
      authorization: {
        users: [
          { user: "root", password: PASSWORD },
          ...users.map((u) => ({ user: u.name, password: PASSWORD, permissions: u.rules })),
        ],
      },
    };
    await writeFile(file, JSON.stringify(config, null, 2));
    server = await startNatsServer({ jetstream: false, args: ["-c", file] });
    root = await connect({ servers: server.url, user: "root", pass: PASSWORD, name: "perms-root" });
  });
  afterAll(async () => {
    await root?.close();
    await server?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const connectAs = (user: User, role: string) =>
    connect({ servers: server.url, user: user.name, pass: PASSWORD, name: `${user.name}-${role}` });

  it("on publishes, subscriptions and deliveries", async () => {
    const count = {
      publish: { cases: 0, allowed: 0, agree: 0 },
      subscribe: { cases: 0, accepted: 0, agree: 0, widened: [] as string[] },
      deliver: { cases: 0, delivered: 0, agree: 0, unfiltered: [] as string[] },
      leaked: [] as string[],
    };
    const disagreements: string[] = [];

    for (const user of users) {
      const perms = compilePermissions(user.rules);
      const nc = await connectAs(user, "probe");
      const errors = watchPermissionErrors(nc);

      // (1) Publishes: root sees what the server let through, the publisher
      // gets a permissions error for each one it refused.
      const through = new Map<string, number>();
      const listener = root.subscribe(">", {
        callback: (err, msg) => {
          if (!err) through.set(msg.subject, (through.get(msg.subject) ?? 0) + 1);
        },
      });
      await root.flush();
      for (const subject of subjects) nc.publish(subject);
      // The server answers a PING after everything sent before it, and has
      // queued the forwarded messages to root before root's own PONG.
      await nc.flush();
      await root.flush();
      listener.unsubscribe();
      await errors.reached("publish", subjects.length - through.size);
      const refusedPublishes = new Set(errors.seen("publish"));
      for (const subject of subjects) {
        const accepted = (through.get(subject) ?? 0) === 1;
        // The two signals must agree before either is compared with ours.
        if (accepted === refusedPublishes.has(subject)) {
          disagreements.push(`${user.name} publish ${subject}: delivered and refused`);
        }
        count.publish.cases++;
        if (accepted) count.publish.allowed++;
        if (accepted === perms.mayPublish(subject)) count.publish.agree++;
        else
          disagreements.push(
            `${user.name} publish ${subject}: server ${accepted}, ours ${!accepted}`,
          );
      }

      // (2) Subscriptions: a refused one is closed with a permissions error
      // before the PONG of the next flush.
      const subs = candidates.map((pattern) => nc.subscribe(pattern, { callback: () => {} }));
      await nc.flush();
      const serverAccepts = subs.map((sub) => !sub.isClosed());
      const refused = candidates.filter((_, i) => !serverAccepts[i]);
      await errors.reached("subscription", refused.length);
      expect(errors.seen("subscription").sort()).toEqual([...refused].sort());
      for (const [i, sub] of subs.entries()) {
        if (!serverAccepts[i]) expect(await sub.closed).toBeInstanceOf(PermissionViolationError);
      }
      await nc.close();
      candidates.forEach((pattern, i) => {
        const server = serverAccepts[i] as boolean;
        const ours = perms.maySubscribe(pattern);
        const widened = widenedByServer(user.rules, pattern);
        count.subscribe.cases++;
        if (server) count.subscribe.accepted++;
        if (widened) count.subscribe.widened.push(`${user.name}: ${pattern}`);
        if (server === (ours || widened) && !(ours && widened)) count.subscribe.agree++;
        else {
          disagreements.push(
            `${user.name} subscribe ${pattern}: server ${server}, ours ${ours}, widened ${widened}`,
          );
        }
      });

      // (3) Deliveries of every subscription the server accepted. Its filter
      // is per connection, so the subscriptions that switch it on get one
      // connection and those that do not get another.
      const accepted = candidates.filter((_, i) => serverAccepts[i]);
      const filtered = await connectAs(user, "filtered");
      const unfiltered = await connectAs(user, "unfiltered");
      const onUnfiltered = (p: string) => hasWildcard(p) && !loadsDenyFilter(user.rules, p);
      const subjectIndex = new Map(subjects.map((s, i) => [s, i]));
      const got = new Uint16Array(accepted.length * subjects.length);
      const strays: string[] = [];
      accepted.forEach((pattern, p) => {
        (onUnfiltered(pattern) ? unfiltered : filtered).subscribe(pattern, {
          callback: (err, msg) => {
            const s = subjectIndex.get(msg?.subject ?? "");
            if (err || s === undefined) strays.push(`${pattern}: ${err?.message ?? msg.subject}`);
            else got[p * subjects.length + s] = (got[p * subjects.length + s] ?? 0) + 1;
          },
        });
      });
      await Promise.all([filtered.flush(), unfiltered.flush()]);
      for (const subject of subjects) root.publish(subject);
      await root.flush();
      await Promise.all([filtered.flush(), unfiltered.flush()]);
      await Promise.all([filtered.close(), unfiltered.close()]);
      expect(strays).toEqual([]);

      const allow = (user.rules.subscribe?.allow ?? []).map(compilePattern);
      const denied = (user.rules.subscribe?.deny ?? []).map(compilePattern);
      accepted.forEach((pattern, p) => {
        const match = compilePattern(pattern);
        const ours = perms.maySubscribe(pattern);
        subjects.forEach((subject, s) => {
          const delivered = got[p * subjects.length + s] ?? 0;
          if (!ours) {
            // A widened subscription: what it delivers beyond every allow pattern.
            if (delivered > 0 && !allow.some((a) => a(subject))) {
              count.leaked.push(`${user.name}: ${pattern} delivered ${subject}`);
            }
            return;
          }
          const expected = match(subject) && (perms.deliverable?.(subject) ?? true);
          const unfilteredOverlap =
            onUnfiltered(pattern) && match(subject) && denied.some((d) => d(subject));
          count.deliver.cases++;
          if (delivered > 0) count.deliver.delivered++;
          if (unfilteredOverlap)
            count.deliver.unfiltered.push(`${user.name}: ${pattern} ← ${subject}`);
          if (
            delivered === (expected || unfilteredOverlap ? 1 : 0) &&
            !(expected && unfilteredOverlap)
          ) {
            count.deliver.agree++;
          } else {
            disagreements.push(
              `${user.name} ${pattern} ← ${subject}: server ${delivered}, ours ${expected}, unfiltered overlap ${unfilteredOverlap}`,
            );
          }
        });
      });
    }

    expect(disagreements.slice(0, 20)).toEqual([]);
    // Guard against a vacuous run: plenty of both answers, and both classes present.
    const { publish, subscribe, deliver } = count;
    expect(publish.allowed).toBeGreaterThanOrEqual(200);
    expect(publish.cases - publish.allowed).toBeGreaterThanOrEqual(200);
    expect(subscribe.accepted).toBeGreaterThanOrEqual(200);
    expect(subscribe.cases - subscribe.accepted).toBeGreaterThanOrEqual(200);
    expect(deliver.delivered).toBeGreaterThanOrEqual(200);
    expect(subscribe.widened.length).toBeGreaterThan(0);
    expect(count.leaked.length).toBeGreaterThan(0);
    expect(deliver.unfiltered.length).toBeGreaterThan(0);

    const sample = (items: readonly string[]) => items.slice(0, 8).join("; ");
    console.info(
      [
        `permissions differential: ${users.length} users, ${subjects.length} subjects, ${candidates.length} patterns`,
        `  publish: ${publish.cases} cases, ${publish.allowed} allowed by nats-server, ${publish.agree} agree`,
        `  subscribe: ${subscribe.cases} cases, ${subscribe.accepted} accepted by nats-server, ${subscribe.agree} agree ` +
          `(of them ${subscribe.widened.length} in the listed class "nats-server reads a trailing > as *": it accepts, we refuse)`,
        `    widened: ${sample(subscribe.widened)}`,
        `    through them nats-server delivered ${count.leaked.length} subjects no allow pattern matches: ${sample(count.leaked)}`,
        `  deliver: ${deliver.cases} subscription×subject cases, ${deliver.delivered} delivered by nats-server, ${deliver.agree} agree ` +
          `(of them ${deliver.unfiltered.length} in the listed class "deny overlaps the subscription, filter off": it delivers, we do not)`,
        `    unfiltered: ${sample(deliver.unfiltered)}`,
      ].join("\n"),
    );
  });
});
