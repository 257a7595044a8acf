// verify.mjs: reads webhook requests recorded by tests/receivers/webhook_receiver.py
// (a JSON array on stdin) and verifies each with the Standard Webhooks reference
// library, using the secret given as the first argument. Exit 0 when all verify.
import { Webhook } from "standardwebhooks";

const secret = process.argv[2];
let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const requests = JSON.parse(input);
if (!Array.isArray(requests) || requests.length === 0) {
  console.error("no requests to verify");
  process.exit(1);
}
const wh = new Webhook(secret);
let failed = 0;
for (const r of requests) {
  const headers = {
    "webhook-id": r.headers["webhook-id"],
    "webhook-timestamp": r.headers["webhook-timestamp"],
    "webhook-signature": r.headers["webhook-signature"],
  };
  try {
    const payload = wh.verify(r.body, headers);
    if (payload.id !== headers["webhook-id"]) throw new Error("payload id differs from webhook-id");
    console.log(`ok ${headers["webhook-id"]}`);
  } catch (e) {
    failed++;
    console.error(`FAILED ${headers["webhook-id"]}: ${e.message}`);
  }
}
console.log(`${requests.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
