/** After a good policy reload: tell every live session that its tools, prompts and resources may
 * have changed (the gateway declares `listChanged` for all three). */
import type { JsonRpcNotification } from "../jsonrpc.ts";
import type { SessionStore } from "./session/sessions.ts";

/** The notifications sent, prepared once. */
export const LIST_CHANGED_NOTIFICATIONS: readonly JsonRpcNotification[] = Object.freeze([
  { jsonrpc: "2.0", method: "notifications/tools/list_changed" },
  { jsonrpc: "2.0", method: "notifications/prompts/list_changed" },
  { jsonrpc: "2.0", method: "notifications/resources/list_changed" },
]);

/**
 * Sends the three list_changed notifications on the standalone (GET) stream of every live session
 * that has one; returns how many sessions were told. A session without a GET stream learns
 * nothing (as with a direct server) and sees the new lists the next time it asks.
 */
export function broadcastListChanged(sessions: SessionStore): number {
  let told = 0;
  for (const session of sessions.all()) {
    let sent = false;
    for (const notification of LIST_CHANGED_NOTIFICATIONS) {
      sent = session.streams.sendStandalone(notification) || sent;
    }
    if (sent) told++;
  }
  return told;
}
