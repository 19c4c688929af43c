import { expect } from "expect";
import fc from "fast-check";
import { secure, SecuredResponse, SECURITY_HEADERS } from "./fast_path.ts";

/** What a plain `Response` with the same init, secured, holds: the reference. */
function reference(body: string, status: number, headers: Record<string, string>): Headers {
  return secure(new Response(body, { status, headers })).headers;
}

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/);
const value = fc.stringMatching(/^[\t\x20-\x7e]{0,40}$/);

Deno.test("property: the header list a SecuredResponse writes is what Headers would hold", () => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.oneof(token, fc.constantFrom("Content-Type", "x-frame-options", "X-Frame-Options")),
        value,
        { maxKeys: 6 },
      ),
      fc.string({ maxLength: 50 }),
      (headers, body) => {
        const answer = new SecuredResponse(body, { status: 200, headers });
        const list = answer.headerList!;
        const expected = reference(body, 200, headers);
        // Same fields (Headers sorts them; the list keeps the order given), one of each name.
        expect(new Map(list)).toEqual(new Map(expected));
        expect(new Set(list.map(([name]) => name)).size).toBe(list.length);
        // Reading `headers` gives the same, and the list is no longer used from then on.
        expect(new Map(answer.headers)).toEqual(new Map(expected));
        expect(answer.headerList).toBeUndefined();
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("a SecuredResponse carries the security headers; a change through `headers` wins", () => {
  const answer = new SecuredResponse("{}", {
    status: 401,
    headers: { "content-type": "application/json" },
  });
  for (const [name, value] of SECURITY_HEADERS) {
    expect(answer.headerList).toContainEqual([name, value]);
  }
  answer.headers.set("www-authenticate", 'Bearer realm="x"');
  expect(answer.headerList).toBeUndefined(); // writers fall back to the Headers, change included
  expect(answer.headers.get("www-authenticate")).toBe('Bearer realm="x"');
  expect(answer.headers.get("x-frame-options")).toBe("DENY");
  expect(secure(answer)).toBe(answer);
  const copy = new SecuredResponse("{}", { status: 200, headers: { "x-a": "b" } }).clone();
  expect(copy.headers.get("x-a")).toBe("b");
  expect(copy.headers.get("x-content-type-options")).toBe("nosniff");
});

Deno.test("a SecuredResponse refuses what Headers refuses, and its body text goes once read", async () => {
  const refused: Record<string, string>[] = [
    { "x-a": "line\r\nbreak" },
    { "bad name": "v" },
    { "x-a": "nul\0" },
  ];
  for (const headers of refused) {
    expect(() => new Response("", { headers })).toThrow(TypeError);
    expect(() => new SecuredResponse("", { status: 200, headers })).toThrow(TypeError);
  }
  const answer = new SecuredResponse("héllo", { status: 200, headers: {} });
  expect(answer.bodyText).toBe("héllo");
  expect(answer.headerList).toContainEqual(["content-type", "text/plain;charset=UTF-8"]);
  expect(await answer.text()).toBe("héllo");
  expect(answer.bodyText).toBeUndefined();
});
