/** The gateway's version, as reported in `serverInfo` and to upstreams. */
export const VERSION = "0.2.0";
