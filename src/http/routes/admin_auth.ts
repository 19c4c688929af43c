/** Admin access (§7): `ADMIN_TOKEN` as a bearer header or the `mcpsec_admin` cookie. */
import { bearerToken, secretsEqual } from "../../identity/identify.ts";

/** Name of the admin session cookie. */
export const ADMIN_COOKIE = "mcpsec_admin";

/** Reads one cookie from a `Cookie` header. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const index = part.indexOf("=");
    if (index > 0 && part.slice(0, index).trim() === name) {
      try {
        return decodeURIComponent(part.slice(index + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** True when the request carries the admin token as bearer or cookie (constant-time compare). */
export function isAdmin(request: Request, adminToken: string): boolean {
  const bearer = bearerToken(request.headers.get("authorization"));
  if (bearer !== undefined && secretsEqual(bearer, adminToken)) return true;
  const cookie = readCookie(request.headers.get("cookie"), ADMIN_COOKIE);
  return cookie !== undefined && secretsEqual(cookie, adminToken);
}

/** The `Set-Cookie` value that signs a browser in (HttpOnly, SameSite=Strict, Path=/). */
export function adminCookie(adminToken: string): string {
  return `${ADMIN_COOKIE}=${encodeURIComponent(adminToken)}; HttpOnly; SameSite=Strict; Path=/`;
}
