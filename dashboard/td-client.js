// A small Thing Description client: finds an affordance's form for an operation, expands its URI
// template, and sends the request with the credentials the TD's security scheme asks for.

const CREDENTIALS_KEY = "node-wot-vo.dashboard.credentials";
/** Sent with every request: the server then answers 401 without a browser login prompt. */
const REQUESTED_WITH = "node-wot-vo-dashboard";

export class Unauthorized extends Error {
  constructor(url, status) {
    super(`${status === 403 ? "forbidden" : "credentials needed"} (${status}) for ${url}`);
    this.status = status;
  }
}

export class RequestFailed extends Error {
  constructor(url, status, text) {
    super(`${status}: ${text || "request failed"} (${url})`);
    this.status = status;
  }
}

// ---- credentials (sessionStorage: this tab only) ----

export function credentials() {
  try {
    const c = JSON.parse(sessionStorage.getItem(CREDENTIALS_KEY) ?? "null");
    return c && typeof c === "object" ? c : undefined;
  } catch {
    return undefined;
  }
}

export function setCredentials(c) {
  if (c && (c.username || c.token)) sessionStorage.setItem(CREDENTIALS_KEY, JSON.stringify(c));
  else sessionStorage.removeItem(CREDENTIALS_KEY);
}

/** The TD's security scheme for its forms: "nosec", "basic", "bearer", … (lower case). */
export function schemeOf(td) {
  const names = Array.isArray(td?.security) ? td.security : td?.security ? [td.security] : [];
  const def = td?.securityDefinitions?.[names[0]];
  return String(def?.scheme ?? "nosec").toLowerCase();
}

/** True when reading the thing needs credentials (its TD declares a scheme other than nosec). */
export function needsCredentials(td) {
  return schemeOf(td) !== "nosec";
}

function basic(username, password) {
  const bytes = new TextEncoder().encode(`${username}:${password ?? ""}`);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return "Basic " + btoa(text);
}

/** The Authorization header for a request to this TD's forms, or undefined. */
export function authorization(td) {
  const c = credentials();
  if (!c) return undefined;
  const scheme = schemeOf(td);
  if (scheme === "bearer") return c.token ? `Bearer ${c.token}` : undefined;
  if (scheme === "basic") return c.username ? basic(c.username, c.password) : undefined;
  // nosec: the plugin still guards the changing actions with Basic or Bearer when credentials are configured.
  if (c.token) return `Bearer ${c.token}`;
  if (c.username) return basic(c.username, c.password);
  return undefined;
}

/** True when the user gave credentials (changing actions are offered only then). */
export function signedIn() {
  return credentials() !== undefined;
}

// ---- requests ----

export async function request(url, { td, method = "GET", body, signal } = {}) {
  const headers = { accept: "application/json", "x-requested-with": REQUESTED_WITH };
  const auth = td ? authorization(td) : undefined;
  if (auth) headers.authorization = auth;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: "no-store",
  });
  if (res.status === 401 || res.status === 403) throw new Unauthorized(url, res.status);
  const text = await res.text();
  if (!res.ok) throw new RequestFailed(url, res.status, text.slice(0, 300) || res.statusText);
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ---- forms ----

const KIND_KEYS = { property: "properties", action: "actions", event: "events" };

export function affordance(td, kind, name) {
  const map = td?.[KIND_KEYS[kind]] ?? {};
  return Object.hasOwn(map, name) ? map[name] : undefined;
}

/** The affordance's first HTTP(S) form for `op` (forms without `op` count as the default op). */
export function formFor(td, kind, name, op) {
  const a = affordance(td, kind, name);
  if (!a) return undefined;
  const defaults = { property: ["readproperty", "writeproperty"], action: ["invokeaction"], event: [] };
  const forms = (a.forms ?? []).filter((f) => {
    const ops = f.op === undefined ? defaults[kind] : Array.isArray(f.op) ? f.op : [f.op];
    return ops.includes(op);
  });
  const base = td.base ?? td.__url;
  const http = forms
    .map((f) => ({ ...f, href: absolute(f.href, base) }))
    .filter((f) => /^https?:/.test(f.href));
  // Prefer a form on the page's own origin (the advertised address may differ from the one used).
  return http.find((f) => new URL(absolute(f.href, base)).origin === location.origin) ?? http[0];
}

