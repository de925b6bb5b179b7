// HTTP client of the tickwire auth service (docs/AUTH.md): register an
// account, log in for a one-time game token, change a password. It has no
// dependencies beyond fetch.

/** The answer to a successful {@link register}. */
export interface RegisterResult {
  /** The account name as the service stored it (normalised). */
  name: string;
  /** When the account was created. */
  createdAt: Date;
}

/** The answer to a successful {@link login}: a one-time game login token. */
export interface LoginResult {
  /** The account name as the service stored it; send this in AUTH. */
  name: string;
  /** The one-time token for `AUTH <name> <token>`; it works exactly once. */
  token: string;
  /** When the token stops working. */
  expiresAt: Date;
  /** The token's lifetime in seconds, as the service reported it. */
  expiresIn: number;
  /** The game address the service advertises, if any. */
  gameAddr?: string;
}

/**
 * A refusal from the auth service (or a failure to reach it). `code` is the
 * service's error code (`bad_credentials`, `name_taken`, `bad_password`,
 * `rate_limited`, ...) or `network` / `bad_response` when no usable answer
 * came back; `message` is safe to show to the player.
 */
export class AuthError extends Error {
  /** The service's error code, or `network` / `bad_response`. */
  readonly code: string;
  /** The HTTP status, 0 when the request did not complete. */
  readonly status: number;
  /** For `rate_limited`: seconds to wait, from the Retry-After header. */
  readonly retryAfter: number;
  /** Creates an AuthError; the SDK throws these, callers rarely need to. */
  constructor(code: string, message: string, status = 0, retryAfter = 0) {
    super(message);
    this.name = "AuthError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Options shared by the auth calls. */
export interface AuthOptions {
  /** The fetch to use; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Abort the request with this signal. */
  signal?: AbortSignal;
}

/**
 * defaultAuthBase returns the auth service base URL a page should use when
 * none is configured: the page's own origin (so a page served by
 * `tickwire serve` on http://127.0.0.1:8080 calls http://127.0.0.1:8080/v1/...
 * with no certificate or CORS trouble). Outside a browser it returns "".
 */
export function defaultAuthBase(): string {
  const loc = (globalThis as { location?: { origin?: string } }).location;
  return loc?.origin && loc.origin !== "null" ? loc.origin : "";
}

/** authURL joins a base URL ("https://host" or "https://host/prefix/") and an API path. */
export function authURL(base: string, path: string): string {
  if (!base) base = defaultAuthBase();
  if (!base) throw new AuthError("bad_request", "no auth service URL: pass authBase");
  return base.replace(/\/+$/, "") + path;
}

async function post(base: string, path: string, body: unknown, opts: AuthOptions = {}): Promise<Record<string, unknown>> {
  const f = opts.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await f(authURL(base, path), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: opts.signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    if (e instanceof AuthError) throw e;
    throw new AuthError("network", `cannot reach the auth service: ${(e as Error)?.message ?? e}`);
  }
  let data: unknown = undefined;
  try {
    data = await res.json();
  } catch {
    // fall through: no JSON body
  }
  const obj = (data && typeof data === "object" ? data : {}) as Record<string, unknown>;
  if (!res.ok) {
    const err = (obj.error ?? {}) as { code?: unknown; message?: unknown };
    const code = typeof err.code === "string" ? err.code : res.status === 404 ? "not_found" : "bad_response";
    const message = typeof err.message === "string" ? err.message : `auth service answered HTTP ${res.status}`;
    const retry = Number(res.headers.get("Retry-After") ?? 0);
    throw new AuthError(code, message, res.status, Number.isFinite(retry) ? retry : 0);
  }
  if (data === undefined) throw new AuthError("bad_response", "the auth service answered without a JSON body", res.status);
  return obj;
}

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== "string") throw new AuthError("bad_response", `the auth service's answer has no "${k}"`);
  return v;
}

/**
 * register creates an account with `POST {authBase}/v1/register`. It does
 * not log in: call {@link login} next. Throws {@link AuthError}
 * (`name_taken`, `bad_name`, `bad_password`, `rate_limited`, ...).
 * An empty authBase means the page's own origin.
 */
export async function register(authBase: string, name: string, password: string, opts?: AuthOptions): Promise<RegisterResult> {
  const o = await post(authBase, "/v1/register", { name, password }, opts);
  return { name: str(o, "name"), createdAt: new Date(String(o.created_at ?? "")) };
}

/**
 * login checks a password with `POST {authBase}/v1/login` and returns a
 * one-time token for the game login `AUTH <name> <token>`. Throws
 * {@link AuthError} (`bad_credentials`, `rate_limited`, ...). An empty
 * authBase means the page's own origin.
 */
export async function login(authBase: string, name: string, password: string, opts?: AuthOptions): Promise<LoginResult> {
  const o = await post(authBase, "/v1/login", { name, password }, opts);
  const res: LoginResult = {
    name: str(o, "name"),
    token: str(o, "token"),
    expiresAt: new Date(String(o.expires_at ?? "")),
    expiresIn: Number(o.expires_in ?? 0),
  };
  if (typeof o.game_addr === "string" && o.game_addr) res.gameAddr = o.game_addr;
  return res;
}

/**
 * changePassword changes an account's password with
 * `POST {authBase}/v1/password`. Throws {@link AuthError}.
 */
export async function changePassword(authBase: string, name: string, oldPassword: string, newPassword: string, opts?: AuthOptions): Promise<void> {
  await post(authBase, "/v1/password", { name, old_password: oldPassword, new_password: newPassword }, opts);
}
