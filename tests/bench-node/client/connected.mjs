// linli-bench's connected workload, driven by the JavaScript automerge-repo
// client: K kiosks, one Repo and one WebSocket each (one kiosk token per
// client), all in this one process. Each kiosk creates its day ledger, then
// writes its check-ins one at a time while connected: a change, then a wait
// until the server says it holds it (the heads in the server's next sync
// message for that document are ours), then the next.
//
// Usage: node connected.mjs SPEC_FILE
//   SPEC_FILE: {"url": "ws://…/sync", "records": N, "period": "YYYY-MM-DD",
//               "clients": [{"kiosk_id", "hall_id", "token"}]}
//   A null token dials the url as it is; otherwise `?token=` is added
//   (browsers cannot set headers, so linli-server takes it there too).
// Prints "ready" once every ledger is on the server, then waits for a line
// on stdin before writing; then prints one JSON line:
//   {"records", "converge_ms", "latencies_ms": [...], "client_cpu_s"}
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import * as A from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sameHeads = (a, b) =>
  a.length === b.length && a.every((h) => b.includes(h));

// One kiosk: its repo, its ledger, and the heads the server last announced.
async function kiosk(c) {
  const url = c.token === null ? spec.url : `${spec.url}?token=${encodeURIComponent(c.token)}`;
  const adapter = new WebSocketClientAdapter(url);
  const repo = new Repo({ network: [adapter], peerId: `bench-${c.kiosk_id}` });
  const k = { repo, serverHeads: [], waiter: null, handle: null };
  adapter.on("message", (m) => {
    if (m.type !== "sync" || !k.handle || m.documentId !== k.handle.documentId) return;
    k.serverHeads = A.decodeSyncMessage(m.data).heads;
    if (k.waiter) k.waiter();
  });
  await adapter.whenReady();
  k.handle = repo.create({
    schema: "linli.ledger", version: 1, hall_id: c.hall_id, kiosk_id: c.kiosk_id,
    period: spec.period, checkins: {}, ratings: {}, shifts: {},
  });
  k.serverHas = () =>
    new Promise((resolve) => {
      const check = () => {
        if (sameHeads(k.serverHeads, A.getHeads(k.handle.doc()))) {
          k.waiter = null;
          resolve();
        }
      };
      k.waiter = check;
      check();
    });
  await k.serverHas();
  return { c, k };
}

const kiosks = await Promise.all(spec.clients.map(kiosk));
console.log("ready");
const stdin = createInterface({ input: process.stdin });
await new Promise((r) => stdin.once("line", r));

const cpu0 = process.cpuUsage();
const start = performance.now();
const latencies = [];
await Promise.all(
  kiosks.map(async ({ c, k }) => {
    for (let i = 0; i < spec.records; i++) {
      const t0 = performance.now();
      k.handle.change((d) => {
        d.checkins[crypto.randomUUID()] = {
          activity_id: "bench-activity", resident: null, headcount: 1,
          companions: 0, kiosk_id: c.kiosk_id, at_ms: Date.now(),
        };
      });
      await k.serverHas();
      latencies.push(performance.now() - t0);
    }
  }),
);
const converge_ms = performance.now() - start;
const cpu = process.cpuUsage(cpu0);
// Exit only once the report is out: a pipe takes 64 KiB at a time, and
// exiting at once would cut a long report short.
const report = JSON.stringify({
  records: latencies.length, converge_ms, latencies_ms: latencies,
  client_cpu_s: (cpu.user + cpu.system) / 1e6,
});
process.stdout.write(`${report}\n`, () => process.exit(0));
