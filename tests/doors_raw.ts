/** Hand-written HTTP/1.1 requests for the door tests: any `Host` (or none), any header, any body;
 * and the tests' own oracles of an allowed Host and Origin. */
import fc from "fast-check";

/** A raw answer: status, lower-cased headers and the body text. */
export interface RawAnswer {
  /** HTTP status (0 when the answer could not be read). */
  readonly status: number;
  /** Response headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /** Body text (de-chunked). */
  readonly body: string;
}

/** Sends one request over a fresh TCP connection to `url`'s host and port and reads the answer. */
export async function rawRequest(
  url: string,
  request: { method: string; path: string; headers: Record<string, string>; body?: string },
): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const connection = await Deno.connect({ hostname, port: Number(port) });
  try {
    const bytes = new TextEncoder().encode(request.body ?? "");
    const lines = [`${request.method} ${request.path} HTTP/1.1`];
    for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
    if (request.body !== undefined) lines.push(`content-length: ${bytes.byteLength}`);
    lines.push("connection: close", "", "");
    await connection.write(new TextEncoder().encode(lines.join("\r\n")));
    if (bytes.byteLength > 0) await connection.write(bytes);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    while (true) {
      const read = await connection.read(buffer);
      if (read === null) break;
      chunks.push(buffer.slice(0, read));
    }
    return parseAnswer(new TextDecoder().decode(concat(chunks)));
  } finally {
    connection.close();
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

function parseAnswer(text: string): RawAnswer {
  const split = text.indexOf("\r\n\r\n");
  const head = split < 0 ? text : text.slice(0, split);
  let body = split < 0 ? "" : text.slice(split + 4);
  const [statusLine, ...headerLines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
  }
  if (headers["transfer-encoding"]?.toLowerCase() === "chunked") body = dechunk(body);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body };
}

function dechunk(text: string): string {
  let out = "";
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf("\r\n", at);
    if (end < 0) break;
    const size = parseInt(text.slice(at, end), 16);
    if (!(size > 0)) break;
    out += text.slice(end + 2, end + 2 + size);
    at = end + 2 + size + 2;
  }
  return out;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Printable ASCII without spaces: a header value the HTTP parser itself accepts. */
export const token = (max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map(String.fromCharCode), maxLength: max })
    .filter((s) => s.length > 0);

/** The test's own oracle of a loopback `Host` (undefined: no Host, judged by the URL, loopback). */
export function hostIsLoopback(host: string | undefined): boolean {
  if (host === undefined) return true;
  const lowered = host.toLowerCase();
  const name = lowered.startsWith("[")
    ? lowered.slice(0, lowered.indexOf("]") + 1)
    : lowered.split(":")[0];
  return LOOPBACK.has(name);
}

/** The test's own oracle of an allowed browser `Origin` (absent, or http(s) on a loopback name). */
export function originIsLoopback(origin: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") &&
      (LOOPBACK.has(url.hostname) || url.hostname === "::1");
  } catch {
    return false;
  }
}
