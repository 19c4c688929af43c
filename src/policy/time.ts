/** Wall-clock reading used for `active_hours` / `active_days`. */
export interface LocalClock {
  /** Minutes since local midnight, 0..1439. */
  readonly minuteOfDay: number;
  /** Local day of the week, 0 = Sunday … 6 = Saturday. */
  readonly day: number;
}

/** Day names as written in `active_days`, indexed like `Date#getDay` (0 = Sunday). */
export const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

const WEEKDAY_INDEX: Readonly<Record<string, number>> = {
  Sun: 0,
  Mon: 1,
  Tue: 2,
  Wed: 3,
  Thu: 4,
  Fri: 5,
  Sat: 6,
};

interface ZoneClock {
  readonly format: Intl.DateTimeFormat;
  /** Memo of the last reading: zone offsets are whole seconds, so one second shares a reading. */
  lastSecond: number;
  lastReading: LocalClock;
}

/** One formatter per zone, created on first use and reused for every later call. */
const zoneClocks = new Map<string, ZoneClock>();

/** True when `zone` is a time zone `Intl.DateTimeFormat` accepts (IANA names, "UTC"). */
export function isValidTimeZone(zone: string): boolean {
  if (!/^[A-Za-z0-9_+\-/]{1,64}$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The wall clock at `now` (epoch ms) in `zone`, or in server local time when `zone` is undefined. */
export function localClock(zone: string | undefined, now: number): LocalClock {
  if (zone === undefined) {
    const date = new Date(now);
    return { minuteOfDay: date.getHours() * 60 + date.getMinutes(), day: date.getDay() };
  }
  const clock = zoneClock(zone);
  const second = Math.floor(now / 1000);
  if (second !== clock.lastSecond) {
    clock.lastReading = readZone(clock.format, now);
    clock.lastSecond = second;
  }
  return clock.lastReading;
}

function zoneClock(zone: string): ZoneClock {
  let clock = zoneClocks.get(zone);
  if (clock === undefined) {
    const format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
    });
    clock = { format, lastSecond: Number.NaN, lastReading: { minuteOfDay: 0, day: 0 } };
    zoneClocks.set(zone, clock);
  }
  return clock;
}

function readZone(format: Intl.DateTimeFormat, now: number): LocalClock {
  // Anything unreadable stays NaN / -1, which matches no range or day (fail closed).
  let hour = Number.NaN;
  let minute = Number.NaN;
  let day = -1;
  for (const part of format.formatToParts(now)) {
    if (part.type === "hour") hour = Number(part.value) % 24;
    else if (part.type === "minute") minute = Number(part.value);
    else if (part.type === "weekday") day = WEEKDAY_INDEX[part.value] ?? -1;
  }
  return { minuteOfDay: hour * 60 + minute, day };
}
