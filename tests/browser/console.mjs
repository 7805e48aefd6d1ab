// Drives Debian's Chromium (playwright-core, no browser download) through
// the admin console as an office worker would: sign in, provision a kiosk,
// add an activity, answer a request, look at the statistics, export XLSX.
// Last, it erases the resident with ERASE_PHONE (preview, confirm, audit).
// Usage: node console.mjs BASE_URL USER PASSWORD HALL SHOTS_DIR ERASE_PHONE
// Prints one JSON line: { token, requestAnswered, revealed, auditReveal,
// xlsxBytes, statsCanvas, english, chinese, cspViolations, mobileRight,
// mobileScrollWidth, eraseFound, erased, auditErase }.
import { launch } from "./launch.mjs";
import { mkdirSync, writeFileSync } from "node:fs";

const [base, user, password, hall, shots, erasePhone] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const shot = async (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const out = { cspViolations: [] };
// Anything the server's Content-Security-Policy blocked on any page.
page.on("console", (m) => {
  if (m.type() === "error" && m.text().includes("Content Security Policy")) {
    out.cspViolations.push(m.text());
  }
});

await page.goto(`${base}admin/login`);
await shot("01-login");
await page.fill("input[name=user]", user);
await page.fill("input[name=password]", password);
await Promise.all([page.waitForURL(`${base}admin`), page.click("button[type=submit]")]);
await shot("02-overview");

await page.goto(`${base}admin/kiosks`);
await page.selectOption("select[name=hall]", hall);
await page.fill("input[name=name]", "浏览器终端");
await Promise.all([page.waitForLoadState(), page.click("form[action='/admin/kiosks'] button")]);
out.token = (await page.textContent("p.token"))?.trim();
await shot("03-kiosk-provisioned");

await page.goto(`${base}admin/calendar?hall=${hall}`);
await page.fill("input[name=title]", "浏览器加的讲座");
await page.selectOption("select[name=kind]", "lecture");
await page.fill("input[name=date]", new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10));
await page.fill("input[name=start]", "20:00");
await page.fill("input[name=end]", "21:00");
await Promise.all([page.waitForLoadState(), page.click("form[action='/admin/calendar/" + hall + "'] button")]);
await shot("04-calendar");

await page.goto(`${base}admin/requests?hall=${hall}`);
const forms = await page.$$("form[action^='/admin/requests/']:not([action$='/reveal'])");
if (forms.length > 0) {
  await forms[0].$eval("select[name=status]", (s) => (s.value = "resolved"));
  await forms[0].$eval("textarea[name=reply]", (t) => (t.value = "浏览器里回复：已处理"));
  await Promise.all([page.waitForLoadState(), forms[0].$eval("button", (b) => b.click())]);
  out.requestAnswered = true;
}
await shot("05-requests");

// The resident asked for a callback: one click shows the whole number.
await page.goto(`${base}admin/requests?hall=${hall}`);
await Promise.all([page.waitForLoadState(), page.click("form[action$='/reveal'] button")]);
out.revealed = (await page.textContent("#callback-number"))?.trim();
await shot("05b-callback-number");

await page.goto(`${base}admin/stats?hall=${hall}`);
await page.waitForSelector("#chart-week canvas", { timeout: 10000 });
out.statsCanvas = true;
await shot("06-stats");

const resp = await page.request.get(`${base}admin/export.xlsx?hall=${hall}`);
const body = await resp.body();
writeFileSync(`${shots}/export.xlsx`, body);
out.xlsxBytes = body.length;

await page.goto(`${base}admin/audit`);
out.auditReveal = (await page.content()).includes("reveal_phone");
await shot("07-audit");

// The language switch: English on the same page, then back to Chinese.
await page.goto(`${base}admin/stats?hall=${hall}`);
await Promise.all([page.waitForURL(`${base}admin/stats?hall=${hall}`), page.click("header a[lang=en]")]);
await page.waitForSelector("#chart-week canvas", { timeout: 10000 });
out.english = (await page.textContent("main h1"))?.trim();
await shot("08-stats-en");
await Promise.all([page.waitForLoadState(), page.click("header a[lang=zh-CN]")]);
out.chinese = (await page.textContent("main h1"))?.trim();

// The resident's phone page behind the kiosk's QR code, on a phone 390 px
// wide: nothing may run past the right edge.
const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
await phone.goto(`${base}m/request?hall=${hall}`);
out.mobileRight = await phone.evaluate(() => Math.max(
  ...[...document.querySelectorAll("textarea, input, select, button")]
    .filter((e) => e.type !== "hidden")
    .map((e) => e.getBoundingClientRect().right)));
out.mobileScrollWidth = await phone.evaluate(() => document.documentElement.scrollWidth);
await phone.screenshot({ path: `${shots}/09-mobile-390.png`, fullPage: true });

// A resident asks to be erased: the central admin finds them, sees what is
// stored, confirms; the erasure is in the audit log.
await page.goto(`${base}admin/residents`);
await page.fill("#erase-phone", erasePhone);
await shot("10-erase-form");
await Promise.all([page.waitForLoadState(), page.click("#erase-find")]);
out.eraseFound = (await page.textContent("#erase-found"))?.trim();
await shot("11-erase-preview");
await Promise.all([page.waitForLoadState(), page.click("#erase-confirm")]);
out.erased = (await page.textContent("#erase-done"))?.trim();
await shot("12-erase-done");
await page.goto(`${base}admin/audit`);
out.auditErase = (await page.content()).includes("erase_resident");
await browser.close();
console.log(JSON.stringify(out));
