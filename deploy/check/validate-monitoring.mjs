#!/usr/bin/env node
// validate-monitoring.mjs [ROOT]: offline checks of Herald's monitoring files,
// beside promtool's (deploy/check.sh runs both):
//
//  1. deploy/grafana/herald.json is a dashboard Grafana can import: uid,
//     title, schemaVersion, a Prometheus datasource variable that every panel
//     and query uses, unique panel ids, panels inside the 24-column grid that
//     do not overlap, and a PromQL expression in every query.
//  2. Every metric the dashboard and the alert rules query is one Herald
//     defines (metrics_define, or a struct metrics_def table, in api/,
//     worker/, common/); the live test
//     (tests/integration/it_monitoring.c) checks the same names against real
//     /metrics pages.
//  3. Every alert of deploy/prometheus/alerts.yml has a dashboard panel
//     ("Alert NAME: ..." in its description) that queries the alert's metrics,
//     and every metric the README's "Alert on" line names has an alert.
//  4. deploy/prometheus/kubernetes.yml keeps Herald's pods by the labels and
//     annotations deploy/k8s gives them, and every such Deployment asks to be
//     scraped on one of its container ports; prometheus.yml scrapes the ports
//     scripts/up.sh gives the API and the workers.
//
// Prints one line per check and exits 1 if any failed.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { check, summary } from "./lib/report.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(process.argv[2] || path.join(HERE, "..", ".."));
const DASH = path.join(ROOT, "deploy", "grafana", "herald.json");
const PROM = path.join(ROOT, "deploy", "prometheus");
const readYaml = (f) => YAML.parse(fs.readFileSync(f, "utf8"), { version: "1.1", uniqueKeys: true });

// metricsOf: the Herald metric families a PromQL expression names.
function metricsOf(expr) {
    const names = new Set();
    for (const m of expr.matchAll(/\bherald_[a-z0-9_]+/g)) {
        names.add(m[0].replace(/_(bucket|sum|count)$/, ""));
    }
    return names;
}

const dash = JSON.parse(fs.readFileSync(DASH, "utf8"));
const panels = (dash.panels || []).filter((p) => p.type !== "row");
const dashMetrics = new Set();
for (const p of panels) for (const t of p.targets || []) for (const m of metricsOf(t.expr || "")) dashMetrics.add(m);

// ---- 1. the dashboard -----------------------------------------------------------

check("herald.json: uid, title, schemaVersion, tags", () => {
    const p = [];
    if (!/^[a-z0-9-]{1,40}$/.test(dash.uid || "")) p.push(`uid ${dash.uid}`);
    if (!dash.title) p.push("no title");
    if (!(dash.schemaVersion >= 30)) p.push(`schemaVersion ${dash.schemaVersion}`);
    if (!Array.isArray(dash.tags) || !dash.tags.includes("herald")) p.push("no herald tag");
    return p;
});

check("herald.json: a Prometheus datasource variable every panel and query uses", () => {
    const v = (dash.templating?.list || []).find((t) => t.type === "datasource" && t.query === "prometheus");
    if (!v) return "no datasource variable of type prometheus";
    const want = "${" + v.name + "}";
    const p = [];
    for (const pan of panels) {
        if (pan.datasource?.uid !== want) p.push(`panel ${pan.id} "${pan.title}" uses ${JSON.stringify(pan.datasource)}`);
        for (const t of pan.targets || []) {
            if (t.datasource && t.datasource.uid !== want) p.push(`panel ${pan.id} query ${t.refId}`);
        }
    }
    return p;
});

check("herald.json: unique panel ids; panels inside the grid without overlapping", () => {
    const p = [];
    const ids = new Set();
    const all = dash.panels || [];
    for (const a of all) {
        if (ids.has(a.id)) p.push(`panel id ${a.id} twice`);
        ids.add(a.id);
        const g = a.gridPos || {};
        if (!(g.w > 0 && g.h > 0 && g.x >= 0 && g.y >= 0 && g.x + g.w <= 24)) p.push(`panel ${a.id}: gridPos ${JSON.stringify(g)}`);
    }
    for (let i = 0; i < all.length; i++) {
        for (let k = i + 1; k < all.length; k++) {
            const a = all[i].gridPos, b = all[k].gridPos;
            if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) {
                p.push(`panels ${all[i].id} and ${all[k].id} overlap`);
            }
        }
    }
    return p;
});

