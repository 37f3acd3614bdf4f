// /dashboard/products/{id}: edit (PATCH only what changed), upload the file buyers download,
// delete.
//
// The upload goes straight from the browser to the files bucket: PUT /api/products/{id}/file
// names the file, its type and size and answers a presigned PUT (its signature covers
// Content-Type and Content-Length); the file is then sent there with fetch (the CSP's
// connect-src names the bucket's origin, nothing else). The product shows the file once the
// bucket has it.
import { call, formatBytes, pageError, ready } from "../dash.js";
import { $, fill, h } from "../dom.js";
import { currencyOptions } from "../currencies.js";
import { FieldError, onSubmit } from "../form.js";
import { formatMoney, toMajor } from "../money.js";
import { productBody } from "../product-form.js";

const productId = decodeURIComponent(location.pathname.split("/")[3] || "");
const path = `/products/${encodeURIComponent(productId)}`;
const details = $("#product");
let product = null;

function show(p) {
  product = p;
  document.title = `${p.name} · Nexus Sales`;
  $("#title").textContent = p.name;
  const link = `${location.origin}/checkout/${encodeURIComponent(p.id)}`;
  fill($("#public"), `${formatMoney(p.price, p.currency)} · checkout page: `, h("a", { href: link }, link));
  details.elements.name.value = p.name;
  details.elements.description.value = p.description || "";
  details.elements.price.value = toMajor(p.price, p.currency);
  currencyOptions(details.elements.currency, p.currency);
  $("#current-file").textContent = p.file
    ? `Current file: ${p.file.filename} (${formatBytes(p.file.size)})`
    : "No file yet: buyers get only a receipt.";
  for (const form of document.querySelectorAll("form")) form.hidden = false;
}

onSubmit(details, async (form) => {
  const changes = productBody(form, { partialFrom: product });
  if (!Object.keys(changes).length) {
    $("#saved").textContent = "Nothing changed.";
    return;
  }
  show(await call(path, { method: "PATCH", body: changes }));
  $("#saved").textContent = "Product saved.";
});

const BUCKET_OWN = new Set(["host", "content-length"]); // the browser sets these itself

async function send(file, target) {
  const headers = {};
  for (const [name, value] of Object.entries(target.headers || {})) if (!BUCKET_OWN.has(name.toLowerCase())) headers[name] = value;
  let response;
  try {
    response = await fetch(target.upload_url, { method: target.method || "PUT", headers, body: file, credentials: "omit" });
  } catch {
    throw new Error("The file could not be sent to storage. Check your connection and try again.");
  }
  if (!response.ok) throw new Error(`Storage refused the file (${response.status}). Try again.`);
}

onSubmit($("#upload"), async (form) => {
  const file = form.elements.file.files[0];
  if (!file) throw new FieldError("file", "Choose a file first.");
  const state = $("#upload-state");
  state.textContent = `Uploading ${file.name} (${formatBytes(file.size)})…`;
  try {
    const target = await call(`${path}/file`, {
      method: "PUT",
      body: { filename: file.name, content_type: file.type || "application/octet-stream", size: file.size },
    });
    await send(file, target);
  } finally {
    state.textContent = "";
  }
  show(await call(path));
  form.reset();
  $("#saved").textContent = product.file ? `File uploaded: ${product.file.filename}.` : "File sent; it shows here once storage has it.";
});

const ask = $("#delete-ask");
const confirmButton = $("#delete-confirm");
const cancel = $("#delete-cancel");
function asking(on) {
  ask.hidden = on;
  confirmButton.hidden = !on;
  cancel.hidden = !on;
  (on ? confirmButton : ask).focus();
}
ask.addEventListener("click", () => asking(true));
cancel.addEventListener("click", () => asking(false));
onSubmit($("#delete"), async () => {
  await call(path, { method: "DELETE" });
  location.assign("/dashboard/products");
});

ready
  .then(() => call(path))
  .then(show)
  .catch((err) => {
    pageError(err.status === 404 ? new Error("There is no such product (it may have been deleted).") : err);
  });
