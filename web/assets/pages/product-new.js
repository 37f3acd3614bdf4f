// /dashboard/products/new: POST /api/products, then "Product created" with the public
// checkout link.
import { call, ready } from "../dash.js";
import { $, fill, h } from "../dom.js";
import { currencyOptions } from "../currencies.js";
import { onSubmit } from "../form.js";
import { productBody } from "../product-form.js";

currencyOptions($("#currency"));

onSubmit($("#product"), async (form) => {
  await ready;
  const product = await call("/products", { method: "POST", body: productBody(form) });
  const link = `${location.origin}/checkout/${encodeURIComponent(product.id)}`;
  fill(
    $("#created"),
    h("p", {}, h("strong", {}, "Product created"), `: ${product.name}.`),
    h("p", {}, "Its public checkout page: ", h("a", { href: link, id: "checkout-link" }, link)),
    h("p", {}, h("a", { href: `/dashboard/products/${encodeURIComponent(product.id)}` }, "Edit it or upload its file")),
  );
  form.reset();
  currencyOptions($("#currency"), product.currency);
});
