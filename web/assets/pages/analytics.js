// /dashboard/analytics: daily views and engagements (GET /api/analytics/summary) as a chart
// (uPlot, vendored, loaded as a classic script before this module) and a table, filtered by
// date range and account; the top posts with their text; a product's sales funnel (GET
// /api/analytics/funnel); Export CSV (POST /api/analytics/exports, then GET
// /api/analytics/exports/{id} until it is ready, and its presigned link as a download).
import { query } from "../api.js";
import { call, formatDay, pageError, ready, utcDay } from "../dash.js";
import { $, fill, h } from "../dom.js";
import { explain, onSubmit, values } from "../form.js";

const filters = $("#filters");
const number = new Intl.NumberFormat();
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const EXPORT_POLL_MS = 1000;
const EXPORT_PATIENCE = 300; // polls
let chart = null;

const engagements = (b) => b.reactions + b.comments + b.shares + b.saves;

// A UTC day (YYYY-MM-DD) as the local midnight of that calendar day, in seconds: the chart's
// axis then shows the same date the API means.
function localSeconds(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d).getTime() / 1000;
}

function range() {
  const v = values(filters);
  return { from: v.from, to: v.to, integration_id: v.integration_id };
}

function draw(buckets) {
  const node = $("#chart");
  const data = [buckets.map((b) => localSeconds(b.start)), buckets.map((b) => b.views), buckets.map(engagements)];
  node.setAttribute("aria-label", `Chart of views and engagements, ${buckets.length} periods: ${number.format(data[1].reduce((a, b) => a + b, 0))} views, ${number.format(data[2].reduce((a, b) => a + b, 0))} engagements in all`);
  if (typeof globalThis.uPlot !== "function") {
    node.textContent = "The chart could not be drawn; the table below has the same numbers.";
    return;
  }
  const width = Math.max(280, node.clientWidth || 640);
  if (chart) {
    chart.setData(data);
    return;
  }
  node.replaceChildren();
  chart = new globalThis.uPlot(
    {
      width,
      height: 300,
      scales: { x: { time: true }, e: { auto: true } },
      series: [
        { label: "Day", value: (u, ts) => (ts === null ? "" : new Date(ts * 1000).toLocaleDateString()) },
        { label: "Views", stroke: "#3b4cca", fill: "rgba(59, 76, 202, .08)", width: 2, value: (u, v) => (v === null ? "" : number.format(v)) },
        { label: "Engagements", stroke: "#17803d", width: 2, scale: "e", value: (u, v) => (v === null ? "" : number.format(v)) },
      ],
      axes: [
        {},
        { label: "Views", size: 70, values: (u, ticks) => ticks.map((t) => number.format(t)) },
        { label: "Engagements", side: 1, size: 70, scale: "e", grid: { show: false }, values: (u, ticks) => ticks.map((t) => number.format(t)) },
      ],
    },
    data,
    node,
  );
  new ResizeObserver(() => chart.setSize({ width: Math.max(280, node.clientWidth), height: 300 })).observe(node);
}

function bucketRow(b) {
  const period = b.start === b.end ? formatDay(b.start) : `${formatDay(b.start)} – ${formatDay(b.end)}`;
  return h("tr", {}, h("th", { scope: "row" }, period),
    ...[b.views, engagements(b), b.reactions, b.comments, b.shares, b.saves, b.clicks].map((n) => h("td", { class: "num" }, number.format(n))));
}

function postRow(c) {
  const text = c.message ? c.message : h("span", { class: "muted" }, `(no text) ${c.media_type || ""}`);
  const m = c.metrics || {};
  const cell = (n) => h("td", { class: "num" }, n === null || n === undefined ? "–" : number.format(n));
  return h("tr", {},
    h("td", {}, h("p", { class: "post-text" }, text),
      c.permalink_url ? h("a", { href: c.permalink_url, rel: "noopener noreferrer", target: "_blank" }, `View on ${c.provider === "instagram" ? "Instagram" : "Facebook"}`) : null),
    h("td", {}, c.created_at ? new Date(c.created_at).toLocaleDateString() : ""),
    cell(c.views_increase), cell(m.reactions), cell(m.comments), cell(m.shares));
}