/** An href template made absolute; the template part (`{?…}`) is kept as it is, not percent-encoded. */
function absolute(href, base) {
  const brace = href.indexOf("{");
  const plain = brace < 0 ? href : href.slice(0, brace);
  const template = brace < 0 ? "" : href.slice(brace);
  return new URL(plain, base).href + template;
}

/**
 * RFC 6570 expansion of the parts TDs use: `{var}`, `{?a,b}` and `{&a,b}`; unset variables are
 * left out.
 */
export function expand(template, vars = {}) {
  return template.replace(/\{([?&]?)([^}]*)\}/g, (_, op, list) => {
    const names = list.split(",").map((n) => n.trim());
    if (op === "")
      return names.map((n) => (vars[n] === undefined ? "" : encodeURIComponent(vars[n]))).join(",");
    const pairs = names
      .filter((n) => vars[n] !== undefined && vars[n] !== null)
      .map((n) => `${encodeURIComponent(n)}=${encodeURIComponent(vars[n])}`);
    if (pairs.length === 0) return "";
    return (op === "?" ? "?" : "&") + pairs.join("&");
  });
}

/** Reads a property through its TD form; `uriVariables` fill the form's template. */
export async function readProperty(td, name, uriVariables, signal) {
  const form = formFor(td, "property", name, "readproperty");
  if (!form) throw new Error(`'${td.title}' offers no HTTP readproperty form for '${name}'`);
  return request(expand(form.href, uriVariables), { td, method: form["htv:methodName"] ?? "GET", signal });
}

/** Invokes an action through its TD form. */
export async function invokeAction(td, name, input) {
  const form = formFor(td, "action", name, "invokeaction");
  if (!form) throw new Error(`'${td.title}' offers no HTTP invokeaction form for '${name}'`);
  return request(expand(form.href, {}), { td, method: form["htv:methodName"] ?? "POST", body: input });
}

/** The largest `limit` the TD's history form accepts (its uriVariables say), or a default. */
export function maxLimit(td, name = "history", fallback = 1000) {
  const a = affordance(td, "property", name);
  const max = a?.uriVariables?.limit?.maximum;
  return Number.isInteger(max) && max > 0 ? max : fallback;
}

/** True for affordances the plugin added (`"vo:plugin": true`), not the thing's own. */
export function isPlugin(a) {
  return a?.["vo:plugin"] === true;
}

/** The thing's own affordances of one kind: [[name, affordance], …]. */
export function own(td, kind) {
  return Object.entries(td?.[KIND_KEYS[kind]] ?? {}).filter(([, a]) => !isPlugin(a));
}

/** Fetches the list of things (`GET /`): TD URLs (or TDs), then each TD. */
export async function listThings(thingsUrl) {
  const list = await request(thingsUrl);
  if (!Array.isArray(list)) throw new Error(`${thingsUrl} did not answer a list of things`);
  const tds = await Promise.all(
    list.map(async (entry) => {
      if (entry && typeof entry === "object") return { ...entry, __url: entry.base ?? thingsUrl };
      const url = new URL(String(entry), thingsUrl).href;
      const td = await request(url);
      return { ...td, __url: url };
    }),
  );
  return tds;
}

/** The URL path segment that names the thing (for the dashboard's own links). */
export function slugOf(td) {
  const url = new URL(td.__url, location.href);
  const last = url.pathname.split("/").filter(Boolean).pop();
  return last ? decodeURIComponent(last) : td.id;
}
