#!/usr/bin/env node
// validate-k8s.mjs [DIR]: offline checks of Herald's Kubernetes manifests
// (default: deploy/k8s beside this folder).
//
//  1. Every YAML document parses (YAML 1.1, as the API server reads it; no
//     duplicate keys) and is validated against the schema of its kind with
//     kubernetes-models / @kubernetes-models/keda (`new Deployment(doc).validate()`),
//     plus a check for fields the schema does not declare (typos).
//  2. Facts that no schema can see, across files: kustomization.yaml lists every
//     manifest; no object names a namespace; every referenced ConfigMap, Secret,
//     key and TriggerAuthentication exists; selectors match pod labels; pods run
//     as non-root with a read-only root file system and resources; the API's
//     probes are /readyz and /healthz on its port; every channel has a worker
//     Deployment (`--channel C`, /healthz on HERALD_METRICS_LISTEN, a grace
//     period above HERALD_SHUTDOWN_GRACE_MS), a PodDisruptionBudget, and a KEDA
//     ScaledObject targeting it that scales on the channel's lag over all its
//     lanes (herald_stream_lag{channel="C"}, through Prometheus: KEDA's
//     redis-streams scaler reads one stream, and a channel has one per lane).
//
// Prints one line per check and exits 1 if any failed.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { check, summary } from "./lib/report.mjs";
import { ShapeChecker } from "./lib/dts-shape.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NM = path.join(HERE, "node_modules");
const DIR = path.resolve(process.argv[2] || path.join(HERE, "..", "k8s"));
const REL = (f) => path.relative(process.cwd(), f) || f;

// The channels of API.md ("herald-worker --channel email|sms|push|webhook").
const CHANNELS = ["email", "sms", "push", "webhook"];
// The lag the workers export, summed over a channel's lanes (worker/wmetrics.c).
const LAG_METRIC = "herald_stream_lag";
const SCHEMA_DIR = "/usr/share/herald/schema";
const DEFAULT_SHUTDOWN_GRACE_MS = 25000;

// ---- loading ---------------------------------------------------------------

function modelSpec(apiVersion, kind) {
    if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
    if (apiVersion.startsWith("keda.sh/")) return `@kubernetes-models/keda/${apiVersion}/${kind}`;
    if (apiVersion.includes(".") && !apiVersion.includes(".k8s.io/")) return null;
    return `kubernetes-models/${apiVersion}/${kind}`;
}

const files = fs.existsSync(DIR)
    ? fs.readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort()
    : [];
const objects = []; // { file, index, doc }
let kustomization = null;

check(`${REL(DIR)} holds manifests`, () => (files.length ? null : `no YAML files in ${DIR}`));

for (const f of files) {
    const full = path.join(DIR, f);
    check(`${REL(full)} parses`, () => {
        const docs = YAML.parseAllDocuments(fs.readFileSync(full, "utf8"), {
            version: "1.1",
            uniqueKeys: true,
            prettyErrors: true,
        });
        const problems = [];
        docs.forEach((d, i) => {
            for (const e of d.errors) problems.push(`document ${i + 1}: ${e.message}`);
            for (const w of d.warnings) problems.push(`document ${i + 1}: ${w.message}`);
        });
        if (problems.length) return problems;
        docs.forEach((d, i) => {
            const doc = d.toJS({ maxAliasCount: 100 });
            if (doc === null || doc === undefined) return;
            if (f === "kustomization.yaml" || f === "kustomization.yml") kustomization = doc;
            else objects.push({ file: f, index: i + 1, doc });
        });
        return null;
    });
}

const shapes = new ShapeChecker(NM);

