// The MCP protocol versions the gateway speaks (§5.1).

/** Protocol versions the gateway speaks, newest first. */
export const SUPPORTED_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;

/** The version assumed when a request carries no `MCP-Protocol-Version` (§5.1). */
export const DEFAULT_VERSION = "2025-03-26";
