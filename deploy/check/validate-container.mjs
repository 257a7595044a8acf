#!/usr/bin/env node
// validate-container.mjs [ROOT]: offline checks of Herald's Dockerfile,
// .dockerignore and docker-compose.yml (ROOT: the repository, default two
// folders up). Syntax is checked elsewhere (dockerfilelint, yamllint,
// docker-compose config); this checks what the files must say: the two
// stages and their packages, the non-root user, the health check, the
// published ports (loopback only), the migrate/api ordering, one worker
// service per channel, and the mail catcher the email worker uses.
//
// Prints one line per check and exits 1 if any failed.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { check, summary } from "./lib/report.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(process.argv[2] || path.join(HERE, "..", ".."));

const CHANNELS = ["email", "sms", "push", "webhook"];
const SCHEMA_DIR = "/usr/share/herald/schema";
const BINARIES = ["herald-api", "herald-worker", "heraldctl"];
const BUILD_PACKAGES = [
    "build-essential", "cmake", "pkg-config", "libevent-dev", "libpq-dev", "libhiredis-dev",
    "libjson-c-dev", "libcurl4-openssl-dev", "libssl-dev",
];
const RUNTIME_PACKAGES = [
    "libevent-2.1-7", "libevent-openssl-2.1-7", "libpq5", "libhiredis0.14", "libjson-c5",
    "libcurl4", "libssl3", "ca-certificates", "curl",
];
const DEFAULT_SHUTDOWN_GRACE_MS = 25000;

// ---- Dockerfile ----------------------------------------------------------------

