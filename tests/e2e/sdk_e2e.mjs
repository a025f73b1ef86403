// The official OpenSandbox SDK against Sandforge, unchanged.
// Usage: SANDFORGE_DOMAIN=127.0.0.1:PORT node sdk_e2e.mjs   (exit 0 = every step passed)
import assert from "node:assert/strict";
import { ConnectionConfig, Sandbox, SandboxManager } from "@alibaba-group/opensandbox";

const conn = new ConnectionConfig({ domain: process.env.SANDFORGE_DOMAIN, apiKey: process.env.SANDFORGE_API_KEY });
const step = (name) => console.log(`step: ${name}`);

step("create");
const sbx = await Sandbox.create({ connectionConfig: conn, image: "host", timeoutSeconds: 600,
                                   metadata: { project: "demo" } });
const id = sbx.id;

step("commands.run echo hello");
const r = await sbx.commands.run("echo hello");
assert.equal(r.logs.stdout[0].text, "hello");
assert.equal(r.exitCode, 0);

step("failing command exit code");
const f = await sbx.commands.run("echo oops >&2; exit 3");
assert.equal(f.exitCode, 3);
assert.equal(f.logs.stderr[0].text, "oops");

step("files write/read round trip");
await sbx.files.writeFiles([{ path: "/tmp/a.txt", data: "hi there", mode: 644 }]);
assert.equal(await sbx.files.readFile("/tmp/a.txt"), "hi there");

step("pause");
await sbx.pause();
let info = await sbx.getInfo();
assert.equal(info.status.state, "Paused");

step("resume");
const live = await sbx.resume();
const again = await live.commands.run("cat /tmp/a.txt");
assert.equal(again.logs.stdout[0].text, "hi there");

step("renew");
const before = Date.now();
await live.renew(1800);
info = await live.getInfo();
assert.ok(new Date(info.expiresAt).getTime() >= before + 1790 * 1000, `expiresAt ${info.expiresAt}`);

step("listSandboxInfos with state + metadata filters");
const mgr = SandboxManager.create({ connectionConfig: conn });
const { items } = await mgr.listSandboxInfos({ states: ["Running"], metadata: { project: "demo" }, page: 1, pageSize: 10 });
assert.ok(items.some((s) => s.id === id), "created sandbox listed");
const none = await mgr.listSandboxInfos({ states: ["Running"], metadata: { project: "other" } });
assert.ok(!none.items.some((s) => s.id === id), "metadata filter excludes");

step("getInfo");
info = await live.getInfo();
assert.equal(info.id, id);
assert.equal(info.status.state, "Running");

step("kill");
await live.kill();

step("404 afterwards");
await assert.rejects(() => mgr.getSandboxInfo(id), (e) => String(e?.error?.code ?? e).includes("NOT_FOUND") || /404/.test(String(e?.statusCode ?? e)));

await Promise.all([sbx.close?.(), live.close?.(), mgr.close?.()]);
console.log("SDK_E2E_OK");
