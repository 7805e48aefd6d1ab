// Looks at a demo server's console as the central admin trying Linli
// would: signs in with the demo account, opens the overview and the
// statistics and the walk-in services page, and takes screenshots of them.
// Usage: node demo-console.mjs BASE_URL SHOTS_DIR
// Prints one JSON line: { overviewText, statsData, statsCanvas, servicesText }.
import { launch } from "./launch.mjs";
import { mkdirSync } from "node:fs";

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto(`${base}admin/login`);
await page.fill("input[name=user]", "demo-admin");
await page.fill("input[name=password]", "linli-demo");
await Promise.all([page.waitForURL(`${base}admin`), page.click("button[type=submit]")]);
await page.screenshot({ path: `${shots}/demo-overview.png`, fullPage: true });
const overviewText = await page.textContent("body");
await page.goto(`${base}admin/stats`);
await page.waitForSelector("canvas");
await page.waitForTimeout(500);
await page.screenshot({ path: `${shots}/demo-stats.png`, fullPage: true });
const statsData = JSON.parse(await page.textContent("#stats-data"));
const statsCanvas = await page.locator("canvas").count();
await page.goto(`${base}admin/services`);
await page.screenshot({ path: `${shots}/demo-services.png`, fullPage: true });
const servicesText = await page.textContent("#services");
console.log(JSON.stringify({ overviewText, statsData, statsCanvas, servicesText }));
await browser.close();
