// /dashboard/orders: the orders of the seller's products, newest first, filtered by status;
// Refund on a paid one (POST /api/orders/{id}/refund: the payment provider refunds it, and the
// order shows refunded once its event arrives).
import { badge, call, formatDateTime, pageError, ready } from "../dash.js";
import { $, fill, h } from "../dom.js";
import { explain, onSubmit } from "../form.js";
import { formatMoney } from "../money.js";

const rows = $("#rows");
const more = $("#more");
const filter = $("#filter");
const names = new Map(); // product id -> name
let cursor = null;

async function productNames() {
  let next = null;
  do {
    const page = await call(`/products?limit=100${next ? `&cursor=${encodeURIComponent(next)}` : ""}`);
    for (const p of page.items) names.set(p.id, p.name);
    next = page.next_cursor;
  } while (next && names.size < 1000);
}

function refundButton(order, cell, statusCell) {
  const button = h("button", { type: "button", class: "secondary" }, "Refund");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const updated = await call(`/orders/${encodeURIComponent(order.id)}/refund`, { method: "POST" });
      // Refunded at once (the provider's event came first): the row's status says so, once.
      if (updated.status === "refunded") {
        fill(statusCell, badge("refunded"));
        fill(cell);
      } else {
        fill(cell, h("span", { class: "muted" }, "Refund requested"));
      }
      $("#notice").textContent = `Refund of ${formatMoney(order.amount, order.currency)} to ${order.email} requested.`;
    } catch (err) {
      button.disabled = false;
      $("#page-alert").textContent = explain(err);
    }
  });
  return button;
}

function row(order) {
  const actions = h("td", {});
  const status = h("td", {}, badge(order.status));
  if (order.status === "paid") actions.append(refundButton(order, actions, status));
  return h("tr", { dataset: { order: order.id } },
    h("td", {}, formatDateTime(order.created_at)),
    h("td", {}, names.get(order.product_id) || h("span", { class: "muted" }, "deleted product")),
    h("td", {}, order.name ? `${order.name} · ${order.email}` : order.email),
    h("td", { class: "num" }, formatMoney(order.amount, order.currency)),
    status,
    actions);
}

async function load(reset) {
  const status = filter.elements.status.value;
  const q = new URLSearchParams({ limit: "25" });
  if (status) q.set("status", status);
  if (!reset && cursor) q.set("cursor", cursor);
  const page = await call(`/orders?${q}`);
  if (reset) fill(rows, page.items.length ? [] : h("tr", {}, h("td", { colspan: 6, class: "muted" }, status ? `No ${status} orders.` : "No orders yet.")));
  rows.append(...page.items.map(row));
  cursor = page.next_cursor;
  more.hidden = !cursor;
}

onSubmit(filter, () => load(true));
filter.elements.status.addEventListener("change", () => filter.requestSubmit());
more.addEventListener("click", () => load(false).catch(pageError));
ready.then(productNames).then(() => load(true)).catch(pageError);