for (const o of objects) {
    const { doc } = o;
    const label = `${o.file}: ${doc?.kind ?? "?"} ${doc?.metadata?.name ?? "(unnamed)"}`;
    o.label = label;
    const spec = modelSpec(doc?.apiVersion, doc?.kind);
    let Model = null;
    if (spec) {
        try {
            Model = (await import(spec))[doc.kind];
        } catch {
            Model = null;
        }
    }
    check(`${label}: schema (${doc?.apiVersion}/${doc?.kind})`, () => {
        if (!Model) return `no schema for apiVersion ${doc?.apiVersion} kind ${doc?.kind}`;
        const problems = [];
        try {
            new Model(doc).validate();
        } catch (e) {
            problems.push(...String(e.message).split(/,\s*(?=data\/)/).map((s) => s.trim()));
        }
        const root = shapes.rootType(path.join(NM, spec + ".d.ts"), `I${doc.kind}`);
        for (const u of shapes.unknownFields(doc, root)) problems.push(`unknown field ${u}`);
        if (!doc.metadata?.name) problems.push("metadata.name is missing");
        if (doc.metadata?.namespace !== undefined) {
            problems.push(`metadata.namespace is set (${doc.metadata.namespace}): manifests are namespace-agnostic`);
        }
        return problems;
    });
}

// ---- helpers ---------------------------------------------------------------

const byKind = (kind) => objects.filter((o) => o.doc?.kind === kind).map((o) => o.doc);
const find = (kind, name) => byKind(kind).find((d) => d.metadata?.name === name);

function secretData(s) {
    const out = { ...(s.stringData || {}) };
    for (const [k, v] of Object.entries(s.data || {})) out[k] = Buffer.from(String(v), "base64").toString();
    return out;
}

// podTemplates: [{ owner, spec (PodSpec), labels }]
function podTemplates() {
    const out = [];
    for (const kind of ["Deployment", "StatefulSet", "DaemonSet", "Job"]) {
        for (const d of byKind(kind)) {
            out.push({
                owner: `${kind} ${d.metadata?.name}`,
                kind,
                doc: d,
                spec: d.spec?.template?.spec || {},
                labels: d.spec?.template?.metadata?.labels || {},
            });
        }
    }
    return out;
}

// effectiveEnv: a container's environment as the process would see it (values
// from valueFrom are "<from ...>"), and the problems found resolving it.
function effectiveEnv(c) {
    const env = {};
    const problems = [];
    for (const src of c.envFrom || []) {
        if (src.configMapRef) {
            const cm = find("ConfigMap", src.configMapRef.name);
            if (!cm) {
                if (!src.configMapRef.optional) problems.push(`envFrom: no ConfigMap ${src.configMapRef.name}`);
                continue;
            }
            Object.assign(env, cm.data || {});
        }
        if (src.secretRef) {
            const s = find("Secret", src.secretRef.name);
            if (!s) {
                if (!src.secretRef.optional) problems.push(`envFrom: no Secret ${src.secretRef.name}`);
                continue;
            }
            Object.assign(env, secretData(s));
        }
    }
    for (const e of c.env || []) {
        if (e.value !== undefined) {
            env[e.name] = String(e.value);
        } else if (e.valueFrom?.configMapKeyRef) {
            const r = e.valueFrom.configMapKeyRef;
            const cm = find("ConfigMap", r.name);
            if (!cm || !(r.key in (cm.data || {}))) {
                if (!r.optional) problems.push(`env ${e.name}: no key ${r.key} in ConfigMap ${r.name}`);
            } else {
                env[e.name] = cm.data[r.key];
            }
        } else if (e.valueFrom?.secretKeyRef) {
            const r = e.valueFrom.secretKeyRef;
            const s = find("Secret", r.name);
            if (!s || !(r.key in secretData(s))) {
                if (!r.optional) problems.push(`env ${e.name}: no key ${r.key} in Secret ${r.name}`);
            } else {
                env[e.name] = secretData(s)[r.key];
            }
        } else {
            env[e.name] = "<from the pod>";
        }
    }
    return { env, problems };
}

function portOf(listen) {
    const m = /:(\d+)$/.exec(listen || "");
    return m ? Number(m[1]) : null;
}

// containerPort: the number a probe's or Service's port (name or number) means.
function containerPort(c, port) {
    if (typeof port === "number") return port;
    const p = (c.ports || []).find((x) => x.name === port);
    return p ? p.containerPort : null;
}

function selects(selector, labels) {
    const ml = selector?.matchLabels || {};
    if (!Object.keys(ml).length && !(selector?.matchExpressions || []).length) return false;
    for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false;
    for (const e of selector?.matchExpressions || []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
        if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
        if (e.operator === "Exists" && !has) return false;
        if (e.operator === "DoesNotExist" && has) return false;
    }
    return true;
}