// parseDockerfile: [{ stage, instr, args, line }], continuation lines joined,
// comments dropped.
function parseDockerfile(text) {
    const out = [];
    let buf = "";
    let start = 0;
    let stage = -1;
    text.split("\n").forEach((raw, i) => {
        const line = raw.replace(/\r$/, "");
        if (/^\s*#/.test(line)) return;
        if (!buf) start = i + 1;
        if (/\\\s*$/.test(line)) {
            buf += line.replace(/\\\s*$/, " ");
            return;
        }
        buf += line;
        const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(buf);
        buf = "";
        if (!m) return;
        const instr = m[1].toUpperCase();
        if (instr === "FROM") stage++;
        out.push({ stage, instr, args: m[2].replace(/\s+/g, " ").trim(), line: start });
    });
    return out;
}

const dockerfilePath = path.join(ROOT, "Dockerfile");
const dockerfile = fs.existsSync(dockerfilePath) ? parseDockerfile(fs.readFileSync(dockerfilePath, "utf8")) : null;
const stages = [];
for (const ins of dockerfile || []) (stages[ins.stage] = stages[ins.stage] || []).push(ins);
const buildStage = stages[0] || [];
const runtime = stages[stages.length - 1] || [];
const runs = (st) => st.filter((i) => i.instr === "RUN").map((i) => i.args).join(" ; ");
const aptInstalled = (st) => {
    const pkgs = [];
    for (const r of st.filter((i) => i.instr === "RUN")) {
        for (const m of r.args.matchAll(/apt-get install ([^;&|]*)/g)) {
            for (const w of m[1].split(" ")) if (w && !w.startsWith("-")) pkgs.push(w);
        }
    }
    return pkgs;
};

check("Dockerfile exists", () => (dockerfile ? null : `no ${dockerfilePath}`));

check("Dockerfile: build stage FROM debian:12, runtime stage FROM debian:12-slim", () => {
    const froms = (dockerfile || []).filter((i) => i.instr === "FROM").map((i) => i.args);
    const problems = [];
    if (froms.length !== 2) problems.push(`${froms.length} stages, expected 2`);
    if (!/^debian:12 AS \S+$/i.test(froms[0] || "")) problems.push(`first FROM is '${froms[0]}', expected 'debian:12 AS <name>'`);
    if (!/^debian:12-slim( AS \S+)?$/i.test(froms[froms.length - 1] || "")) problems.push(`last FROM is '${froms[froms.length - 1]}', expected debian:12-slim`);
    return problems;
});

check("Dockerfile: build stage installs the -dev packages and builds Release without tests", () => {
    const problems = [];
    const pkgs = aptInstalled(buildStage);
    for (const p of BUILD_PACKAGES) if (!pkgs.includes(p)) problems.push(`build stage does not install ${p}`);
    const r = runs(buildStage);
    for (const flag of ["-DCMAKE_BUILD_TYPE=Release", "-DHERALD_TESTS=OFF"]) if (!r.includes(flag)) problems.push(`cmake is not given ${flag}`);
    if (!/--no-install-recommends/.test(r)) problems.push("apt-get install without --no-install-recommends");
    return problems;
});

check("Dockerfile: runtime stage installs the runtime libraries and no build tools", () => {
    const problems = [];
    const pkgs = aptInstalled(runtime);
    for (const p of RUNTIME_PACKAGES) if (!pkgs.includes(p)) problems.push(`runtime stage does not install ${p}`);
    for (const p of pkgs) if (/-dev$/.test(p) || ["build-essential", "cmake", "gcc", "make", "pkg-config"].includes(p)) problems.push(`runtime stage installs ${p}`);
    const r = runs(runtime);
    if (!/--no-install-recommends/.test(r)) problems.push("apt-get install without --no-install-recommends");
    if (!/rm -rf \/var\/lib\/apt\/lists/.test(r)) problems.push("apt lists are not removed");
    return problems;
});

check(`Dockerfile: the image holds ${BINARIES.join(", ")} and schema/ at ${SCHEMA_DIR}`, () => {
    const problems = [];
    const copies = runtime.filter((i) => i.instr === "COPY").map((i) => i.args);
    if (!copies.some((c) => /--from=\S+/.test(c))) problems.push("the runtime stage copies nothing from the build stage");
    const text = runs(buildStage) + " " + copies.join(" ");
    for (const b of BINARIES) if (!new RegExp(`\\b${b}\\b`).test(text)) problems.push(`${b} is not installed`);
    if (!text.includes(SCHEMA_DIR)) problems.push(`nothing goes to ${SCHEMA_DIR}`);
    if (!buildStage.some((i) => i.instr === "COPY" && /^schema\/? /.test(i.args)) && !copies.some((c) => /^schema\/? /.test(c))) {
        problems.push("schema/ is not copied");
    }
    return problems;
});

check("Dockerfile: runs as a non-root numeric user", () => {
    const users = runtime.filter((i) => i.instr === "USER").map((i) => i.args);
    const u = users[users.length - 1];
    if (!u) return "no USER in the runtime stage";
    const m = /^(\d+)(?::(\d+))?$/.exec(u);
    if (!m) return `USER ${u} is not numeric (Kubernetes' runAsNonRoot can only verify a numeric uid)`;
    if (Number(m[1]) === 0) return "USER is root";
    return null;
});

check('Dockerfile: HEALTHCHECK curls /healthz, EXPOSE 8080, HERALD_LISTEN=0.0.0.0:8080, CMD ["herald-api"]', () => {
    const problems = [];
    const hc = runtime.filter((i) => i.instr === "HEALTHCHECK").map((i) => i.args);
    if (hc.length !== 1) problems.push(`${hc.length} HEALTHCHECK instructions, expected 1`);
    else if (!/\bCMD\b.*\bcurl\b.*\/healthz/.test(hc[0])) problems.push(`HEALTHCHECK does not curl /healthz: ${hc[0]}`);
    else if (!/-f/.test(hc[0])) problems.push("HEALTHCHECK's curl lacks -f (an HTTP error would count as healthy)");
    if (!runtime.some((i) => i.instr === "EXPOSE" && i.args.split(" ").some((p) => /^8080(\/tcp)?$/.test(p)))) problems.push("no EXPOSE 8080");
    if (!runtime.some((i) => i.instr === "ENV" && /(^|\s)HERALD_LISTEN=("?)0\.0\.0\.0:8080\2(\s|$)/.test(i.args))) problems.push("no ENV HERALD_LISTEN=0.0.0.0:8080");
    const cmds = runtime.filter((i) => i.instr === "CMD");
    let cmd = null;
    try {
        cmd = JSON.parse(cmds[cmds.length - 1]?.args ?? "null");
    } catch {
        problems.push("CMD is not in exec (JSON) form");
    }
    if (JSON.stringify(cmd) !== JSON.stringify(["herald-api"])) problems.push(`CMD is ${JSON.stringify(cmd)}, expected ["herald-api"]`);
    if (runtime.some((i) => i.instr === "ENTRYPOINT")) problems.push("ENTRYPOINT is set: compose and Kubernetes pass the program as the command");
    return problems;
});

// ---- .dockerignore ----------------------------------------------------------------

function dockerignore(file) {
    const rules = fs.readFileSync(file, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const toRe = (p) => new RegExp("^" + p.replace(/\/+$/, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*/g, "\0").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]").replace(/\0/g, ".*") + "(/.*)?$");
    const parsed = rules.map((r) => (r.startsWith("!") ? { neg: true, re: toRe(r.slice(1)) } : { neg: false, re: toRe(r) }));
    return (p) => {
        let ignored = false;
        for (const r of parsed) if (r.re.test(p)) ignored = !r.neg;
        return ignored;
    };
}

check(".dockerignore keeps what the build copies and leaves out build trees, .git and local state", () => {
    const f = path.join(ROOT, ".dockerignore");
    if (!fs.existsSync(f)) return "no .dockerignore";
    const ignored = dockerignore(f);
    const problems = [];
    for (const i of buildStage.filter((x) => x.instr === "COPY" && !/--from=/.test(x.args))) {
        const parts = i.args.split(" ").filter((w) => !w.startsWith("--"));
        for (const src of parts.slice(0, -1)) {
            const p = src.replace(/^\.\//, "").replace(/\/+$/, "");
            if (p === ".") continue;
            if (ignored(p)) problems.push(`COPY ${src} (line ${i.line}) is excluded by .dockerignore`);
        }
    }
    for (const p of [".git", "build", "build-test", ".stack", "deploy/check/node_modules", "tests"]) {
        if (!ignored(p)) problems.push(`${p} is sent to the build context`);
    }
    return problems;
});

// ---- docker-compose.yml -----------------------------------------------------------

const composePath = path.join(ROOT, "docker-compose.yml");
let compose = null;
check("docker-compose.yml parses (merge keys resolved)", () => {
    if (!fs.existsSync(composePath)) return `no ${composePath}`;
    const doc = YAML.parseDocument(fs.readFileSync(composePath, "utf8"), { merge: true, uniqueKeys: true });
    if (doc.errors.length) return doc.errors.map((e) => e.message);
    compose = doc.toJS({ maxAliasCount: 1000 });
    if (!compose?.services) return "no services";
    return null;
});
const services = compose?.services || {};

const argvOf = (v) => (Array.isArray(v) ? v.map(String) : typeof v === "string" ? v.trim().split(/\s+/) : []);
function envOf(s) {
    const e = s.environment;
    if (!e) return {};
    if (Array.isArray(e)) {
        const out = {};
        for (const kv of e) {
            const i = String(kv).indexOf("=");
            if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
        }
        return out;
    }
    return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v === null ? "" : String(v)]));
}
function dependsOn(s, name) {
    const d = s.depends_on;
    if (!d) return null;
    if (Array.isArray(d)) return d.includes(name) ? "service_started" : null;
    return d[name] ? d[name].condition || "service_started" : null;
}
function durationMs(v) {
    if (v === undefined) return 10000; // compose's default stop_grace_period
    let ms = 0;
    const re = /(\d+(?:\.\d+)?)(ms|us|h|m|s)/g;
    let m;
    let seen = "";
    while ((m = re.exec(String(v)))) {
        ms += Number(m[1]) * { h: 3600000, m: 60000, s: 1000, ms: 1, us: 0.001 }[m[2]];
        seen += m[0];
    }
    return seen === String(v) ? ms : NaN;
}
const healthcheckUrl = (s) => argvOf(s.healthcheck?.test).join(" ");
const portOf = (listen) => {
    const m = /:(\d+)$/.exec(listen || "");
    return m ? Number(m[1]) : null;
};

check("compose: every published port is bound to 127.0.0.1", () => {
    const problems = [];
    for (const [name, s] of Object.entries(services)) {
        if (s.network_mode === "host") problems.push(`${name}: network_mode host`);
        for (const p of s.ports || []) {
            if (typeof p === "object") {
                if (p.host_ip !== "127.0.0.1") problems.push(`${name}: port ${JSON.stringify(p)} has host_ip ${p.host_ip}`);
            } else if (!/^127\.0\.0\.1:\d+(-\d+)?:\d+(-\d+)?(\/(tcp|udp))?$/.test(String(p))) {
                problems.push(`${name}: port "${p}" is not 127.0.0.1:HOST:CONTAINER`);
            }
        }
    }
    return problems;
});

check("compose: postgres:15 and redis:7 (append-only file on), both with health checks", () => {
    const problems = [];
    const pg = Object.entries(services).find(([, s]) => /^postgres:15(\.|$|-)/.test(s.image || ""));
    const rd = Object.entries(services).find(([, s]) => /^redis:7(\.|$|-)/.test(s.image || ""));
    if (!pg) problems.push("no service with image postgres:15");
    else if (!pg[1].healthcheck?.test) problems.push(`${pg[0]} has no healthcheck`);
    if (!rd) problems.push("no service with image redis:7");
    else {
        const argv = argvOf(rd[1].command).join(" ");
        if (!/--appendonly yes/.test(argv)) problems.push(`${rd[0]} does not run with --appendonly yes`);
        if (!rd[1].healthcheck?.test) problems.push(`${rd[0]} has no healthcheck`);
    }
    for (const [name, s] of [pg, rd].filter(Boolean)) {
        if (!(s.volumes || []).length) problems.push(`${name} keeps its data in the container only (no volume)`);
    }
    return problems;
});

const pgName = Object.keys(services).find((n) => /^postgres:15/.test(services[n].image || ""));
const heraldServices = Object.entries(services).filter(([, s]) => BINARIES.includes(argvOf(s.command)[0]));

check(`compose: migrate runs heraldctl migrate --schema-dir ${SCHEMA_DIR} once, after PostgreSQL is healthy`, () => {
    const m = services.migrate;
    if (!m) return "no service migrate";
    const problems = [];
    const want = ["heraldctl", "migrate", "--schema-dir", SCHEMA_DIR];
    if (JSON.stringify(argvOf(m.command)) !== JSON.stringify(want)) problems.push(`command is ${JSON.stringify(argvOf(m.command))}`);
    if (dependsOn(m, pgName) !== "service_healthy") problems.push(`does not wait for ${pgName} to be healthy`);
    if (!["no", undefined, "on-failure"].includes(m.restart) && !String(m.restart).startsWith("on-failure")) problems.push(`restart: ${m.restart} would run it again and again`);
    if (m.deploy?.replicas > 1) problems.push("more than one replica");
    return problems;
});

check("compose: api runs herald-api after migrate completed successfully, on 0.0.0.0:8080, with a /healthz check", () => {
    const a = services.api;
    if (!a) return "no service api";
    const problems = [];
    if (argvOf(a.command)[0] !== "herald-api") problems.push(`command is ${JSON.stringify(argvOf(a.command))}`);
    if (dependsOn(a, "migrate") !== "service_completed_successfully") problems.push("does not wait for migrate to complete successfully");
    const listen = envOf(a).HERALD_LISTEN;
    if (listen !== undefined && listen !== "0.0.0.0:8080") problems.push(`HERALD_LISTEN is ${listen}`);
    if (!/\/healthz/.test(healthcheckUrl(a))) problems.push("no healthcheck on /healthz");
    if (!(a.ports || []).some((p) => String(p).endsWith(":8080") || p.target === 8080)) problems.push("port 8080 is not published");
    return problems;
});

for (const ch of CHANNELS) {
    check(`compose: one worker service for ${ch} (herald-worker --channel ${ch}, deploy.replicas, /healthz check, grace above HERALD_SHUTDOWN_GRACE_MS)`, () => {
        const ws = heraldServices.filter(([, s]) => {
            const argv = argvOf(s.command);
            return argv[0] === "herald-worker" && argv[argv.indexOf("--channel") + 1] === ch;
        });
        if (ws.length !== 1) return `${ws.length} services run herald-worker --channel ${ch}, expected 1`;
        const [name, s] = ws[0];
        const problems = [];
        if (!(Number.isInteger(s.deploy?.replicas) && s.deploy.replicas >= 1)) problems.push(`${name}: deploy.replicas is ${s.deploy?.replicas}`);
        if (s.container_name) problems.push(`${name}: container_name prevents replicas`);
        if ((s.ports || []).length) problems.push(`${name}: publishes ports, which replicas would fight over`);
        if (dependsOn(s, "migrate") !== "service_completed_successfully") problems.push(`${name}: does not wait for migrate to complete successfully`);
        const env = envOf(s);
        const port = portOf(env.HERALD_METRICS_LISTEN);
        if (!port) problems.push(`${name}: HERALD_METRICS_LISTEN is not set (a worker serves /healthz only there)`);
        else if (!new RegExp(`:${port}/healthz`).test(healthcheckUrl(s))) problems.push(`${name}: healthcheck does not curl /healthz on port ${port}`);
        const grace = env.HERALD_SHUTDOWN_GRACE_MS ? Number(env.HERALD_SHUTDOWN_GRACE_MS) : DEFAULT_SHUTDOWN_GRACE_MS;
        const stop = durationMs(s.stop_grace_period);
        if (!(stop > grace)) problems.push(`${name}: stop_grace_period ${s.stop_grace_period ?? "10s (default)"} is not above ${grace} ms`);
        return problems;
    });
}

check("compose: the email worker sends to the local mail catcher (HERALD_SMTP_URL)", () => {
    const w = heraldServices.find(([, s]) => argvOf(s.command).join(" ").includes("--channel email"));
    if (!w) return "no email worker";
    const [name, s] = w;
    const url = envOf(s).HERALD_SMTP_URL;
    const m = /^smtps?:\/\/([^:/]+)(?::(\d+))?/.exec(url || "");
    if (!m) return `${name}: HERALD_SMTP_URL is ${url}`;
    const catcher = services[m[1]];
    if (!catcher) return `${name}: HERALD_SMTP_URL names host ${m[1]}, which is no service`;
    if (!/mailpit|mailhog|smtp4dev|mailcatcher/i.test(catcher.image || "")) return `service ${m[1]} (${catcher.image}) is not a mail catcher`;
    if (!dependsOn(s, m[1])) return `${name} does not depend on ${m[1]}`;
    return null;
});

check("compose: every Herald service runs the one image built from the Dockerfile", () => {
    const problems = [];
    const images = new Set(heraldServices.map(([, s]) => s.image));
    if (heraldServices.length === 0) problems.push("no Herald services");
    if (images.size !== 1) problems.push(`Herald services use ${images.size} images: ${[...images].join(", ")}`);
    for (const [name, s] of heraldServices) {
        const ctx = typeof s.build === "string" ? s.build : s.build?.context;
        if (!s.build) problems.push(`${name}: no build section (the image would be pulled)`);
        else if (path.resolve(ROOT, ctx || ".") !== ROOT) problems.push(`${name}: build context ${ctx} is not the repository root`);
        const df = s.build?.dockerfile;
        if (df && df !== "Dockerfile") problems.push(`${name}: builds ${df}, not Dockerfile`);
    }
    return problems;
});

process.exit(summary("validate-container"));
