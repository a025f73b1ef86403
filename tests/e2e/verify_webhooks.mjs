// Verifies recorded webhook deliveries with the official `standardwebhooks`
// library.  stdin: one JSON object per line {secret, headers, body_b64}.
// Exit 0 only when every delivery verifies.
import { Webhook } from "standardwebhooks";
import { createInterface } from "node:readline";

let n = 0, bad = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { secret, headers, body_b64 } = JSON.parse(line);
  const body = Buffer.from(body_b64, "base64").toString("utf8");
  n++;
  try {
    new Webhook(secret).verify(body, headers);
  } catch (e) {
    bad++;
    console.error(`delivery ${headers["webhook-id"]}: ${e.message}`);
  }
}
console.log(`verified ${n - bad}/${n}`);
process.exit(n > 0 && bad === 0 ? 0 : 1);