function graceMs(env) {
    const v = env.HERALD_SHUTDOWN_GRACE_MS;
    return v === undefined ? DEFAULT_SHUTDOWN_GRACE_MS : Number(v);
}

function preStopSeconds(c) {
    const cmd = c.lifecycle?.preStop?.exec?.command || [];
    if (cmd[0] === "sleep" && /^\d+$/.test(cmd[1] || "")) return Number(cmd[1]);
    const s = c.lifecycle?.preStop?.sleep?.seconds;
    return typeof s === "number" ? s : 0;
}

// ---- kustomization ---------------------------------------------------------

check("kustomization.yaml lists every manifest, and only those", () => {
    if (!kustomization) return "deploy/k8s/kustomization.yaml is missing";
    const listed = kustomization.resources || [];
    const present = files.filter((f) => !/^kustomization\.ya?ml$/.test(f));
    const problems = [];
    for (const f of present) if (!listed.includes(f)) problems.push(`${f} is not in resources`);
    for (const f of listed) if (!present.includes(f)) problems.push(`resources names ${f}, which does not exist`);
    if (kustomization.namespace) problems.push("kustomization sets a namespace: pass -n at apply time instead");
    return problems;
});

check("every container uses the image kustomization.yaml sets", () => {
    const names = (kustomization?.images || []).map((i) => i.name);
    const problems = [];
    if (!names.length) problems.push("kustomization.yaml has no images entry");
    for (const t of podTemplates()) {
        for (const c of [...(t.spec.containers || []), ...(t.spec.initContainers || [])]) {
            if (!names.includes(c.image)) problems.push(`${t.owner} container ${c.name}: image ${c.image} is not one of ${names.join(", ")}`);
        }
    }
    return problems;
});

// ---- references ------------------------------------------------------------

check("every ConfigMap, Secret and key that pods reference exists", () => {
    const problems = [];
    for (const t of podTemplates()) {
        for (const c of t.spec.containers || []) {
            for (const p of effectiveEnv(c).problems) problems.push(`${t.owner} container ${c.name}: ${p}`);
        }
        for (const v of t.spec.volumes || []) {
            if (v.secret && !v.secret.optional) {
                const s = find("Secret", v.secret.secretName);
                if (!s) problems.push(`${t.owner} volume ${v.name}: no Secret ${v.secret.secretName}`);
                for (const it of v.secret.items || []) {
                    if (s && !(it.key in secretData(s))) problems.push(`${t.owner} volume ${v.name}: no key ${it.key}`);
                }
            }
            if (v.configMap && !v.configMap.optional && !find("ConfigMap", v.configMap.name)) {
                problems.push(`${t.owner} volume ${v.name}: no ConfigMap ${v.configMap.name}`);
            }
        }
        for (const c of t.spec.containers || []) {
            for (const m of c.volumeMounts || []) {
                if (!(t.spec.volumes || []).some((v) => v.name === m.name)) {
                    problems.push(`${t.owner} container ${c.name}: mount of undeclared volume ${m.name}`);
                }
            }
        }
    }
    for (const ta of byKind("TriggerAuthentication")) {
        for (const r of ta.spec?.secretTargetRef || []) {
            const s = find("Secret", r.name);
            if (!s || !(r.key in secretData(s))) {
                problems.push(`TriggerAuthentication ${ta.metadata.name}: no key ${r.key} in Secret ${r.name}`);
            }
        }
    }
    return problems;
});

check("every Secret value is a CHANGE-ME placeholder (no credentials committed)", () => {
    const problems = [];
    for (const s of byKind("Secret")) {
        for (const [k, v] of Object.entries(secretData(s))) {
            if (!String(v).includes("CHANGE-ME")) problems.push(`Secret ${s.metadata.name} key ${k} holds a value that is not a CHANGE-ME placeholder`);
        }
    }
    return problems;
});

// ---- pods ------------------------------------------------------------------

