/**
 * Checks an HTTP `Authorization` header against the credentials configured on the servient (the
 * shapes node-wot's `basic` and `bearer` schemes use). One place for the VO-state actions and the
 * dashboard's `/metrics`, compared in constant time.
 */
import { timingSafeEqual } from "node:crypto";

export interface ConfiguredCredential {
  username?: string;
  password?: string;
  token?: string;
}

/** True when `header` carries Basic or Bearer credentials equal to one of `credentials`. */
export function authorizationMatches(
  header: string | undefined,
  credentials: readonly ConfiguredCredential[],
): boolean {
  if (!header) return false;
  const [scheme, value] = header.trim().split(/\s+/, 2);
  if (!value) return false;
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const pass = decoded.slice(colon + 1);
    return credentials.some(
      (c) => c.username !== undefined && same(c.username, user) && same(c.password ?? "", pass),
    );
  }
  if (/^bearer$/i.test(scheme)) return credentials.some((c) => c.token !== undefined && same(c.token, value));
  return false;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
