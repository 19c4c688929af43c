// A reload on one replica reaches the others (SPEC §13): after a good reload (POST /reload or its
// own file watcher) a replica publishes its GATEWAY_ID on `<REDIS_PREFIX>reload`; every other
// replica then reloads its own policy file. A reload caused by a peer is not announced again, so
// messages never loop. The subscription is restored by the client after a reconnection.
import type { Redis } from "ioredis";
import { type RedisConnection, subscribeTo } from "./redis_client.ts";

/** The link between replicas for reloads. */
export interface PeerReloads {
  /** Tells the other replicas to reload (unless this reload came from one of them). */
  announce(): void;
  /** Stops listening. */
  close(): void;
}

/** Options of `linkPeerReloads`. */
export interface PeerReloadOptions {
  /** The Redis connection (a second connection is made for the subscription). */
  readonly redis: RedisConnection;
  /** Channel name (`<REDIS_PREFIX>reload`). */
  readonly channel: string;
  /** This replica's GATEWAY_ID (its own messages are ignored). */
  readonly gatewayId: string;
  /** Reloads this replica's policy. */
  readonly reload: () => Promise<unknown>;
  /** Bound on subscribing at start. */
  readonly timeoutMs: number;
  /** Operational log. */
  readonly log: { info(message: string): void; warn(message: string): void };
}

/** Subscribes to the reload channel; rejects with `Cannot subscribe …` when Redis does not answer. */
export async function linkPeerReloads(options: PeerReloadOptions): Promise<PeerReloads> {
  const { redis, channel, gatewayId, log } = options;
  let subscriber: Redis;
  try {
    subscriber = await subscribeTo(redis, channel, options.timeoutMs * 4);
  } catch (error) {
    throw new Error(`Cannot subscribe to Redis channel "${channel}": ${(error as Error).message}`);
  }
  let fromPeer = 0;
  subscriber.on("message", (from: string, message: string) => {
    if (from !== channel || message === gatewayId) return;
    log.info(`Policy reload asked by replica ${JSON.stringify(message.slice(0, 128))}`);
    fromPeer++;
    void options.reload().finally(() => fromPeer--);
  });
  return {
    announce() {
      if (fromPeer > 0) return;
      redis.client.publish(channel, gatewayId).catch((error: Error) =>
        log.warn(`Could not tell the other replicas to reload: ${error.message}`)
      );
    },
    close: () => subscriber.disconnect(),
  };
}