for (const t of podTemplates()) {
    if (t.kind !== "Job") check(`${t.owner}: selector matches its pod labels`, () => {
        return selects(t.doc.spec?.selector, t.labels) ? null : `selector ${JSON.stringify(t.doc.spec?.selector)} does not match ${JSON.stringify(t.labels)}`;
    });
    check(`${t.owner}: non-root, read-only root file system, no privilege escalation, resources`, () => {
        const problems = [];
        const psc = t.spec.securityContext || {};
        if (psc.runAsNonRoot !== true) problems.push("pod securityContext.runAsNonRoot is not true");
        if (!(Number.isInteger(psc.runAsUser) && psc.runAsUser > 0)) problems.push("pod securityContext.runAsUser is not a non-zero uid");
        if (t.spec.automountServiceAccountToken !== false) problems.push("automountServiceAccountToken is not false (Herald never calls the Kubernetes API)");
        for (const c of t.spec.containers || []) {
            const sc = c.securityContext || {};
            const p = `container ${c.name}`;
            if (sc.readOnlyRootFilesystem !== true) problems.push(`${p}: readOnlyRootFilesystem is not true`);
            if (sc.allowPrivilegeEscalation !== false) problems.push(`${p}: allowPrivilegeEscalation is not false`);
            if (sc.privileged) problems.push(`${p}: privileged`);
            if (sc.runAsUser === 0) problems.push(`${p}: runs as uid 0`);
            if (!(sc.capabilities?.drop || []).includes("ALL")) problems.push(`${p}: capabilities.drop lacks ALL`);
            const r = c.resources || {};
            for (const k of ["cpu", "memory"]) if (!r.requests?.[k]) problems.push(`${p}: no resources.requests.${k}`);
            if (!r.limits?.memory) problems.push(`${p}: no resources.limits.memory`);
        }
        return problems;
    });
}

// ---- the API ---------------------------------------------------------------

const api = find("Deployment", "herald-api");
check("Deployment herald-api: runs herald-api; readiness /readyz and liveness /healthz on HERALD_LISTEN's port", () => {
    if (!api) return "no Deployment herald-api";
    const c = (api.spec.template.spec.containers || [])[0];
    if (!c) return "no container";
    const problems = [];
    const { env } = effectiveEnv(c);
    if ((c.command || [])[0] !== "herald-api") problems.push(`command is ${JSON.stringify(c.command)}, not ["herald-api"]`);
    const port = portOf(env.HERALD_LISTEN);
    if (!port) problems.push(`HERALD_LISTEN (${env.HERALD_LISTEN}) has no port`);
    if (!/^0\.0\.0\.0:|^\[::\]:/.test(env.HERALD_LISTEN || "")) problems.push(`HERALD_LISTEN (${env.HERALD_LISTEN}) does not listen on every interface`);
    if (!(c.ports || []).some((p) => p.containerPort === port)) problems.push(`no containerPort ${port}`);
    const rp = c.readinessProbe?.httpGet;
    const lp = c.livenessProbe?.httpGet;
    if (rp?.path !== "/readyz") problems.push(`readinessProbe path is ${rp?.path}, not /readyz`);
    if (lp?.path !== "/healthz") problems.push(`livenessProbe path is ${lp?.path}, not /healthz`);
    if (rp && containerPort(c, rp.port) !== port) problems.push(`readinessProbe port ${rp.port} is not ${port}`);
    if (lp && containerPort(c, lp.port) !== port) problems.push(`livenessProbe port ${lp.port} is not ${port}`);
    const tgps = api.spec.template.spec.terminationGracePeriodSeconds ?? 30;
    const need = graceMs(env) + preStopSeconds(c) * 1000;
    if (!(tgps * 1000 > need)) problems.push(`terminationGracePeriodSeconds ${tgps} is not above preStop + HERALD_SHUTDOWN_GRACE_MS (${need} ms)`);
    return problems;
});

check("Service herald-api selects the API pods and targets the API's port", () => {
    const svc = find("Service", "herald-api");
    if (!svc) return "no Service herald-api";
    if (!api) return "no Deployment herald-api";
    const problems = [];
    if (!selects({ matchLabels: svc.spec.selector }, api.spec.template.metadata.labels)) problems.push("selector does not match the API pods");
    const c = api.spec.template.spec.containers[0];
    const port = portOf(effectiveEnv(c).env.HERALD_LISTEN);
    for (const p of svc.spec.ports || []) {
        if (containerPort(c, p.targetPort ?? p.port) !== port) problems.push(`port ${p.name || p.port}: targetPort ${p.targetPort} is not the API's port ${port}`);
    }
    for (const w of byKind("Deployment").filter((d) => d !== api)) {
        if (selects({ matchLabels: svc.spec.selector }, w.spec.template.metadata?.labels || {})) problems.push(`selector also matches ${w.metadata.name}`);
    }
    return problems;
});