check("herald.json: every panel has a title and queries with a refId and an expression", () => {
    const p = [];
    for (const pan of panels) {
        if (!pan.title) p.push(`panel ${pan.id} has no title`);
        if (!pan.targets?.length) p.push(`panel ${pan.id} has no query`);
        const refs = new Set();
        for (const t of pan.targets || []) {
            if (!t.refId || refs.has(t.refId)) p.push(`panel ${pan.id}: refId ${t.refId}`);
            refs.add(t.refId);
            if (!t.expr || metricsOf(t.expr).size === 0) p.push(`panel ${pan.id}: query ${t.refId} names no herald_ metric`);
            const open = (t.expr.match(/\(/g) || []).length, close = (t.expr.match(/\)/g) || []).length;
            if (open !== close) p.push(`panel ${pan.id}: query ${t.refId} has unbalanced parentheses`);
        }
    }
    return p;
});

// ---- 2. metric names against the source ----------------------------------------

function definedMetrics() {
    const names = new Set();
    for (const dir of ["api", "worker", "common"]) {
        for (const f of fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(".c"))) {
            const src = fs.readFileSync(path.join(ROOT, dir, f), "utf8");
            for (const m of src.matchAll(/metrics_define\(\s*\w+,\s*"(herald_[a-z0-9_]+)"/g)) names.add(m[1]);
            // a struct metrics_def table entry: {"herald_...", METRICS_...
            for (const m of src.matchAll(/\{\s*"(herald_[a-z0-9_]+)",\s*METRICS_[A-Z]+/g)) names.add(m[1]);
        }
    }
    return names;
}
const defined = definedMetrics();
const alerts = (readYaml(path.join(PROM, "alerts.yml")).groups || []).flatMap((g) => g.rules || []).filter((r) => r.alert);

check("every metric the dashboard queries is one Herald defines", () =>
    [...dashMetrics].filter((m) => !defined.has(m)).map((m) => `${m} is not defined by any metrics_define`));

check("every metric the alert rules query is one Herald defines", () =>
    alerts.flatMap((a) => [...metricsOf(a.expr)].filter((m) => !defined.has(m)).map((m) => `${a.alert}: ${m}`)));

// ---- 3. alerts, panels and the README ---------------------------------------

check("every alert has a dashboard panel querying its metrics", () => {
    const p = [];
    for (const a of alerts) {
        const pan = panels.find((x) => (x.description || "").startsWith(`Alert ${a.alert}:`));
        if (!pan) {
            p.push(`${a.alert}: no panel whose description starts "Alert ${a.alert}:"`);
            continue;
        }
        const used = new Set(pan.targets.flatMap((t) => [...metricsOf(t.expr)]));
        for (const m of metricsOf(a.expr)) if (!used.has(m)) p.push(`${a.alert}: panel ${pan.id} does not query ${m}`);
    }
    return p;
});

check("every metric the README says to alert on has an alert rule", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const at = readme.indexOf("**Alert on**");
    if (at < 0) return "README.md has no **Alert on** item";
    const para = readme.slice(at, readme.indexOf("\n\n", at) < 0 ? undefined : readme.indexOf("\n\n", at));
    const named = metricsOf(para);
    const alerted = new Set(alerts.flatMap((a) => [...metricsOf(a.expr)]));
    const p = [...named].filter((m) => !alerted.has(m)).map((m) => `${m} has no rule in alerts.yml`);
    if (named.size === 0) p.push("the README's **Alert on** item names no metric");
    return p;
});

// ---- 4. scrape configurations ---------------------------------------------