async function summary() {
  const result = await call(`/analytics/summary${query({ ...range(), granularity: filters.elements.granularity.value })}`);
  draw(result.buckets);
  fill($("#buckets"), result.buckets.map(bucketRow));
  fill($("#top"), result.top_content.length
    ? result.top_content.map(postRow)
    : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No posts with metrics in this range yet: connect an account and sync it.")));
}

async function accounts() {
  const list = await call("/integrations");
  const select = filters.elements.integration_id;
  for (const i of list.items) select.append(h("option", { value: i.id }, `${i.name} (${i.provider === "instagram" ? "Instagram" : "Facebook"})`));
}

async function products() {
  const page = await call("/products?limit=100");
  const select = $("#product");
  fill(select, page.items.length ? page.items.map((p) => h("option", { value: p.id }, p.name)) : h("option", { value: "" }, "No products yet"));
  if (page.items.length) await funnel();
}

async function funnel() {
  const productId = $("#product").value;
  if (!productId) return;
  const { from, to } = range();
  const result = await call(`/analytics/funnel${query({ product_id: productId, from, to })}`);
  const totals = result.items.reduce((t, d) => ({ views: t.views + d.views, checkouts: t.checkouts + d.checkouts, paid: t.paid + d.paid }), { views: 0, checkouts: 0, paid: 0 });
  const counted = (n, one, many) => `${number.format(n)} ${n === 1 ? one : many}`;
  $("#conversion").textContent = `${counted(totals.views, "page view", "page views")} → ${counted(totals.checkouts, "checkout", "checkouts")} (${percent.format(result.conversion.checkout_rate)}) → ${counted(totals.paid, "paid order", "paid orders")} (${percent.format(result.conversion.paid_rate)})`;
  const days = result.items.filter((d) => d.views || d.checkouts || d.paid);
  fill($("#funnel-rows"), days.length
    ? days.map((d) => h("tr", {}, h("th", { scope: "row" }, formatDay(d.date)), ...[d.views, d.checkouts, d.paid].map((n) => h("td", { class: "num" }, number.format(n)))))
    : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No views or orders in this range.")));
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

onSubmit($("#export"), async () => {
  const state = $("#export-state");
  const link = $("#export-link");
  link.replaceChildren();
  const { from, to, integration_id: integrationId } = range();
  const body = { from, to };
  if (integrationId) body.integration_id = integrationId;
  const created = await call("/analytics/exports", { method: "POST", body });
  state.textContent = "Preparing the CSV…";
  try {
    for (let i = 0; i < EXPORT_PATIENCE; i += 1) {
      const job = await call(`/analytics/exports/${encodeURIComponent(created.id)}`);
      if (job.status === "ready" && job.url) {
        state.textContent = `Ready: ${number.format(job.row_count || 0)} rows.`;
        fill(link, h("a", { class: "button secondary", href: job.url, download: `metrics-${from}-${to}.csv`, id: "export-download" }, "Download CSV"));
        return;
      }
      if (job.status !== "pending") throw new Error(job.status === "failed" ? "The export failed. Try again." : "The export expired. Export again.");
      await wait(EXPORT_POLL_MS);
    }
    throw new Error("The export is taking long. Try again in a few minutes.");
  } catch (err) {
    state.textContent = "";
    throw err;
  }
});

onSubmit(filters, async () => {
  await Promise.all([summary(), funnel()]);
});
onSubmit($("#funnel"), funnel);
$("#product").addEventListener("change", () => funnel().catch((err) => ($("#funnel [role=alert]").textContent = explain(err))));

filters.elements.from.value = utcDay(27);
filters.elements.to.value = utcDay(0);
ready
  .then(() => Promise.all([accounts(), summary(), products()]))
  .catch(pageError);
