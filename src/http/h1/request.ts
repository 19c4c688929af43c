/**
 * A `Request`-shaped view of one parsed request, for the builtin server's hot routes (issue 15).
 * `new Request(url, { method, headers, body })` costs ~6 KB of garbage per call in Deno's
 * JavaScript (URL parsing, WebIDL header validation, an inner request and a body stream) and
 * leaves ~0.3 KB alive past a young-generation GC; this view holds the parsed head as it is and
 * builds a real `Headers` or body stream only when something asks for more than `get`/`has` and
 * the bytes. Only requests whose URL needs no parsing are given one (./server.ts `lightRequest`).
 */
import type { Bytes } from "./connection.ts";

const utf8 = new TextDecoder();

/**
 * Request headers over the parser's lower-cased `[name, value]` pairs. `get` and `has` read the
 * pairs (duplicates joined with ", " as `Headers` does); anything else goes to a real `Headers`
 * built from them once, which from then on answers everything.
 */
export class H1Headers implements Headers {
  #pairs: readonly (readonly [string, string])[];
  #real: Headers | null = null;

  /** Wraps parsed pairs (names lower case, values trimmed and checked by the parser). */
  constructor(pairs: readonly (readonly [string, string])[]) {
    this.#pairs = pairs;
  }

  /** The value of `name`, duplicates joined with ", ", or null. */
  get(name: string): string | null {
    if (this.#real !== null) return this.#real.get(name);
    const key = name.toLowerCase();
    const pairs = this.#pairs;
    let found: string | null = null;
    for (let i = 0; i < pairs.length; i++) {
      if (pairs[i][0] === key) found = found === null ? pairs[i][1] : `${found}, ${pairs[i][1]}`;
    }
    return found;
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    if (this.#real !== null) return this.#real.has(name);
    const key = name.toLowerCase();
    const pairs = this.#pairs;
    for (let i = 0; i < pairs.length; i++) if (pairs[i][0] === key) return true;
    return false;
  }

  /** Sets `name` (on the real `Headers`). */
  set(name: string, value: string): void {
    this.#headers().set(name, value);
  }

  /** Appends to `name` (on the real `Headers`). */
  append(name: string, value: string): void {
    this.#headers().append(name, value);
  }

  /** Deletes `name` (on the real `Headers`). */
  delete(name: string): void {
    this.#headers().delete(name);
  }

  /** `Set-Cookie` values, as `Headers` gives them. */
  getSetCookie(): string[] {
    return this.#headers().getSetCookie();
  }

  /** Calls `callback` per header, as `Headers` does. */
  forEach(
    callback: (value: string, key: string, parent: this) => void,
    thisArg?: unknown,
  ): void {
    this.#headers().forEach((value, key) => callback.call(thisArg, value, key, this));
  }

  /** Entries, as `Headers` iterates them (sorted, combined). */
  entries(): ReturnType<Headers["entries"]> {
    return this.#headers().entries();
  }

  /** Names, as `Headers` iterates them. */
  keys(): ReturnType<Headers["keys"]> {
    return this.#headers().keys();
  }

  /** Values, as `Headers` iterates them. */
  values(): ReturnType<Headers["values"]> {
    return this.#headers().values();
  }

  /** Entries, as `Headers` iterates them. */
  [Symbol.iterator](): ReturnType<Headers["entries"]> {
    return this.#headers().entries();
  }

  #headers(): Headers {
    return this.#real ??= new Headers(this.#pairs as [string, string][]);
  }
}

/**
 * The serialized origin of `http://<authority>` (what `new Request(url).url` starts with), or
 * undefined when the URL parser refuses the authority.
 */
export function httpOrigin(authority: string): string | undefined {
  try {
    return new URL(`http://${authority}`).origin;
  } catch {
    return undefined;
  }
}

/** What of `Request` the view provides: everything the gateway's hot handlers read. */
type RequestPart = "method" | "url" | "headers" | "body" | "bodyUsed";

/** A request of the builtin server that did not need `new Request` (see the module comment). */
export class H1Request implements Pick<Request, RequestPart> {
  /** The method, as parsed. */
  readonly method: string;
  /** The absolute URL, already in its serialized form. */
  readonly url: string;
  /** The headers. */
  readonly headers: H1Headers;
  #body: Bytes | ReadableStream<Bytes> | null;
  #used = false;

  /** A view of one request: `url` must already be what `new URL(url).href` gives. */
  constructor(
    method: string,
    url: string,
    headers: H1Headers,
    body: Bytes | ReadableStream<Bytes> | null,
  ) {
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.#body = body;
  }

  /** The body as a stream (built once from bytes that arrived whole), or null. */
  get body(): ReadableStream<Bytes> | null {
    const body = this.#body;
    if (body === null || body instanceof ReadableStream) return body;
    const stream = new ReadableStream<Bytes>({
      start(controller) {
        controller.enqueue(body);
        controller.close();
      },
    });
    this.#body = stream;
    return stream;
  }

  /** Whether the body was read. */
  get bodyUsed(): boolean {
    const body = this.#body;
    return this.#used || (body instanceof ReadableStream && body.locked);
  }

  /** The whole body; rejects when it was read already or its stream fails. */
  async bytes(): Promise<Bytes> {
    if (this.bodyUsed) throw new TypeError("Body already consumed");
    this.#used = true;
    const body = this.#body;
    if (body === null) return new Uint8Array(0);
    if (!(body instanceof ReadableStream)) return body;
    return await new Response(body).bytes();
  }

  /** The whole body as an `ArrayBuffer`. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    return whole ? bytes.buffer : bytes.slice().buffer;
  }

  /** The whole body decoded as UTF-8 (replacement characters for bad bytes, as `Request`). */
  async text(): Promise<string> {
    return utf8.decode(await this.bytes());
  }

  /** The whole body parsed as JSON. */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}
