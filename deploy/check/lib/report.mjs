// A tiny reporter: one line per check, "ok   NAME" or "FAIL NAME: why";
// deploy/check.sh counts these lines.

let passed = 0;
let failed = 0;

// check NAME FN: FN returns nothing (pass), or a string or a list of strings
// (the problems), or throws.
export function check(name, fn) {
    let problems;
    try {
        const r = fn();
        problems = r === undefined || r === null ? [] : Array.isArray(r) ? r : [String(r)];
    } catch (e) {
        problems = [e && e.message ? e.message : String(e)];
    }
    if (problems.length === 0) {
        passed++;
        console.log(`ok   ${name}`);
    } else {
        failed++;
        console.log(`FAIL ${name}: ${problems[0]}`);
        for (const p of problems.slice(1)) console.log(`     ${p}`);
    }
}

export function summary(label) {
    console.log(`${label}: ${passed} checks passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
}
