// The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core):
// sign in, see a login made through the EM API appear without a reload, force the logout,
// see the row go and the event in the history, and keep a screenshot under target/.
//
// Run by scripts/test after the cargo tests (which build target/debug/hotdesk), or alone:
//   node tests/browser/dashboard.mjs [path/to/hotdesk]
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const binary = process.argv[2] || process.env.HOTDESK_BIN || path.join(root, "target/debug/hotdesk");
const browserPath = process.env.HOTDESK_CHROMIUM || "/usr/bin/chromium";
const shots = path.join(root, "target");
// Every wait is bounded: a failing step fails the test, it never hangs CI.
const STEP_MS = 10_000;

const APP = "<appInfo><appID>appid</appID><appCertificate>apppasswd</appCertificate></appInfo>";
const login = (device, user) =>
  `<request>${APP}<login><deviceName>${device}</deviceName><userID>${user}</userID>` +
  `<exclusiveDuration><time>480</time></exclusiveDuration></login></request>`;

/** Start `hotdesk serve --demo` on a free loopback port; resolves with its base URL. */
function startServer(dir) {
  const child = spawn(
    binary,
    ["serve", "--demo", "--listen", "127.0.0.1:0", "--database", `sqlite://${dir}/hotdesk.db`],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } },
  );
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const base = new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no address from the server:\n${log}`)), 60_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/hotdesk listening on (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`the server exited (${code}):\n${log}`)));
  });
  return { child, base, log: () => log };
}

async function em(base, xml) {
  const r = await fetch(`${base}/emservice/EMServiceServlet`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ xml }),
  });
  const text = await r.text();
  if (!text.includes("<success/>")) throw new Error(`EM request failed: ${text}`);
}

function check(condition, what) {
  if (!condition) throw new Error(`expected: ${what}`);
  console.log(`ok - ${what}`);
}

const dir = mkdtempSync(path.join(tmpdir(), "hotdesk-browser-"));
const server = startServer(dir);
let browser;
let failed = false;
try {
  const base = await server.base;
  browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(STEP_MS);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => m.type() === "error" && pageErrors.push(m.text()));

  // Someone is logged in already; the page shows them when it loads.
  await em(base, login("SEP402CF4915265", "em"));

  await page.goto(`${base}/ui`);
  check(page.url().endsWith("/ui/login"), "an anonymous visit goes to the sign-in page");
  await page.fill("#username", "admin");
  await page.fill("#password", "change-me");
  await Promise.all([page.waitForURL(`${base}/ui`), page.click("#sign-in button[type=submit]")]);
  check((await page.textContent("#who")).includes("admin"), "signed in as admin");
  await page.waitForSelector('tr[data-device="SEP402CF4915265"]');
  check(true, "the login made before the page loaded is listed");
  await page.waitForFunction(() => document.getElementById("stream-status").textContent === "live");
  check(true, "the live stream is connected");

  // A login through the EM API appears without a reload.
  await page.evaluate(() => (window.__notReloaded = true));
  await em(base, login("SEP003094C25B15", "john"));
  await page.waitForSelector('tr[data-device="SEP003094C25B15"]');
  await page.waitForSelector("#feed li.ev-login .usr:text-is('john')");
  check(await page.evaluate(() => window.__notReloaded === true), "the new login appeared without a reload");
  check((await page.textContent("#g-logged-in")).trim() === "2", "the count says 2 logged in");

  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, "dashboard.png"), fullPage: true });
  check(true, `screenshot saved to ${path.join(shots, "dashboard.png")}`);

  // Forced logout: the row goes, and the event is in the device's history.
  await Promise.all([
    page.waitForURL(/\/ui\?/),
    page.click('button[aria-label="Log out SEP003094C25B15"]'),
  ]);
  await page.waitForSelector('tr[data-device="SEP003094C25B15"]', { state: "detached" });
  check(true, "the forced logout took the row away");
  check((await page.textContent("#g-logged-in")).trim() === "1", "the count says 1 logged in");
  check((await page.$('tr[data-device="SEP402CF4915265"]')) !== null, "the other login stays");

  await page.goto(`${base}/ui/history?device=SEP003094C25B15`);
  const kinds = await page.$$eval("#history tbody tr td:nth-child(3)", (tds) => tds.map((t) => t.textContent));
  check(JSON.stringify(kinds) === JSON.stringify(["login", "logout"]), `the history has the login and the logout (${kinds})`);
  const by = await page.$$eval("#history tbody tr:last-child td:nth-child(7)", (tds) => tds.map((t) => t.textContent));
  check(by[0] === "admin", "the logout was made by admin");
  await page.screenshot({ path: path.join(shots, "dashboard-history.png"), fullPage: true });

  check(pageErrors.length === 0, `no script errors (${pageErrors.join("; ")})`);
} catch (e) {
  failed = true;
  console.error(`not ok - ${e.stack || e}`);
  console.error(`server log:\n${server.log()}`);
} finally {
  if (browser) await browser.close();
  server.child.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
