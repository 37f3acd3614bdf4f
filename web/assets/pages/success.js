// /success?order={id}: where the payment page sends the buyer. The order is pending until the
// payment provider's webhook reaches the API, so this page asks again (GET
// /api/checkout/orders/{id}) until it is paid or settled otherwise, then shows "Payment
// received" and, when the product has a file, its Download link (a presigned URL: an ordinary
// navigation to the files bucket).
import { api } from "../api.js";
import { $, fill, h } from "../dom.js";
import { explain } from "../form.js";
import { formatMoney } from "../money.js";

const orderId = new URLSearchParams(location.search).get("order") || "";
const POLL_MS = 1500;
const PATIENCE_MS = 10 * 60_000;
const started = Date.now();

const outcomes = {
  failed: ["Payment failed", "The payment did not go through. Nothing was charged; you can try again from the product's page."],
  expired: ["Checkout expired", "The payment was not completed in time. Nothing was charged."],
  refunded: ["Order refunded", "This order was refunded."],
};

function show(order) {
  const state = $("#state");
  $("#summary").textContent = `${order.product.name} · ${formatMoney(order.amount, order.currency)}`;
  if (order.status === "paid") {
    $("#headline").textContent = "Payment received";
    state.classList.remove("pending");
    state.textContent = "Thank you! A receipt is on its way to your email.";
    const download = $("#download");
    if (order.download_url) {
      fill(download, h("a", { class: "button", href: order.download_url, id: "download-link" }, "Download"), " ",
        h("span", { class: "hint" }, "The link works for a few minutes; reload this page for a fresh one."));
      download.hidden = false;
    }
    return true;
  }
  if (outcomes[order.status]) {
    const [headline, text] = outcomes[order.status];
    $("#headline").textContent = headline;
    state.textContent = text;
    return true;
  }
  return false;
}

// A moment of trouble (the network, a 503, a rate limit) is waited out like a pending payment.
const passing = (err) => err.status === 0 || err.status === 429 || err.status >= 500;

async function poll() {
  if (!orderId) throw new Error("This page needs an order: follow the link from your receipt.");
  let order = null;
  let wait = POLL_MS;
  try {
    order = await api(`/checkout/orders/${encodeURIComponent(orderId)}`);
  } catch (err) {
    if (!passing(err) || Date.now() - started > PATIENCE_MS) throw err;
    if (err.retryAfter) wait = Math.max(wait, err.retryAfter * 1000);
  }
  if (order && show(order)) return;
  if (Date.now() - started > PATIENCE_MS) {
    $("#state").textContent = "The payment has not been confirmed yet. Reload this page later; your receipt email will also tell you.";
    return;
  }
  setTimeout(() => poll().catch(fail), wait);
}

function fail(err) {
  $("#state").textContent = "";
  $("#page-alert").textContent = err.status === 404 ? "There is no such order." : explain(err);
}

poll().catch(fail);
