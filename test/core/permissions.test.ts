import { describe, expect, it } from "vitest";
import { HubError } from "../../src/core/errors.js";
import { compilePermissions } from "../../src/core/permissions.js";

// nats-server's answer for each case is checked against a real server in
// permissions-differential.test.ts; these name the cases one by one.

describe("mayPublish", () => {
  it("allows everything without rules", () => {
    const perms = compilePermissions({});
    expect(perms.mayPublish("hub.a.b.c")).toBe(true);
    expect(perms.mayPublish("a")).toBe(true);
  });

  it("needs a matching allow pattern when there is an allow list", () => {
    const perms = compilePermissions({ publish: { allow: ["hub.local-hub.billing.>", "x.*"] } });
    expect(perms.mayPublish("hub.local-hub.billing.paid")).toBe(true);
    expect(perms.mayPublish("hub.local-hub.billing.a.b")).toBe(true);
    expect(perms.mayPublish("hub.local-hub.billing")).toBe(false);
    expect(perms.mayPublish("hub.local-hub.other.paid")).toBe(false);
    expect(perms.mayPublish("x.y")).toBe(true);
    expect(perms.mayPublish("x.y.z")).toBe(false);
  });

  it("lets deny override allow", () => {
    const perms = compilePermissions({
      publish: { allow: ["hub.>"], deny: ["hub.*.secret", "hub.a.>"] },
    });
    expect(perms.mayPublish("hub.b.open")).toBe(true);
    expect(perms.mayPublish("hub.b.secret")).toBe(false);
    expect(perms.mayPublish("hub.a.anything")).toBe(false);
    expect(perms.mayPublish("hub.b.secret.x")).toBe(true);
  });

  it("reads allow: [] as no allow list, as nats-server does", () => {
    const perms = compilePermissions({ publish: { allow: [], deny: [] } });
    expect(perms.mayPublish("hub.a.b.c")).toBe(true);
  });

  it("denies everything with deny: ['>']", () => {
    const perms = compilePermissions({ publish: { deny: [">"] } });
    expect(perms.mayPublish("a")).toBe(false);
    expect(perms.mayPublish("hub.a.b.c")).toBe(false);
  });

  it("is not affected by subscribe rules", () => {
    const perms = compilePermissions({ subscribe: { allow: ["x"], deny: [">"] } });
    expect(perms.mayPublish("hub.a.b.c")).toBe(true);
  });
});

