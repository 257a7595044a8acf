// Unknown-field detection for Kubernetes objects.
//
// The validators shipped with kubernetes-models check types, formats and
// required fields, but accept any extra key, so a typo such as
// `readinesProbe` or `securityContex` would pass. The API server drops
// unknown fields silently (or refuses them with strict field validation), so
// this module reads the TypeScript declarations (.d.ts) that ship with the
// same packages, which list every field of every type, and reports keys they
// do not declare.
//
// It understands the small subset of TypeScript those generated files use:
// imports, `export { A as B }`, interfaces with quoted members and index
// signatures, type aliases, object literal types, Array<T>, T[], unions,
// literals and indexed access (`IFoo["spec"]`).

import fs from "node:fs";
import path from "node:path";

function tokenize(src, file) {
    const toks = [];
    let i = 0;
    const n = src.length;
    while (i < n) {
        const c = src[i];
        if (c === " " || c === "\t" || c === "\n" || c === "\r") {
            i++;
        } else if (c === "/" && src[i + 1] === "*") {
            const end = src.indexOf("*/", i + 2);
            i = end < 0 ? n : end + 2;
        } else if (c === "/" && src[i + 1] === "/") {
            const end = src.indexOf("\n", i);
            i = end < 0 ? n : end + 1;
        } else if (c === '"' || c === "'") {
            let j = i + 1;
            let v = "";
            while (j < n && src[j] !== c) {
                if (src[j] === "\\") {
                    v += src[j + 1];
                    j += 2;
                } else {
                    v += src[j++];
                }
            }
            toks.push({ t: "str", v });
            i = j + 1;
        } else if (/[A-Za-z_$]/.test(c)) {
            let j = i + 1;
            while (j < n && /[A-Za-z0-9_$]/.test(src[j])) j++;
            toks.push({ t: "id", v: src.slice(i, j) });
            i = j;
        } else if (/[0-9]/.test(c)) {
            let j = i + 1;
            while (j < n && /[0-9.]/.test(src[j])) j++;
            toks.push({ t: "num", v: src.slice(i, j) });
            i = j;
        } else if ("{}[]<>():;?|,=.&*-".includes(c)) {
            toks.push({ t: "p", v: c });
            i++;
        } else {
            throw new Error(`${file}: unexpected character ${JSON.stringify(c)} at ${i}`);
        }
    }
    return toks;
}

const PRIMITIVES = new Set([
    "string", "number", "boolean", "any", "unknown", "null", "undefined", "object",
    "true", "false", "never", "void", "bigint",
]);

