/** The gateway's version, as reported in `serverInfo`, to upstreams and by `--version`: read from
 * `deno.json` (one source of truth; a static import, so `deno compile` embeds it). */
import denoJson from "../deno.json" with { type: "json" };

/** The gateway's version (`deno.json` `version`). */
export const VERSION: string = denoJson.version;