function pdbFor(d) {
    return byKind("PodDisruptionBudget").filter((p) => selects(p.spec?.selector, d.spec.template.metadata?.labels || {}));
}

check("PodDisruptionBudget for the API", () => {
    if (!api) return "no Deployment herald-api";
    const p = pdbFor(api);
    if (p.length !== 1) return `${p.length} PodDisruptionBudgets select the API pods, expected 1`;
    return null;
});

check("Job herald-migrate runs heraldctl migrate --schema-dir " + SCHEMA_DIR, () => {
    const j = find("Job", "herald-migrate");
    if (!j) return "no Job herald-migrate";
    const c = j.spec.template.spec.containers[0];
    const argv = [...(c.command || []), ...(c.args || [])];
    const want = ["heraldctl", "migrate", "--schema-dir", SCHEMA_DIR];
    if (JSON.stringify(argv) !== JSON.stringify(want)) return `runs ${JSON.stringify(argv)}, expected ${JSON.stringify(want)}`;
    if (!["Never", "OnFailure"].includes(j.spec.template.spec.restartPolicy)) return "restartPolicy must be Never or OnFailure";
    return null;
});

// ---- workers, one per channel ------------------------------------------------

function workerChannel(d) {
    const c = (d.spec?.template?.spec?.containers || [])[0];
    if (!c) return null;
    const argv = [...(c.command || []), ...(c.args || [])];
    if (argv[0] !== "herald-worker") return null;
    const i = argv.indexOf("--channel");
    return i >= 0 ? argv[i + 1] ?? "" : "";
}

check("every herald-worker Deployment is for a known channel, one per channel", () => {
    const problems = [];
    const seen = {};
    for (const d of byKind("Deployment")) {
        const ch = workerChannel(d);
        if (ch === null) continue;
        if (!CHANNELS.includes(ch)) problems.push(`Deployment ${d.metadata.name}: channel '${ch}' is not one of ${CHANNELS.join(", ")}`);
        (seen[ch] = seen[ch] || []).push(d.metadata.name);
    }
    for (const [ch, names] of Object.entries(seen)) if (names.length > 1) problems.push(`channel ${ch} has ${names.length} Deployments: ${names.join(", ")}`);
    return problems;
});

