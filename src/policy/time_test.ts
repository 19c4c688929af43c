import { expect } from "expect";
import { isValidTimeZone, localClock } from "./time.ts";

Deno.test("isValidTimeZone: IANA names accepted, anything else refused", () => {
  for (const zone of ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"]) {
    expect([zone, isValidTimeZone(zone)]).toEqual([zone, true]);
  }
  for (
    const zone of ["", "Mars/Olympus", "Europe/Paris ", "UTC\n", "../../etc/passwd", "x".repeat(65)]
  ) {
    expect([zone, isValidTimeZone(zone)]).toEqual([zone, false]);
  }
});

Deno.test("localClock: minute of day and weekday in a zone", () => {
  const instant = Date.parse("2024-01-14T23:30:00Z"); // Sunday in UTC, Monday in Paris
  expect(localClock("UTC", instant)).toEqual({ minuteOfDay: 23 * 60 + 30, day: 0 });
  expect(localClock("Europe/Paris", instant)).toEqual({ minuteOfDay: 30, day: 1 });
  expect(localClock("Asia/Kolkata", instant)).toEqual({ minuteOfDay: 5 * 60, day: 1 });
  expect(localClock("America/New_York", instant)).toEqual({ minuteOfDay: 18 * 60 + 30, day: 0 });
});

Deno.test("localClock: the per-second memo never returns a stale reading", () => {
  const before = Date.parse("2024-01-15T07:59:59.999Z");
  expect(localClock("UTC", before)).toEqual({ minuteOfDay: 479, day: 1 });
  expect(localClock("UTC", before + 1)).toEqual({ minuteOfDay: 480, day: 1 });
  expect(localClock("UTC", before)).toEqual({ minuteOfDay: 479, day: 1 });
  expect(localClock("UTC", Date.parse("2024-01-16T00:00:00Z"))).toEqual({ minuteOfDay: 0, day: 2 });
});

Deno.test("localClock: no zone means server local time", () => {
  const instant = new Date(2024, 4, 4, 13, 7).getTime(); // a Saturday, local time
  expect(localClock(undefined, instant)).toEqual({ minuteOfDay: 13 * 60 + 7, day: 6 });
});
