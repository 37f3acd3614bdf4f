// The signed-in session in the browser.
//
// - The access token lives in memory only: never in localStorage, sessionStorage, a cookie
//   JavaScript can read, or a URL.
// - The refresh token is the HttpOnly cookie the API sets on Path=/api/auth (SameSite=Strict):
//   POST /api/auth/refresh with no body presents it and gets a new pair (the cookie rotates).
// - A refresh token is single-use, and presenting a spent one ends the whole session, so
//   refreshes never overlap: normally the service worker (/sw.js) holds the access token for
//   every tab and page and refreshes for them, one at a time, and a refresh it started
//   finishes even when the page that needed it is gone (a page's own refresh would die with it
//   and leave the next page the spent cookie). Pages mark their calls (X-Nexus-Session) and the
//   worker adds the bearer header.
// - Until the worker controls the page (the very first visit) or where there is none, the page
//   keeps the token itself and refreshes under the same Web Lock (navigator.locks), sharing a
//   new token with the other tabs over a BroadcastChannel (memory to memory).
// - Logout revokes the refresh token (POST /api/auth/logout clears the cookie) and every tab
//   forgets the access token.
import { api, ApiError } from "./api.js";

const MARK = "X-Nexus-Session";
const LOCK = "nexus-refresh";
const EARLY_MS = 60_000; // refresh a token that has less than a minute left
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("nexus-session") : null;
const workers = "serviceWorker" in navigator ? navigator.serviceWorker : null;
let access = null; // {token, expires: ms since epoch}, when the page keeps it itself

if (workers) {
  workers.register("/sw.js", { scope: "/" }).catch((err) => console.warn("session worker not registered:", err.message));
}

function controlled() {
  return Boolean(workers && workers.controller);
}

function fresh(a) {
  return a !== null && a.expires - EARLY_MS > Date.now();
}

function adopt(pair) {
  access = { token: pair.access_token, expires: Date.now() + pair.expires_in * 1000 };
  if (channel) channel.postMessage({ type: "token", token: access.token, expires: access.expires });
}

if (channel) {
  channel.addEventListener("message", (event) => {
    const data = event.data || {};
    if (data.type === "token" && typeof data.token === "string" && (!access || data.expires > access.expires)) {
      access = { token: data.token, expires: data.expires };
    } else if (data.type === "logout") {
      access = null;
      if (location.pathname.startsWith("/dashboard")) location.assign("/auth/login");
    }
  });
}

function locked(run) {
  return navigator.locks ? navigator.locks.request(LOCK, run) : run();
}

// The page's own refresh (no worker). `stale` is the token the caller found unusable: if
// another tab has shared a newer one meanwhile, that one is used.
function refresh(stale) {
  return locked(async () => {
    if (fresh(access) && access.token !== stale) return access.token;
    const pair = await api("/auth/refresh", { method: "POST", keepalive: true });
    adopt(pair);
    return access.token;
  });
}

async function token() {
  if (fresh(access)) return access.token;
  return refresh(access ? access.token : null);
}

// An authenticated API call. Throws ApiError(401) when the person is not signed in (no cookie,
// or a revoked or expired session). Without the worker, API Gateway's 401/403 (a token that
// expired meanwhile) makes it refresh once and try again; the worker does the same itself.
export async function call(path, options = {}) {
  if (controlled()) return api(path, { ...options, headers: { ...(options.headers || {}), [MARK]: "1" } });
  const first = await token();
  try {
    return await api(path, { ...options, token: first });
  } catch (err) {
    if (!(err instanceof ApiError) || !err.gateway || (err.status !== 401 && err.status !== 403)) throw err;
    const second = await refresh(first);
    return api(path, { ...options, token: second });
  }
}

// Where the login page sends the person afterwards: a dashboard page of this site only.
export function nextPath(search = location.search) {
  const next = new URLSearchParams(search).get("next") || "";
  return /^\/dashboard(\/[\w/-]*)?$/.test(next) ? next : "/dashboard";
}

// On a page that needs a session: the signed-in user (GET /auth/me), or off to the login page
// (coming back here afterwards).
export async function requireSession() {
  try {
    return await call("/auth/me");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      location.replace(`/auth/login?next=${encodeURIComponent(location.pathname)}`);
      return new Promise(() => {}); // the page is going away
    }
    throw err;
  }
}

// A login or registration answered a pair. Through the worker, it has taken the token itself;
// otherwise this page keeps it, and a worker that did not see the answer forgets any old one.
export function signedIn(pair) {
  if (controlled()) return;
  adopt(pair);
  if (workers) workers.ready.then((r) => r.active && r.active.postMessage({ type: "forget" }));
}

// Revokes the session (the refresh cookie with it), then forgets the access token here, in the
// other tabs and in the worker (which does not see this request when it does not control the
// page, e.g. after a hard reload). A failure throws and forgets nothing: the session is alive.
export async function logout() {
  await locked(() => api("/auth/logout", { method: "POST" }));
  access = null;
  if (channel) channel.postMessage({ type: "logout" });
  if (workers) {
    // ready never settles when the worker could not register: wait a moment at most.
    const told = workers.ready.then((r) => r.active && r.active.postMessage({ type: "forget" }));
    await Promise.race([told, new Promise((done) => setTimeout(done, 500))]);
  }
}