class Parser {
    constructor(toks, file) {
        this.toks = toks;
        this.i = 0;
        this.file = file;
    }
    peek(k = 0) {
        return this.toks[this.i + k];
    }
    is(v, k = 0) {
        const t = this.peek(k);
        return t && t.t !== "str" && t.v === v;
    }
    next() {
        return this.toks[this.i++];
    }
    expect(v) {
        const t = this.next();
        if (!t || t.t === "str" || t.v !== v) {
            throw new Error(`${this.file}: expected '${v}', got ${t ? JSON.stringify(t.v) : "end"}`);
        }
        return t;
    }
    // nameList: the names between "{" and "}" of an import or export clause,
    // as [name, local name] pairs ("a as b"); with types, a "type" before a
    // name is skipped.
    nameList(types) {
        this.expect("{");
        const names = [];
        while (!this.is("}")) {
            if (types && this.is("type")) this.next();
            const a = this.next().v;
            let b = a;
            if (this.is("as")) {
                this.next();
                b = this.next().v;
            }
            names.push([a, b]);
            if (this.is(",")) this.next();
        }
        this.expect("}");
        return names;
    }
    skipBalanced(open, close) {
        let depth = 0;
        do {
            const t = this.next();
            if (!t) throw new Error(`${this.file}: unbalanced '${open}'`);
            if (t.t === "p" && t.v === open) depth++;
            if (t.t === "p" && t.v === close) depth--;
        } while (depth > 0);
    }
    parseType() {
        if (this.is("|")) this.next();
        const alts = [this.parsePostfix()];
        while (this.is("|")) {
            this.next();
            alts.push(this.parsePostfix());
        }
        return alts.length === 1 ? alts[0] : { k: "union", of: alts };
    }
    parsePostfix() {
        let t = this.parsePrimary();
        for (;;) {
            if (this.is("[") && this.is("]", 1)) {
                this.next();
                this.next();
                t = { k: "arr", of: t };
            } else if (this.is("[") && this.peek(1) && this.peek(1).t === "str") {
                this.next();
                const key = this.next().v;
                this.expect("]");
                t = { k: "index", of: t, key };
            } else {
                return t;
            }
        }
    }
    parsePrimary() {
        const t = this.next();
        if (!t) throw new Error(`${this.file}: type expected at end`);
        if (t.t === "str" || t.t === "num") return { k: "lit", v: t.v };
        if (t.t === "p" && t.v === "-" && this.peek() && this.peek().t === "num") {
            return { k: "lit", v: "-" + this.next().v };
        }
        if (t.t === "p" && t.v === "{") return this.parseObjectBody();
        if (t.t === "p" && t.v === "(") {
            const inner = this.parseType();
            this.expect(")");
            return inner;
        }
        if (t.t === "id") {
            if (PRIMITIVES.has(t.v)) return { k: "prim", v: t.v };
            if (t.v === "Array" || t.v === "ReadonlyArray") {
                this.expect("<");
                const of = this.parseType();
                this.expect(">");
                return { k: "arr", of };
            }
            if (t.v === "import") {
                // import("mod").Name
                this.expect("(");
                const spec = this.next().v;
                this.expect(")");
                this.expect(".");
                const name = this.next().v;
                if (this.is("<")) this.skipBalanced("<", ">");
                return { k: "ref", name, spec, file: this.file };
            }
            let name = t.v;
            while (this.is(".")) {
                this.next();
                name += "." + this.next().v;
            }
            if (this.is("<")) this.skipBalanced("<", ">");
            return { k: "ref", name, file: this.file };
        }
        throw new Error(`${this.file}: unexpected ${JSON.stringify(t.v)} in a type`);
    }
    // After '{': members until '}'.
    parseObjectBody() {
        const props = new Map();
        let index = null;
        while (!this.is("}")) {
            if (this.is("readonly")) this.next();
            if (this.is("[")) {
                this.next();
                this.next(); // key name
                this.expect(":");
                this.parseType();
                this.expect("]");
                this.expect(":");
                index = this.parseType();
            } else {
                const key = this.next();
                if (!key || (key.t !== "str" && key.t !== "id")) {
                    throw new Error(`${this.file}: member name expected`);
                }
                if (this.is("?")) this.next();
                if (this.is("(")) {
                    // a method signature: not data
                    this.skipBalanced("(", ")");
                    if (this.is(":")) {
                        this.next();
                        this.parseType();
                    }
                } else {
                    this.expect(":");
                    props.set(key.v, this.parseType());
                }
            }
            if (this.is(";") || this.is(",")) this.next();
        }
        this.expect("}");
        return { k: "obj", props, index };
    }
}

function parseModule(file) {
    const src = fs.readFileSync(file, "utf8");
    const toks = tokenize(src, file);
    const p = new Parser(toks, file);
    const mod = { file, defs: new Map(), imports: new Map(), exports: new Map(), bases: new Map() };
    while (p.i < toks.length) {
        const t = p.next();
        if (t.t !== "id") {
            if (t.t === "p" && t.v === "{") {
                // a block we do not care about (class body): skip it
                p.i--;
                p.skipBalanced("{", "}");
            }
            continue;
        }
        if (t.v === "import" && p.is("{")) {
            const names = p.nameList(true);
            p.expect("from");
            const spec = p.next().v;
            for (const [a, b] of names) mod.imports.set(b, { spec, name: a });
        } else if (t.v === "export" && p.is("{")) {
            const names = p.nameList(false);
            let spec = null;
            if (p.is("from")) {
                p.next();
                spec = p.next().v;
            }
            for (const [a, b] of names) {
                if (spec) mod.imports.set(b, { spec, name: a });
                else if (a !== b) mod.exports.set(b, a);
            }
        } else if (t.v === "interface") {
            const name = p.next().v;
            if (p.is("<")) p.skipBalanced("<", ">");
            const bases = [];
            if (p.is("extends")) {
                p.next();
                while (!p.is("{")) {
                    const b = p.parsePostfix();
                    bases.push(b);
                    if (p.is(",")) p.next();
                }
            }
            p.expect("{");
            mod.defs.set(name, p.parseObjectBody());
            if (bases.length) mod.bases.set(name, bases);
        } else if (t.v === "type" && p.peek() && p.peek().t === "id" && (p.is("=", 1) || p.is("<", 1))) {
            const name = p.next().v;
            if (p.is("<")) p.skipBalanced("<", ">");
            p.expect("=");
            mod.defs.set(name, p.parseType());
        }
    }
    return mod;
}

