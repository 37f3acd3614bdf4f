// Calls to the API on this origin (/api, which the web server and CloudFront pass to the HTTP
// API with the prefix removed). Errors come back as RFC 9457 problems (a function's answer) or
// as API Gateway's own {"message"} (401/403/404 before any function runs): both become an
// ApiError with what a person should read.

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const problem = body && typeof body === "object" ? body : {};
    super(problem.detail || problem.title || problem.message || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    // API Gateway's answers carry only "message": a missing, expired or rejected token.
    this.gateway = typeof problem.message === "string" && !problem.type;
    this.retryAfter = retryAfter; // seconds, or null
  }
}

// Retry-After is delta-seconds or an HTTP date (RFC 9110 §10.2.3).
function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.round((at - Date.now()) / 1000));
}

// One request: JSON in, JSON out. `token` is the access token, sent as a bearer header only
// (never in a URL). Answers 204 as null.
export async function api(path, { method = "GET", body, token, headers = {}, signal, keepalive } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, signal, keepalive };
  init.credentials = "same-origin";
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`/api${path}`, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { detail: "The server cannot be reached. Check your connection and try again." }, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: `The server answered ${response.status} with something that is not JSON.` };
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, data, retryAfterSeconds(response.headers.get("Retry-After")));
  }
  return data;
}

// A query string from the values that are set (empty ones left out).
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
