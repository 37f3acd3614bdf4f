// What every dashboard page shares: the session (off to the login page without one), the
// header (who is signed in, the current page marked, Log out), the unverified-email banner and
// formatting of dates and statuses.
import { $, h } from "./dom.js";
import { explain } from "./form.js";
import { call, logout, requireSession } from "./session.js";

export { call };

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// An ISO timestamp in the user's locale and time zone.
export function formatDateTime(iso) {
  return iso ? dateTimeFormat.format(new Date(iso)) : "";
}

// A calendar date (YYYY-MM-DD, a UTC day in the API) in the user's locale, as that same day.
export function formatDay(day) {
  if (!day) return "";
  const [y, m, d] = day.split("-").map(Number);
  return dateFormat.format(new Date(y, m - 1, d));
}

// YYYY-MM-DD of today (UTC, as the API counts days) minus `days`.
export function utcDay(days = 0) {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

// 1536 -> "1.5 KB" in the user's locale.
export function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB"];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u += 1;
  }
  return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: u ? 1 : 0 }).format(n)} ${units[u]}`;
}

const labels = {
  needs_reauth: "needs reconnecting",
};

export function badge(status) {
  return h("span", { class: `badge ${status}` }, labels[status] || String(status).replace(/_/g, " "));
}

// A page-level message in the page's role=alert element (#page-alert).
export function pageError(err) {
  const node = $("#page-alert");
  if (node) node.textContent = explain(err);
  else console.warn(explain(err));
}

function markCurrent() {
  const here = location.pathname.replace(/\/$/, "");
  for (const link of document.querySelectorAll(".site-header nav a")) {
    const path = link.getAttribute("href");
    const current = path === "/dashboard" ? here === path : here === path || here.startsWith(`${path}/`);
    if (current) link.setAttribute("aria-current", "page");
  }
}

function whoami(me) {
  const who = $("#who");
  if (who) who.textContent = me.name ? `${me.name} · ${me.email}` : me.email;
  const banner = $("#verify-banner");
  if (banner && !me.email_verified) {
    const send = h("button", { type: "button", class: "secondary" }, "Send the email again");
    const said = h("span", { role: "status" });
    send.addEventListener("click", async () => {
      send.disabled = true;
      try {
        await call("/auth/verify-email/resend", { method: "POST" });
        said.textContent = ` Sent to ${me.email}.`;
      } catch (err) {
        said.textContent = ` ${explain(err)}`;
        send.disabled = false;
      }
    });
    banner.replaceChildren(h("p", {}, `Please confirm ${me.email}: open the link in the email we sent. `, send, said));
    banner.hidden = false;
  }
  return me;
}

markCurrent();
$("#logout").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await logout();
  } catch (err) {
    // Still signed in (the refresh cookie is valid): say so rather than pretend.
    button.disabled = false;
    pageError(err);
    return;
  }
  location.assign("/auth/login?notice=logged-out");
});

// Resolves with the signed-in user once the session is there (never, on the way to log in).
export const ready = requireSession().then(whoami);
ready.catch(pageError);