export class ShapeChecker {
    constructor(nodeModulesDir) {
        this.nm = nodeModulesDir;
        this.modules = new Map();
    }
    moduleFile(fromFile, spec) {
        const candidates = spec.startsWith(".")
            ? [path.resolve(path.dirname(fromFile), spec)]
            : [path.join(this.nm, spec)];
        for (const base of candidates) {
            for (const f of [base + ".d.ts", path.join(base, "index.d.ts"), base]) {
                if (f.endsWith(".d.ts") && fs.existsSync(f)) return f;
            }
        }
        return null;
    }
    load(file) {
        let m = this.modules.get(file);
        if (!m) {
            m = parseModule(file);
            this.modules.set(file, m);
        }
        return m;
    }
    // resolveName: the type a name denotes in a module, or null (unknown:
    // treated as "anything").
    resolveName(file, name, depth = 0) {
        if (depth > 20) return null;
        const m = this.load(file);
        if (m.defs.has(name)) {
            const def = m.defs.get(name);
            const bases = m.bases.get(name);
            if (!bases) return def;
            const props = new Map();
            let index = def.index;
            for (const b of bases) {
                const bt = this.resolve(b);
                if (bt && bt.k === "obj") {
                    for (const [k, v] of bt.props) props.set(k, v);
                    index = index || bt.index;
                }
            }
            for (const [k, v] of def.props) props.set(k, v);
            return { k: "obj", props, index };
        }
        if (m.exports.has(name)) return this.resolveName(file, m.exports.get(name), depth + 1);
        if (m.imports.has(name)) {
            const imp = m.imports.get(name);
            const f = this.moduleFile(file, imp.spec);
            return f ? this.resolveName(f, imp.name, depth + 1) : null;
        }
        return null;
    }
    // resolve: follows references and indexed access to a structural type.
    resolve(t, depth = 0) {
        if (!t || depth > 40) return null;
        if (t.k === "ref") {
            let file = t.file;
            if (t.spec) {
                file = this.moduleFile(t.file, t.spec);
                if (!file) return null;
            }
            return this.resolve(this.resolveName(file, t.name), depth + 1);
        }
        if (t.k === "index") {
            const base = this.resolve(t.of, depth + 1);
            if (base && base.k === "obj" && base.props.has(t.key)) {
                return this.resolve(base.props.get(t.key), depth + 1);
            }
            return null;
        }
        return t;
    }
    rootType(dtsFile, interfaceName) {
        const t = this.resolveName(dtsFile, interfaceName);
        if (!t) throw new Error(`${dtsFile}: no declaration of ${interfaceName}`);
        return t;
    }
    // unknownFields: the paths of keys in value that type t does not declare.
    unknownFields(value, t, at = "", out = []) {
        const rt = this.resolve(t);
        if (!rt || value === null || value === undefined) return out;
        if (rt.k === "union") {
            const objs = rt.of.map((x) => this.resolve(x)).filter((x) => x && (x.k === "obj" || x.k === "arr"));
            if (objs.length === 0) return out;
            let best = null;
            for (const o of objs) {
                const errs = this.unknownFields(value, o, at, []);
                if (errs.length === 0) return out;
                if (!best || errs.length < best.length) best = errs;
            }
            out.push(...best);
            return out;
        }
        if (rt.k === "arr") {
            if (Array.isArray(value)) value.forEach((v, i) => this.unknownFields(v, rt.of, `${at}[${i}]`, out));
            return out;
        }
        if (rt.k === "obj") {
            if (typeof value !== "object" || Array.isArray(value)) return out;
            for (const [k, v] of Object.entries(value)) {
                const sub = at ? `${at}.${k}` : k;
                if (rt.props.has(k)) this.unknownFields(v, rt.props.get(k), sub, out);
                else if (rt.index) this.unknownFields(v, rt.index, sub, out);
                else out.push(sub);
            }
        }
        return out;
    }
}