describe("maySubscribe", () => {
  const cases: readonly [string[], string, boolean, string][] = [
    [["hub.*"], "hub.a", true, "a literal under *"],
    [["hub.*"], "hub.*", true, "the allow pattern itself"],
    [["hub.*"], "hub.a.b", false, "* is one token"],
    [["hub.*"], "hub", false, "* needs a token"],
    // nats-server 2.9 accepts these two (it reads the trailing > as one
    // token); no allow pattern covers them, so hubbus refuses.
    [["hub.*"], "hub.>", false, "hub.> can match hub.a.b"],
    [["*"], ">", false, "> can match a.b"],
    [["hub.>"], "hub.*.>", true, "two or more tokens after hub, inside one or more"],
    [["hub.>"], "hub.>", true, "the allow pattern itself"],
    [["hub.>"], "hub.*", true, "one token after hub"],
    [["hub.>"], "hub", false, "hub.> needs a token after hub"],
    [["hub.>"], ">", false, "> can match a"],
    [["hub.*.>"], "hub.>", false, "hub.> can match hub.a, hub.*.> cannot"],
    [["hub.*.>"], "hub.a.>", true, "a literal in the * place"],
    [["hub.*.>"], "hub.*.*", true, "three tokens"],
    [["hub.*.>"], "hub.a", false, "too short"],
    [["hub.a.b"], "hub.a.b", true, "a literal allows itself"],
    [["hub.a.b"], "hub.a.*", false, "a literal does not allow a wildcard"],
    [["hub.a.b"], "hub.*.b", false, "a literal does not allow a wildcard"],
    [["hub.a.b"], "hub.a", false, "prefix"],
    [["hub.a", "hub.*.b"], "hub.x.b", true, "the second pattern covers it"],
    // Covered by the two together but by neither alone.
    [["a.*", "a.*.>"], "a.>", false, "one allow pattern must cover it"],
    [[], ">", true, "allow: [] is no allow list"],
  ];
  it.each(cases)("allow %j: %j is %s (%s)", (allow, pattern, allowed) => {
    expect(compilePermissions({ subscribe: { allow } }).maySubscribe(pattern)).toBe(allowed);
  });

  it("allows every pattern without an allow list", () => {
    const perms = compilePermissions({ subscribe: { deny: ["x"] } });
    expect(perms.maySubscribe(">")).toBe(true);
    expect(perms.maySubscribe("hub.*.a")).toBe(true);
  });

  const denied: readonly [string[], string, boolean, string][] = [
    [["hub.*.secret.>"], "hub.a.secret.>", false, "entirely inside the deny pattern"],
    [["hub.*.secret.>"], "hub.*.secret.x", false, "entirely inside the deny pattern"],
    [["hub.*.secret.>"], "hub.a.secret", true, "one token short of it"],
    [["hub.*.secret.>"], "hub.>", true, "overlaps it: delivery leaves the denied subjects out"],
    [["a.b"], "a.*", true, "overlaps a literal deny: delivery leaves a.b out"],
    [["a.b"], "a.b", false, "the denied literal"],
    // nats-server's check: the deny `*` matches the trailing `>` read as one
    // token. Stricter than "entirely inside" (a.> also matches a.b.c), and
    // never less safe.
    [["a.*"], "a.>", false, "a.> read as a.* is inside a.*"],
    [["a.*"], "a.*.>", true, "two tokens or more after a: outside a.*"],
    [["a.*"], "*.>", true, "* is not the literal a"],
    [["*"], ">", false, "> read as one token is inside *"],
    [[">"], "a", false, "deny > refuses everything"],
  ];
  it.each(denied)("deny %j: %j is %s (%s)", (deny, pattern, allowed) => {
    expect(compilePermissions({ subscribe: { deny } }).maySubscribe(pattern)).toBe(allowed);
  });

  it("checks deny after allow", () => {
    const perms = compilePermissions({
      subscribe: { allow: ["hub.*.billing.>"], deny: ["hub.*.billing.secret.>"] },
    });
    expect(perms.maySubscribe("hub.a.billing.>")).toBe(true);
    expect(perms.maySubscribe("hub.a.billing.secret.>")).toBe(false);
    expect(perms.maySubscribe("hub.a.other.>")).toBe(false);
  });

  it("is not affected by publish rules", () => {
    const perms = compilePermissions({ publish: { allow: ["x"], deny: [">"] } });
    expect(perms.maySubscribe(">")).toBe(true);
  });
});

describe("deliverable", () => {
  it("is undefined without a subscribe deny list, so delivery needs no per-event call", () => {
    expect(compilePermissions({}).deliverable).toBeUndefined();
    expect(
      compilePermissions({ subscribe: { allow: ["a"], deny: [] } }).deliverable,
    ).toBeUndefined();
    expect(compilePermissions({ publish: { deny: ["a"] } }).deliverable).toBeUndefined();
  });

  it("leaves out subjects a subscribe deny pattern matches", () => {
    const { deliverable } = compilePermissions({
      subscribe: {
        allow: ["hub.*.billing.>"],
        deny: ["hub.*.billing.secret.>", "hub.x.billing.y"],
      },
    });
    expect(deliverable?.("hub.a.billing.paid")).toBe(true);
    expect(deliverable?.("hub.a.billing.secret.key")).toBe(false);
    expect(deliverable?.("hub.a.billing.secret")).toBe(true);
    expect(deliverable?.("hub.x.billing.y")).toBe(false);
  });
});

describe("compilePermissions", () => {
  it("refuses an invalid pattern, naming its list and index", () => {
    let thrown: unknown;
    try {
      compilePermissions({ subscribe: { deny: ["a.>", "a.>.b"] } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(HubError);
    expect((thrown as HubError).code).toBe("invalid_argument");
    expect((thrown as HubError).detail.param).toBe("subscribe.deny[1]");
  });

  it("implements the contract's example entry", () => {
    const perms = compilePermissions({
      publish: { allow: ["hub.local-hub.billing.>"], deny: [] },
      subscribe: { allow: ["hub.*.billing.>", "hub.global.>"], deny: ["hub.*.billing.secret.>"] },
    });
    expect(perms.mayPublish("hub.local-hub.billing.paid")).toBe(true);
    expect(perms.mayPublish("hub.other.billing.paid")).toBe(false);
    expect(perms.maySubscribe("hub.*.billing.>")).toBe(true);
    expect(perms.maySubscribe("hub.global.presence.*")).toBe(true);
    expect(perms.maySubscribe("hub.>")).toBe(false);
    expect(perms.maySubscribe("hub.other.billing.secret.>")).toBe(false);
    expect(perms.deliverable?.("hub.other.billing.secret.key")).toBe(false);
  });
});
