// /checkout/{product_id} (public): the product from GET /api/store/products/{id}; Buy Now ->
// POST /api/checkout -> the payment page (checkout_url) by an ordinary navigation.
import { api } from "../api.js";
import { $ } from "../dom.js";
import { explain, onSubmit, values } from "../form.js";
import { formatMoney } from "../money.js";

const productId = decodeURIComponent(location.pathname.split("/")[2] || "");
const form = $("#buy");
// One Idempotency-Key per request body: a double click or a retry after a lost answer gets the
// same order back; a changed email is a new checkout (the API refuses a key reused otherwise).
let attempt = { body: "", key: "" };

async function load() {
  const product = await api(`/store/products/${encodeURIComponent(productId)}`);
  document.title = `${product.name} · Nexus Sales`;
  $("#product-name").textContent = product.name;
  $("#product-price").textContent = formatMoney(product.price, product.currency);
  $("#product-description").textContent = product.description || "";
  $("#product").removeAttribute("aria-busy");
  form.hidden = false;
}

load().catch((err) => {
  $("#product").hidden = true;
  $("#page-alert").textContent = err.status === 404 ? "This product is not for sale (any more)." : explain(err);
});

onSubmit(form, async () => {
  const { email = "", name } = values(form);
  const body = { product_id: productId, email };
  if (name) body.name = name;
  const text = JSON.stringify(body);
  if (attempt.body !== text) attempt = { body: text, key: crypto.randomUUID() };
  const order = await api("/checkout", { method: "POST", body, headers: { "Idempotency-Key": attempt.key } });
  location.assign(order.checkout_url);
  await new Promise(() => {}); // keep the button disabled while the browser leaves
});
