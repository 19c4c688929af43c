/** Sends one hand-written HTTP/1.1 request over TCP (fetch cannot forge a `Host` header). */

/** Sends `POST path` with the given headers and body to `url`'s host and port; returns the status. */
export async function rawPost(
  url: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  const connection = await Deno.connect({ hostname, port: Number(port) });
  try {
    const bytes = new TextEncoder().encode(body);
    const head = [
      `POST ${path} HTTP/1.1`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      `content-length: ${bytes.byteLength}`,
      "connection: close",
      "",
      "",
    ].join("\r\n");
    await connection.write(new TextEncoder().encode(head));
    await connection.write(bytes);
    let text = "";
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(65536);
    while (true) {
      const read = await connection.read(buffer);
      if (read === null) break;
      text += decoder.decode(buffer.subarray(0, read), { stream: true });
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, text };
  } finally {
    connection.close();
  }
}
