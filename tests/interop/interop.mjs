// A peer built on the JavaScript automerge-repo, as a browser or another
// vendor's client would be: it pairs with a kiosk token (query parameter,
// since browsers cannot set headers), reads the hall calendar, and delivers
// a day ledger written the JavaScript way (Text strings, signed integers).
// Usage: node interop.mjs SERVER_URL KIOSK_TOKEN ; prints one JSON line.
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
const [server, token] = process.argv.slice(2);
const cfg = await (await fetch(`${server}api/v1/kiosk/config`, { headers: { authorization: `Bearer ${token}` } })).json();
const ws = server.replace("http", "ws") + `sync?token=${token}`;
const repo = new Repo({ network: [new WebSocketClientAdapter(ws)], peerId: "js-peer-" + Math.random().toString(36).slice(2) });
const cal = await repo.find(cfg.calendar_url);
const doc = cal.doc();
const hallName = String(doc.hall_name);
const activities = Object.keys(doc.activities).length;
const h = repo.create({ schema: "linli.ledger", version: 1, hall_id: cfg.hall_id, kiosk_id: cfg.kiosk_id, period: "2026-11-23", checkins: {}, ratings: {}, shifts: {} });
h.change(d => { d.checkins["019ab000-0000-7000-8000-000000000001"] = { activity_id: "js-act", resident: null, headcount: 3, companions: 1, kiosk_id: cfg.kiosk_id, at_ms: Date.now() }; });
await new Promise(r => setTimeout(r, 2500));
console.log(JSON.stringify({ hallName, activities, ledger: h.url }));
process.exit(0);
