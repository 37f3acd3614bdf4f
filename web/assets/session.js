// The signed-in session in the browser.
//
// - The access token lives in this module's memory only: never in localStorage,
//   sessionStorage, a cookie JavaScript can read, or a URL. A page load starts without one.
// - The refresh token is the HttpOnly cookie the API sets on Path=/api/auth (SameSite=Strict):
//   POST /api/auth/refresh with no body presents it and gets a new pair (the cookie rotates).
// - A refresh token is single-use, and presenting a spent one revokes the whole session. So
//   every tab refreshes under one Web Lock: the second tab waits and its request carries the
//   cookie the first one's answer set. The new access token is shared with the other tabs over a
//   BroadcastChannel (memory to memory), so a tab that waited usually needs no refresh at all.
// - Logout revokes the refresh token (POST /api/auth/logout clears the cookie), forgets the
//   access token here and tells the other tabs to forget theirs.
import { api, ApiError } from "./api.js";

const LOCK = "nexus-refresh";
const EARLY_MS = 60_000; // refresh a token that has less than a minute left
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("nexus-session") : null;
let access = null; // {token, expires: ms since epoch}

function fresh(a) {
  return a !== null && a.expires - EARLY_MS > Date.now();
}

function adopt(pair, share = true) {
  access = { token: pair.access_token, expires: Date.now() + pair.expires_in * 1000 };
  if (share && channel) channel.postMessage({ type: "token", token: access.token, expires: access.expires });
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

// A new access token from the refresh cookie (one tab at a time). `stale` is the token the
// caller found unusable: if another tab has shared a newer one meanwhile, that one is used.
function refresh(stale) {
  return locked(async () => {
    if (fresh(access) && access.token !== stale) return access.token;
    const pair = await api("/auth/refresh", { method: "POST" });
    adopt(pair);
    return access.token;
  });
}

// The access token, refreshed when missing or about to expire. Throws ApiError(401) when the
// person is not signed in (no cookie, or a revoked or expired session).
export async function token() {
  if (fresh(access)) return access.token;
  return refresh(access ? access.token : null);
}

// An authenticated API call; on API Gateway's 401/403 (a token that expired meanwhile) it
// refreshes once and tries again.
export async function call(path, options = {}) {
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

// On a page that needs a session: the token, or off to the login page (coming back here).
export async function requireSession() {
  try {
    return await token();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 422)) {
      location.replace(`/auth/login?next=${encodeURIComponent(location.pathname)}`);
      return new Promise(() => {}); // the page is going away
    }
    throw err;
  }
}

// A login or registration answered a pair: keep the access token for this page's life.
export function signedIn(pair) {
  adopt(pair);
}

export async function logout() {
  try {
    await locked(() => api("/auth/logout", { method: "POST" }));
  } finally {
    access = null;
    if (channel) channel.postMessage({ type: "logout" });
  }
}