check("kubernetes.yml keeps Herald's annotated pods and scrapes their port and path", () => {
    const cfg = readYaml(path.join(PROM, "kubernetes.yml"));
    const job = (cfg.scrape_configs || []).find((j) => (j.kubernetes_sd_configs || []).some((s) => s.role === "pod"));
    if (!job) return "no scrape job with kubernetes_sd_configs role pod";
    const rl = job.relabel_configs || [];
    const has = (src, pred) => rl.some((r) => (r.source_labels || []).includes(src) && pred(r));
    const p = [];
    if (!has("__meta_kubernetes_pod_label_app_kubernetes_io_name", (r) => r.action === "keep" && r.regex === "herald")) p.push("no keep on app.kubernetes.io/name=herald");
    if (!has("__meta_kubernetes_pod_annotation_prometheus_io_scrape", (r) => r.action === "keep" && r.regex === "true")) p.push("no keep on prometheus.io/scrape=true");
    if (!has("__meta_kubernetes_pod_annotation_prometheus_io_port", (r) => r.target_label === "__address__")) p.push("the port annotation does not set __address__");
    if (!has("__meta_kubernetes_pod_annotation_prometheus_io_path", (r) => r.target_label === "__metrics_path__")) p.push("the path annotation does not set __metrics_path__");
    if (!(cfg.rule_files || []).includes("alerts.yml")) p.push("alerts.yml is not loaded");
    return p;
});

check("every Herald Deployment in deploy/k8s asks to be scraped on one of its ports", () => {
    const dir = path.join(ROOT, "deploy", "k8s");
    const p = [];
    let n = 0;
    for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
        for (const d of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8"))) {
            const o = d.toJS();
            if (o?.kind !== "Deployment") continue;
            const t = o.spec?.template;
            if (t?.metadata?.labels?.["app.kubernetes.io/name"] !== "herald") continue;
            n++;
            const ann = t.metadata.annotations || {};
            const ports = (t.spec?.containers || []).flatMap((c) => (c.ports || []).map((x) => String(x.containerPort)));
            if (ann["prometheus.io/scrape"] !== "true") p.push(`${f}: prometheus.io/scrape is not "true"`);
            if (!ports.includes(String(ann["prometheus.io/port"]))) p.push(`${f}: prometheus.io/port ${ann["prometheus.io/port"]} is none of ${ports}`);
            if (ann["prometheus.io/path"] !== "/metrics") p.push(`${f}: prometheus.io/path is not /metrics`);
        }
    }
    if (n < 5) p.push(`only ${n} Herald Deployments found (the API and four workers expected)`);
    return p;
});

check("prometheus.yml scrapes the API and worker ports of scripts/up.sh", () => {
    const up = fs.readFileSync(path.join(ROOT, "scripts", "up.sh"), "utf8");
    const api = /API_PORT=\$\{HERALD_API_PORT:-(\d+)\}/.exec(up)?.[1];
    const first = /METRICS_PORT=\$\{HERALD_WORKER_METRICS_PORT:-(\d+)\}/.exec(up)?.[1];
    const chans = /CHANNELS=\(([^)]*)\)/.exec(up)?.[1].trim().split(/\s+/);
    if (!api || !first || !chans) return "scripts/up.sh no longer says API_PORT, METRICS_PORT and CHANNELS";
    const want = new Map([[`127.0.0.1:${api}`, "api"]]);
    chans.forEach((c, i) => want.set(`127.0.0.1:${Number(first) + i}`, `worker-${c}`));
    const cfg = readYaml(path.join(PROM, "prometheus.yml"));
    const got = new Map();
    for (const j of cfg.scrape_configs || []) {
        for (const s of j.static_configs || []) for (const t of s.targets || []) got.set(t, s.labels?.component);
    }
    const p = [];
    for (const [t, c] of want) if (got.get(t) !== c) p.push(`${t} (${c}) is scraped as ${got.get(t)}`);
    if (!(cfg.rule_files || []).includes("alerts.yml")) p.push("alerts.yml is not loaded");
    return p;
});

process.exit(summary("validate-monitoring.mjs"));
