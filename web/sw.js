// The session's service worker: it holds the access token for every tab and page of this origin
// and adds it to the API calls the pages mark (header X-Nexus-Session), refreshing it when
// needed. It caches nothing and touches no other request.
//
// Why a worker: refresh tokens are single-use, and presenting a spent one ends the whole
// session. A page's own refresh dies with the page when the person navigates on while it is in
// flight, and the next page would present the spent cookie. The worker outlives page loads:
// one refresh at a time for all tabs (one worker per origin, and the same Web Lock the pages use
// when a page is not yet controlled by it), and a refresh under way is shared by every request
// that waits for it. The token stays in the worker's memory only (gone when the browser stops
// the worker; the next call refreshes).
const MARK = "X-Nexus-Session";
const LOCK = "nexus-refresh";
const EARLY_MS = 60_000;
let access = null; // {token, expires}
let refreshing = null; // Promise<string>

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function fresh(a) {
  return a !== null && a.expires - EARLY_MS > Date.now();
}

function adopt(pair) {
  if (pair && typeof pair.access_token === "string" && typeof pair.expires_in === "number") {
    access = { token: pair.access_token, expires: Date.now() + pair.expires_in * 1000 };
  }
}

// A failed refresh, kept as data: every waiting request answers its own copy.
class Refused {
  constructor(status, headers, body) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  response() {
    return new Response(this.body, { status: this.status, headers: this.headers });
  }
}

function locked(run) {
  return self.navigator.locks ? self.navigator.locks.request(LOCK, run) : run();
}

async function refresh() {
  return locked(async () => {
    const response = await fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin", cache: "no-store" });
    if (!response.ok) {
      access = null;
      throw new Refused(response.status, [...response.headers], await response.text());
    }
    adopt(await response.json());
    return access.token;
  });
}

// The access token; `stale` is one the API refused, so not to be handed out again.
function token(stale) {
  if (fresh(access) && access.token !== stale) return Promise.resolve(access.token);
  if (!refreshing) refreshing = refresh().finally(() => (refreshing = null));
  return refreshing;
}

// API Gateway's own 401/403 ({"message"}, not a problem): the token expired or was refused.
function gatewayRefused(response) {
  const type = response.headers.get("Content-Type") || "";
  return (response.status === 401 || response.status === 403) && !type.includes("problem");
}

async function authorized(request, event) {
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const body = hasBody ? await request.clone().arrayBuffer() : undefined;
  const send = (bearer) => {
    const headers = new Headers(request.headers);
    headers.delete(MARK);
    headers.set("Authorization", `Bearer ${bearer}`);
    return fetch(request.url, { method: request.method, headers, body, credentials: "same-origin", cache: "no-store" });
  };
  try {
    const pending = token(null);
    event.waitUntil(pending.catch(() => {})); // a refresh finishes even if the page goes away
    const first = await pending;
    const response = await send(first);
    if (!gatewayRefused(response)) return response;
    const again = token(first);
    event.waitUntil(again.catch(() => {}));
    return send(await again);
  } catch (err) {
    if (err instanceof Refused) return err.response();
    throw err;
  }
}

// Login and registration answer a new session: its access token replaces the one held. Logout
// (and a password reset, which ends every session) forgets it.
async function passAuth(request) {
  const path = new URL(request.url).pathname;
  const signsIn = path === "/api/auth/login" || path === "/api/auth/register";
  if (signsIn || path === "/api/auth/logout" || path === "/api/auth/logout-all" || path === "/api/auth/password/reset") {
    access = null;
  }
  const response = await fetch(request);
  if (signsIn && response.ok) {
    try {
      adopt(await response.clone().json());
    } catch {
      // not a pair after all: the next call refreshes
    }
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith("/api/")) return;
  if (event.request.headers.has(MARK)) event.respondWith(authorized(event.request, event));
  else if (url.pathname.startsWith("/api/auth/")) event.respondWith(passAuth(event.request));
});

// A page that signed in or out without this worker (before it controlled the page).
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "forget") access = null;
});
