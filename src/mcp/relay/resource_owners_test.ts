import { expect } from "expect";
import fc from "fast-check";
import { createResourceOwners, MAX_URIS_PER_UPSTREAM, templateGlob } from "./resource_owners.ts";

const memory = { name: "memory", client: {} };
const hostile = { name: "hostile", client: {} };
const both = [memory, hostile];

Deno.test("resource owners: the lister owns a URI, two listers clash, nobody is tried in turn", () => {
  const owners = createResourceOwners();
  expect(owners.unlisted(both)).toEqual(both);
  expect(owners.recordResources(memory, ["memory://graph", "memory://notes"], both).clashes)
    .toEqual([]);
  expect(owners.ownerOfUri("memory://graph", both)).toEqual({
    kind: "owner",
    upstream: "memory",
    via: "listed",
  });
  expect(owners.recordResources(hostile, ["memory://graph", "evil://x"], both).clashes).toEqual([
    "memory://graph",
  ]);
  expect(owners.ownerOfUri("memory://graph", both)).toEqual({
    kind: "clash",
    upstreams: ["memory", "hostile"],
  });
  expect(owners.ownerOfUri("memory://notes", both).kind).toBe("owner");
  expect(owners.ownerOfUri("memory://unlisted", both)).toEqual({ kind: "none" });
  // the hostile upstream drops the URI from its list: the clash is over
  owners.recordResources(hostile, ["evil://x"], both);
  expect(owners.ownerOfUri("memory://graph", both)).toEqual({
    kind: "owner",
    upstream: "memory",
    via: "listed",
  });
});

Deno.test("resource owners: unlisted URIs go to the one upstream whose templates match", () => {
  const owners = createResourceOwners();
  owners.recordTemplates(memory, ["memory://entity/{id}"], both);
  owners.recordTemplates(hostile, ["evil://{+path}"], both);
  expect(owners.ownerOfUri("memory://entity/42", both)).toEqual({
    kind: "owner",
    upstream: "memory",
    via: "template",
  });
  expect(owners.ownerOfTemplate("memory://entity/{id}", both)).toEqual({
    kind: "owner",
    upstream: "memory",
    via: "listed",
  });
  // a hostile catch-all template makes every unlisted URI it matches ambiguous, never its own
  owners.recordTemplates(hostile, ["{+anything}"], both);
  expect(owners.ownerOfUri("memory://entity/42", both).kind).toBe("clash");
  // a listed URI stays with its lister whatever templates say
  owners.recordResources(memory, ["memory://entity/1"], both);
  expect(owners.ownerOfUri("memory://entity/1", both).kind).toBe("owner");
  // the same template text from two upstreams is a clash
  expect(owners.recordTemplates(hostile, ["memory://entity/{id}"], both).clashes).toEqual([
    "memory://entity/{id}",
  ]);
  expect(owners.ownerOfTemplate("memory://entity/{id}", both).kind).toBe("clash");
  expect(owners.clashes(both)).toEqual([
    { kind: "uriTemplate", value: "memory://entity/{id}", upstreams: ["memory", "hostile"] },
  ]);
});

Deno.test("resource owners: a new client, a removed upstream or a list change forgets listings", () => {
  const owners = createResourceOwners();
  owners.recordResources(memory, ["memory://graph"], both);
  owners.recordTemplates(memory, [], both);
  expect(owners.unlisted(both)).toEqual([hostile]);
  const restarted = { name: "memory", client: {} };
  expect(owners.ownerOfUri("memory://graph", [restarted]).kind).toBe("none");
  expect(owners.unlisted([restarted])).toEqual([restarted]);
  owners.invalidate("memory");
  expect(owners.ownerOfUri("memory://graph", both).kind).toBe("none");
  // bounded: what an upstream lists beyond the cap is dropped (and so not served)
  const many = Array.from({ length: MAX_URIS_PER_UPSTREAM + 5 }, (_, i) => `x://${i}`);
  expect(owners.recordResources(memory, many, both).dropped).toBe(5);
  expect(owners.ownerOfUri(`x://${MAX_URIS_PER_UPSTREAM + 1}`, both).kind).toBe("none");
});

Deno.test("templateGlob: every expression matches any run; the match is linear", () => {
  expect(templateGlob("file:///{path}").test("file:///a/b")).toBe(true);
  expect(templateGlob("test://template/{id}/data").test("test://template/7/data")).toBe(true);
  expect(templateGlob("test://template/{id}/data").test("test://template/7/info")).toBe(false);
  expect(templateGlob("s://x{?q,lang}").test("s://x?q=1&lang=en")).toBe(true);
  fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
    // a literal template matches exactly itself
    const literal = a.replace(/[{}*?]/g, "");
    return templateGlob(literal).test(literal) &&
      (literal === b || !templateGlob(literal).test(b));
  }));
});

Deno.test("resource owners (property): a URI goes only to an upstream that listed it or whose template matches it, never to one of two listers", () => {
  const uri = fc.constantFrom("m://a", "m://b", "m://c/1", "m://c/2", "e://x");
  const template = fc.constantFrom("m://c/{id}", "m://{+all}", "e://{x}", "z://{q}");
  fc.assert(fc.property(
    fc.array(uri, { maxLength: 4 }),
    fc.array(uri, { maxLength: 4 }),
    fc.array(template, { maxLength: 2 }),
    fc.array(template, { maxLength: 2 }),
    uri,
    (listedA, listedB, templatesA, templatesB, asked) => {
      const a = { name: "a", client: {} };
      const b = { name: "b", client: {} };
      const owners = createResourceOwners();
      owners.recordResources(a, listedA, [a, b]);
      owners.recordResources(b, listedB, [a, b]);
      owners.recordTemplates(a, templatesA, [a, b]);
      owners.recordTemplates(b, templatesB, [a, b]);
      const owner = owners.ownerOfUri(asked, [a, b]);
      const inA = listedA.includes(asked);
      const inB = listedB.includes(asked);
      if (inA && inB) return owner.kind === "clash";
      if (inA || inB) {
        return owner.kind === "owner" && owner.upstream === (inA ? "a" : "b") &&
          owner.via === "listed";
      }
      if (owner.kind !== "owner") return true;
      const templates = owner.upstream === "a" ? templatesA : templatesB;
      const rivals = owner.upstream === "a" ? templatesB : templatesA;
      return templates.some((t) => templateGlob(t).test(asked)) &&
        !rivals.some((t) => templateGlob(t).test(asked));
    },
  ));
});