for (const ch of CHANNELS) {
    const name = `herald-worker-${ch}`;
    const d = find("Deployment", name);
    check(`${ch}: Deployment ${name} runs herald-worker --channel ${ch}, /healthz on HERALD_METRICS_LISTEN, grace above HERALD_SHUTDOWN_GRACE_MS`, () => {
        if (!d) return `no Deployment ${name}`;
        const problems = [];
        if (workerChannel(d) !== ch) problems.push(`its container runs channel '${workerChannel(d)}'`);
        const c = d.spec.template.spec.containers[0];
        const { env } = effectiveEnv(c);
        const port = portOf(env.HERALD_METRICS_LISTEN);
        if (env.HERALD_METRICS_LISTEN !== "0.0.0.0:9090") problems.push(`HERALD_METRICS_LISTEN is ${env.HERALD_METRICS_LISTEN}, expected 0.0.0.0:9090`);
        const lp = c.livenessProbe?.httpGet;
        if (lp?.path !== "/healthz") problems.push(`livenessProbe path is ${lp?.path}, not /healthz`);
        if (lp && containerPort(c, lp.port) !== port) problems.push(`livenessProbe port ${lp.port} is not HERALD_METRICS_LISTEN's ${port}`);
        if (c.readinessProbe?.httpGet?.path === "/readyz") problems.push("readinessProbe on /readyz: workers serve only /metrics and /healthz");
        const tgps = d.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        const need = graceMs(env) + preStopSeconds(c) * 1000;
        if (!(tgps * 1000 > need)) problems.push(`terminationGracePeriodSeconds ${tgps} is not above HERALD_SHUTDOWN_GRACE_MS (${need} ms)`);
        if (d.spec.replicas !== undefined) problems.push("spec.replicas is set: KEDA's HPA owns the replica count, and each apply would reset it");
        return problems;
    });
    check(`${ch}: PodDisruptionBudget for ${name}`, () => {
        if (!d) return `no Deployment ${name}`;
        const p = pdbFor(d);
        if (p.length !== 1) return `${p.length} PodDisruptionBudgets select its pods, expected 1`;
        if (p[0].spec.minAvailable !== undefined && !(typeof p[0].spec.minAvailable === "string")) {
            if (p[0].spec.minAvailable >= 1) return "minAvailable >= 1 with one replica would block every node drain; use maxUnavailable";
        }
        return null;
    });
    check(`${ch}: ScaledObject targets ${name} and scales on ${LAG_METRIC} of ${ch} (all its lanes)`, () => {
        const sos = byKind("ScaledObject").filter((s) => s.spec?.scaleTargetRef?.name === name);
        if (sos.length !== 1) return `${sos.length} ScaledObjects target ${name}, expected 1`;
        const so = sos[0];
        const problems = [];
        const ref = so.spec.scaleTargetRef;
        if ((ref.kind ?? "Deployment") !== "Deployment" || (ref.apiVersion ?? "apps/v1") !== "apps/v1") problems.push("scaleTargetRef is not an apps/v1 Deployment");
        const min = so.spec.minReplicaCount ?? 0;
        const max = so.spec.maxReplicaCount ?? 100;
        if (so.spec.minReplicaCount === undefined || so.spec.maxReplicaCount === undefined) problems.push("minReplicaCount and maxReplicaCount must both be set");
        if (!(min >= 1)) problems.push(`minReplicaCount ${min}: keep one worker (it reclaims entries of dead consumers, which lag does not count)`);
        if (!(max >= min)) problems.push(`maxReplicaCount ${max} is below minReplicaCount ${min}`);
        const triggers = so.spec.triggers || [];
        if (triggers.length !== 1 || triggers[0].type !== "prometheus") problems.push("expected exactly one prometheus trigger (a channel's lag is over all its lanes)");
        const m = triggers[0]?.metadata || {};
        if (!/^https?:\/\/\S+$/.test(m.serverAddress || "")) problems.push(`serverAddress is ${m.serverAddress}, expected an http(s) URL`);
        const q = m.query || "";
        if (!q.includes(LAG_METRIC) || !q.includes(`channel="${ch}"`)) problems.push(`query ${q} does not read ${LAG_METRIC}{channel="${ch}"}`);
        if (q.includes(LAG_METRIC) && !/^\s*max\s*\(/.test(q)) problems.push(`query ${q}: every worker reports the channel's total; take the max, not a sum`);
        if (!/^[1-9]\d*$/.test(m.threshold || "")) problems.push(`threshold is ${m.threshold}, expected a positive integer (entries per replica)`);
        if (m.activationThreshold !== undefined && !/^\d+$/.test(m.activationThreshold)) problems.push(`activationThreshold ${m.activationThreshold} is not an integer`);
        const auth = triggers[0]?.authenticationRef;
        if (auth && (auth.kind ?? "TriggerAuthentication") === "TriggerAuthentication" && !find("TriggerAuthentication", auth.name)) {
            problems.push(`authenticationRef names TriggerAuthentication ${auth.name}, which does not exist`);
        }
        return problems;
    });
}

check("every ScaledObject targets an existing worker Deployment", () => {
    const problems = [];
    for (const so of byKind("ScaledObject")) {
        const t = find("Deployment", so.spec?.scaleTargetRef?.name);
        if (!t) problems.push(`ScaledObject ${so.metadata?.name}: no Deployment ${so.spec?.scaleTargetRef?.name}`);
        else if (!workerChannel(t)) problems.push(`ScaledObject ${so.metadata?.name} targets ${t.metadata.name}, which is not a worker`);
    }
    return problems;
});

process.exit(summary("validate-k8s"));
