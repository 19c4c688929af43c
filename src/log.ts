/** Operational messages (stderr), filtered by LOG_LEVEL. Audit events never go through here. */
import { type Scrubber, SHAPE_SCRUBBER } from "./audit/event/scrub.ts";
import { LOG_LEVELS, type LogLevel } from "./config/config.ts";

/** A leveled logger. */
export interface Logger {
  /** Detail for debugging. */
  debug(message: string): void;
  /** Normal operation. */
  info(message: string): void;
  /** Something is wrong but the gateway goes on. */
  warn(message: string): void;
  /** Something failed. */
  error(message: string): void;
}

/**
 * Creates a logger writing lines at or above `level` through `write`. Every message passes
 * through `scrubber()` first (§12: credential shapes always; the configured upstream credentials
 * when the caller passes `() => scrubberFor(policy in force)`), so an upstream's stderr or error
 * text cannot put a secret in the operational log.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void,
  scrubber: () => Scrubber = () => SHAPE_SCRUBBER,
): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const at = (name: LogLevel) => (message: string) => {
    if (LOG_LEVELS.indexOf(name) >= threshold) {
      let clean = message;
      try {
        clean = scrubber().text(message);
      } catch {
        clean = SHAPE_SCRUBBER.text(message); // no policy yet (start-up)
      }
      write(`${new Date().toISOString()} ${name.toUpperCase()} ${clean}`);
    }
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A logger that drops everything (tests). */
export function silentLogger(): Logger {
  const drop = () => {};
  return { debug: drop, info: drop, warn: drop, error: drop };
}
