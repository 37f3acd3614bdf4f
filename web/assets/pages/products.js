// /dashboard/products: the seller's products, newest first, a page at a time.
import { call, formatBytes, formatDateTime, pageError, ready } from "../dash.js";
import { $, fill, h } from "../dom.js";
import { formatMoney } from "../money.js";

const rows = $("#rows");
const more = $("#more");
let cursor = null;
let first = true;

function row(p) {
  const id = encodeURIComponent(p.id);
  return h("tr", {},
    h("td", {}, h("a", { href: `/dashboard/products/${id}` }, p.name)),
    h("td", { class: "num" }, formatMoney(p.price, p.currency)),
    h("td", {}, p.file ? `${p.file.filename} (${formatBytes(p.file.size)})` : h("span", { class: "muted" }, "none")),
    h("td", {}, formatDateTime(p.created_at)),
    h("td", {}, h("a", { href: `/checkout/${id}`, title: `${location.origin}/checkout/${p.id}` }, "Open checkout")));
}

async function load() {
  const page = await call(`/products?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
  if (first) fill(rows, page.items.length ? [] : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No products yet: create your first one.")));
  first = false;
  rows.append(...page.items.map(row));
  cursor = page.next_cursor;
  more.hidden = !cursor;
}

more.addEventListener("click", () => load().catch(pageError));
ready.then(load).catch(pageError);
