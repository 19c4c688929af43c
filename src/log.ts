/** Operational messages (stderr), filtered by LOG_LEVEL. Audit events never go through here. */
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

/** Creates a logger writing lines at or above `level` through `write`. */
export function createLogger(level: LogLevel, write: (line: string) => void): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const at = (name: LogLevel) => (message: string) => {
    if (LOG_LEVELS.indexOf(name) >= threshold) {
      write(`${new Date().toISOString()} ${name.toUpperCase()} ${message}`);
    }
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A logger that drops everything (tests). */
export function silentLogger(): Logger {
  const drop = () => {};
  return { debug: drop, info: drop, warn: drop, error: drop };
}
