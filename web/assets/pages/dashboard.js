// /dashboard: revenue and paid orders of the last 30 days (GET /orders/summary), the newest
// products, and the connected accounts that need attention.
import { badge, call, pageError, ready, utcDay } from "../dash.js";
import { $, fill, h } from "../dom.js";
import { formatMoney } from "../money.js";

function stat(title, value, note) {
  return h("div", { class: "card" }, h("p", { class: "muted" }, title), h("p", { class: "stat" }, value), note ? h("p", { class: "hint" }, note) : null);
}

async function revenue() {
  // 30 days including today (UTC days, as the ledger counts them).
  const summary = await call(`/orders/summary?from=${utcDay(29)}&to=${utcDay(0)}`);
  const items = summary.items || [];
  const paid = items.reduce((n, item) => n + item.paid_orders, 0);
  const cards = items.length
    ? items.map((item) =>
        stat(`Revenue (${item.currency})`, formatMoney(item.gross, item.currency),
          `Net ${formatMoney(item.net, item.currency)} after fees ${formatMoney(item.fees, item.currency)} and refunds ${formatMoney(item.refunded, item.currency)}`))
    : [stat("Revenue", formatMoney(0, "USD"), "No payments yet in the last 30 days.")];
  fill($("#revenue"), cards, stat("Paid orders", new Intl.NumberFormat().format(paid)));
}

async function products() {
  const page = await call("/products?limit=5");
  fill($("#products"), page.items.length
    ? page.items.map((p) => h("li", {}, h("a", { href: `/dashboard/products/${encodeURIComponent(p.id)}` }, p.name), " · ", formatMoney(p.price, p.currency)))
    : h("li", { class: "muted" }, "No products yet."));
}

async function attention() {
  const list = await call("/integrations");
  const trouble = list.items.filter((i) => i.status === "needs_reauth" || (i.last_run && i.last_run.status === "failed"));
  fill($("#attention"), trouble.length
    ? trouble.map((i) => h("li", {}, h("a", { href: "/dashboard/integrations" }, i.name), " ", badge(i.status === "needs_reauth" ? i.status : i.last_run.status)))
    : h("li", { class: "muted" }, list.items.length ? "Every connected account is working." : "No accounts connected yet."));
}

ready.then(() => Promise.all([revenue(), products(), attention()])).catch(pageError);
