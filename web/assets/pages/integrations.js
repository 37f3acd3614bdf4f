// /dashboard/integrations: Connect Facebook (Meta's dialog), the connected accounts with their
// status and last sync, Reconnect on one that needs it, Sync now.
import { badge, call, formatDateTime, formatDay, pageError, ready } from "../dash.js";
import { startConnect } from "../connect.js";
import { $, fill, h } from "../dom.js";
import { explain, onSubmit } from "../form.js";

const rows = $("#rows");
const providers = { facebook: "Facebook Page", instagram: "Instagram" };

function lastRun(run) {
  if (!run) return h("span", { class: "muted" }, "not yet");
  const when = run.finished_at ? formatDateTime(run.finished_at) : formatDay(run.date);
  const posts = `${run.content_total - run.content_failed} of ${run.content_total} posts`;
  return h("span", {}, badge(run.status), " ", when, h("br"), h("span", { class: "hint" }, posts, run.error_code ? ` · error ${run.error_code}` : ""));
}

function action(label, handler, cls = "secondary") {
  const button = h("button", { type: "button", class: cls }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    $("#page-alert").textContent = "";
    try {
      await handler();
    } catch (err) {
      $("#page-alert").textContent = explain(err);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function row(i) {
  const actions = h("div", { class: "actions" });
  if (i.status === "needs_reauth") actions.append(action("Reconnect", startConnect, ""));
  if (i.status !== "disabled") {
    actions.append(action("Sync now", async () => {
      await call(`/integrations/${encodeURIComponent(i.id)}/sync`, { method: "POST" });
      $("#notice").textContent = `Sync of ${i.name} queued: its metrics are fetched in a moment.`;
    }));
  }
  return h("tr", { dataset: { integration: i.id } },
    h("td", {}, h("strong", {}, i.name), h("br"), h("span", { class: "hint" }, `${providers[i.provider] || i.provider} · ${i.external_id}`)),
    h("td", {}, badge(i.status)),
    h("td", {}, lastRun(i.last_run)),
    h("td", {}, actions));
}

async function load() {
  const list = await call("/integrations");
  fill(rows, list.items.length ? list.items.map(row) : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No accounts connected yet.")));
}

const notices = { connected: "Connected. Their metrics are fetched every day; Sync now fetches them at once." };
const notice = new URLSearchParams(location.search).get("notice");
if (notices[notice]) $("#notice").textContent = notices[notice];

onSubmit($("#connect"), startConnect);
ready.then(load).catch(pageError);
