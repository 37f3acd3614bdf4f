// /dashboard/integrations/callback?code&state: where Meta's dialog sends the person back. The
// code and state leave the address bar at once and are redeemed (POST
// /api/integrations/connect/callback); the accounts the person manages are offered, and
// Connect selected connects each (POST /api/integrations with the connection id: the tokens
// never reach the browser).
import { call, pageError, ready } from "../dash.js";
import { $, fill, h } from "../dom.js";
import { FieldError, onSubmit } from "../form.js";

const params = new URLSearchParams(location.search);
const code = params.get("code");
const state = params.get("state");
const denied = params.get("error");
history.replaceState(null, "", location.pathname);

const form = $("#accounts");
const status = $("#state");
let connection = null;

function stop(text) {
  status.classList.remove("pending");
  status.textContent = text;
  $("#again").hidden = false;
}

function choice(account, index) {
  const id = `account-${index}`;
  const kind = account.provider === "instagram" ? "Instagram" : "Facebook Page";
  const label = account.username ? `${account.name} (@${account.username})` : account.name;
  return h("div", { class: "field" },
    h("label", { class: "check", for: id },
      h("input", {
        type: "checkbox", id, name: "account", value: String(index),
        checked: !account.connected, disabled: account.connected,
      }),
      h("span", {}, `${label} · ${kind}`, account.connected ? h("span", { class: "muted" }, " · already connected") : "")));
}

async function redeem() {
  if (denied) return stop("Facebook did not connect: the request was cancelled or declined. Nothing was connected.");
  if (!code || !state) return stop("This page is where Facebook sends you back after you connect. Start from Integrations.");
  connection = await call("/integrations/connect/callback", { method: "POST", body: { code, state } });
  if (connection.missing_scopes.length) {
    const missing = $("#missing");
    missing.textContent = `Not granted: ${connection.missing_scopes.join(", ")}. Accounts that need these are not offered.`;
    missing.hidden = false;
  }
  if (!connection.accounts.length) return stop("This Facebook user manages no Page that can be connected.");
  fill($("#choices"), connection.accounts.map(choice));
  status.classList.remove("pending");
  status.textContent = "Choose the accounts whose posts you want to follow.";
  form.hidden = false;
  return null;
}

onSubmit(form, async () => {
  const chosen = [...form.querySelectorAll("input[name=account]:checked:not(:disabled)")].map((box) => connection.accounts[Number(box.value)]);
  if (!chosen.length) throw new FieldError("account", "Choose at least one account.");
  for (const account of chosen) {
    await call("/integrations", {
      method: "POST",
      body: { connection_id: connection.connection_id, provider: account.provider, external_id: account.external_id },
    });
  }
  location.assign("/dashboard/integrations?notice=connected");
});

ready.then(redeem).catch((err) => {
  stop("");
  pageError(err);
  $("#again").hidden = false;
});
