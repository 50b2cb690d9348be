// Browser tests of the web console and the public portal, in a real headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core). Started by `tests/api/browser.rs`,
// which runs the platform and prepares its data; run alone with:
//   BASE=http://127.0.0.1:8080 ADMIN_USER=admin ADMIN_PASS=… NEW_PASS=… AUDITOR_USER=… \
//   AUDITOR_PASS=… node console.mjs
// Exits non-zero at the first failed check. SHOTS=<dir> saves screenshots of the main pages.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
};
const BASE = env("BASE");
const ADMIN_USER = env("ADMIN_USER");
const ADMIN_PASS = env("ADMIN_PASS");
const NEW_PASS = env("NEW_PASS");
const AUDITOR_USER = env("AUDITOR_USER");
const AUDITOR_PASS = env("AUDITOR_PASS");
const SHOTS = process.env.SHOTS || "";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

if (SHOTS) mkdirSync(SHOTS, { recursive: true });

let failures = 0;
function check(cond, what) {
  if (!cond) {
    failures += 1;
    throw new Error(`check failed: ${what}`);
  }
  console.log(`  ok - ${what}`);
}

async function shot(page, name) {
  if (!SHOTS) return;
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

// Whether a canvas has any non-transparent pixel (the chart really drew something).
async function canvasDrawn(page, selector) {
  return page.$eval(selector, (el) => {
    const c = el.querySelector("canvas");
    if (!c) return false;
    const ctx = c.getContext("2d");
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
    return false;
  });
}

// Follows a navigation link and waits until the new page has loaded.
async function nav(page, label) {
  const link = page.locator(`nav.sidenav a:has-text('${label}')`);
  const href = await link.getAttribute("href");
  await Promise.all([page.waitForURL((u) => u.pathname === href), link.click()]);
  await page.waitForLoadState("load");
}

async function login(page, user, pass) {
  await page.goto(`${BASE}/login`);
  await page.fill("#username", user);
  await page.fill("#password", pass);
  await Promise.all([page.waitForEvent("load"), page.click("button[type=submit]:has-text('登录')")]);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
});

try {
  // ------------------------------------------------------------ public portal on a phone
  console.log("public portal (360 px phone)");
  {
    const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: "zh-CN" });
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e.stack || e)));
    await page.goto(`${BASE}/`);
    check(await page.isVisible("#code"), "the home page shows the trace-code box");
    check((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360, "nothing is wider than a 360 px phone");
    await shot(page, "portal-home-phone");
    await page.fill("#code", "<x>");
    await Promise.all([page.waitForEvent("load"), page.click("button:has-text('查询')")]);
    check(await page.isVisible("#code-error"), "a malformed code is refused with a message");
    await page.fill("#code", "3701 0200 0001");
    await Promise.all([page.waitForURL(/\/t\//), page.click("button:has-text('查询')")]);
    check((await page.textContent("[data-trace-code]")).trim() === "370102000001", "the trace page shows the code searched for");
    check((await page.textContent("h1")).includes("未查询到"), "an unknown code says so, with nothing invented");
    check((await page.evaluate(() => document.documentElement.scrollWidth)) <= 360, "the trace page fits a phone");
    await shot(page, "portal-trace-phone");
    check(errors.length === 0, `no script errors on the portal (${errors.join("; ")})`);
    await ctx.close();
  }

  // ------------------------------------------------------------ console as the national administrator
  console.log("console: national administrator");
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "zh-CN", acceptDownloads: true });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e.stack || e)));

  await page.goto(`${BASE}/console`);
  check(page.url().startsWith(`${BASE}/login`), "an anonymous visit to the console goes to the login page");
  await shot(page, "login");
  await login(page, ADMIN_USER, "Wrong-Pass-2026");
  check((await page.textContent("#form-error")).includes("用户名或密码"), "a wrong password shows the API's message on the form");

  await login(page, ADMIN_USER, ADMIN_PASS);
  check(page.url().endsWith("/console/password"), "an initial password must be changed first");
  await page.fill("#f-current_password", ADMIN_PASS);
  await page.fill("#f-new_password", NEW_PASS);
  await page.fill("#f-confirm_password", "Something-Else-1");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('保存新密码')")]);
  check(await page.isVisible("#f-confirm_password-error"), "a mismatched confirmation shows an inline message");
  check((await page.getAttribute("#f-confirm_password", "aria-invalid")) === "true", "the bad field is marked invalid");
  await page.fill("#f-current_password", ADMIN_PASS);
  await page.fill("#f-new_password", "short");
  await page.fill("#f-confirm_password", "short");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('保存新密码')")]);
  check(await page.isVisible("#f-new_password-error"), "a weak new password shows the password rule inline");
  await page.fill("#f-current_password", ADMIN_PASS);
  await page.fill("#f-new_password", NEW_PASS);
  await page.fill("#f-confirm_password", NEW_PASS);
  await Promise.all([page.waitForURL(`${BASE}/console`), page.click("button:has-text('保存新密码')")]);
  check((await page.textContent("[data-toast]")).includes("密码已修改"), "a toast confirms the change");

  // Dashboard: figures, charts, map.
  check(await page.isVisible("[data-figure=descendant_tenants]"), "the dashboard shows key figures");
  check((await page.textContent("[data-figure=anomalies] .value")).includes("—"), "figures of modules not yet built show an empty state, not a number");
  check((await page.textContent("[data-figure=trace_records] .value")).trim().startsWith("2"), "the trace records reported from below (the roll-up)");
  await page.waitForSelector("[data-chart=logins_by_day][data-rendered=chart] canvas", { timeout: 15000 });
  check(await canvasDrawn(page, "[data-chart=logins_by_day]"), "the login chart draws on its canvas");
  await page.waitForSelector("[data-map][data-rendered=map] svg path", { timeout: 15000 });
  const paths = await page.$$eval("[data-map] svg path", (p) => p.length);
  check(paths > 30, `the China map draws its provinces (${paths} paths)`);
  await page.click("[data-chart-toggle=logins_by_day]");
  check(await page.isVisible("[data-chart-table=logins_by_day] table"), "each chart has a table view");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-chart-csv=logins_by_day]")]);
  check(download.suggestedFilename().endsWith(".csv"), "each chart downloads as CSV");
  await page.click("[data-chart-toggle=logins_by_day]");
  if (SHOTS) await page.waitForTimeout(1500); // the charts' animations, and the toast, finish
  await shot(page, "dashboard");
  // Drill down to a province (the select is the keyboard path to the same drill-down as a click).
  await page.selectOption("[data-map-select]", "370000");
  await page.waitForSelector("[data-map][data-region='370000']", { timeout: 15000 });
  check(await page.isVisible("[data-map-back]"), "after drilling into 山东省 the map offers a way back");
  const cities = await page.$$eval("[data-map-select] option", (o) => o.length - 1);
  check(cities >= 16, `山东省's map offers its cities (${cities})`);
  await page.click("[data-map-back]");
  await page.waitForSelector("[data-map][data-region='100000']", { timeout: 15000 });
  // Resizing the window redraws charts and map (a phone turned, a window dragged).
  await page.setViewportSize({ width: 900, height: 700 });
  await page.waitForTimeout(300);
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.waitForTimeout(300);
  check(errors.length === 0, `charts and map survive resizing (${errors.join("; ")})`);

  // Tenants: the tree, a validation error, onboarding 江苏省.
  await nav(page, "单位管理");
  check(await page.isVisible("[data-tenant-tree]"), "the tenant tree is shown");
  check((await page.textContent("[data-tenant-tree]")).includes("山东省"), "the tree lists the child tenant");
  await page.fill("#f-code", "12345");
  await page.fill("#f-name", "");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('创建单位')")]);
  check(await page.isVisible("#f-code-error"), "a bad division code is refused beside the field");
  check(await page.isVisible("#f-name-error"), "a missing name is refused beside the field");
  await page.fill("#f-code", "320000");
  await page.fill("#f-name", "江苏省");
  await page.fill("#f-admin_username", "js_admin");
  await page.fill("#f-admin_display_name", "江苏省管理员");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('创建单位')")]);
  const link = (await page.textContent("[data-invitation-link]")).trim();
  check(link.includes("/invite/"), "onboarding shows the one-time invitation link");
  await shot(page, "tenant-created");
  await page.goto(`${BASE}/console/tenants`);
  await shot(page, "tenants");

  // The invited administrator sets a password through the link, in another browser.
  {
    const other = await browser.newContext({ locale: "zh-CN" });
    const p = await other.newPage();
    await p.goto(link);
    await p.fill("#f-new_password", "Jiangsu-Admin-2026");
    await p.fill("#f-confirm_password", "Jiangsu-Admin-2026");
    await Promise.all([p.waitForURL(/\/login/), p.click("button:has-text('设置密码')")]);
    check((await p.textContent(".alert-ok")).includes("密码已设置"), "the invitation page sets the first password");
    await login(p, "js_admin", "Jiangsu-Admin-2026");
    check(p.url().endsWith("/console"), "the new provincial administrator signs in");
    check((await p.textContent(".tenant-badge")).includes("江苏省"), "the layout names the tenant and its level");
    await other.close();
  }

  // An agency applies on the public page; the national level approves in the console.
  {
    const other = await browser.newContext({ locale: "zh-CN" });
    const p = await other.newPage();
    await p.goto(`${BASE}/apply`);
    await p.fill("#f-code", "440000");
    await Promise.all([p.waitForEvent("load"), p.click("button:has-text('提交申请')")]);
    check(await p.isVisible("#f-name-error") && await p.isVisible("#f-contact_email-error"), "an incomplete application is refused field by field");
    await p.fill("#f-name", "广东省");
    await p.fill("#f-contact_name", "陈明");
    await p.fill("#f-contact_phone", "020-12345678");
    await p.fill("#f-contact_email", "gd.admin@gd.gov.cn");
    await p.fill("#f-admin_username", "gd_admin");
    await p.fill("#f-admin_display_name", "广东省管理员");
    await Promise.all([p.waitForEvent("load"), p.click("button:has-text('提交申请')")]);
    check((await p.textContent("[data-applied]")).includes("全国"), "the application is submitted to the national level");
    await other.close();
  }
  await page.goto(`${BASE}/console/tenants`);
  const appRow = page.locator("[data-applications] tr", { hasText: "广东省" });
  await appRow.locator("button:has-text('批准')").click();
  await Promise.all([page.waitForEvent("load"), page.click("[data-confirm-ok]")]);
  check((await page.textContent("[data-invitation-link]")).includes("/invite/"), "approving creates the tenant and shows its invitation");
  await page.goto(`${BASE}/console/tenants`);

  // Suspend with confirmation.
  const row = page.locator("[data-tenant-tree] li", { hasText: "江苏省" });
  await row.locator("button:has-text('暂停')").click();
  check(await page.isVisible("#confirm-dialog[open]"), "a destructive action asks for confirmation first");
  await page.click("[data-confirm-cancel]");
  check((await row.textContent()).includes("正常"), "cancelling changes nothing");
  await row.locator("button:has-text('暂停')").click();
  await Promise.all([page.waitForEvent("load"), page.click("[data-confirm-ok]")]);
  check((await page.locator("[data-tenant-tree] li", { hasText: "江苏省" }).textContent()).includes("已暂停"), "confirmed suspension is shown in the tree");

  // Users: create, search, roles, disable.
  await nav(page, "用户管理");
  await page.fill("#f-username", "Bad Name!");
  await page.fill("#f-display_name", "李娜");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('创建用户')")]);
  check(await page.isVisible("#f-username-error"), "a bad user name is refused beside the field");
  await page.fill("#f-username", "li_na");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('创建用户')")]);
  check((await page.textContent("[data-secret]")).trim().length >= 12, "the initial password is shown once");
  await page.goto(`${BASE}/console/users`);
  await page.fill("#uq", "li_na");
  await page.waitForFunction(() => document.querySelectorAll("#users-table tbody tr").length === 1, null, { timeout: 10000 });
  check(page.url().includes("q=li_na"), "the search updates the table in place and the address");
  await shot(page, "users");
  await Promise.all([page.waitForURL(/\/console\/users\/[0-9a-f-]{36}$/), page.click("#users-table a:has-text('li_na')")]);
  const userUrl = page.url();
  await page.check("input[name=roles][value=operator]");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('保存角色')")]);
  check((await page.textContent("[data-toast]")).includes("角色已保存"), "roles are saved");
  await page.check("input[name=roles][value=auditor]");
  await page.check("input[name=roles][value=security_admin]");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('保存角色')")]);
  check((await page.textContent("#form-error")).length > 0 && (await page.textContent("body")).includes("三员分立"), "separation of duties is explained when refused");
  await page.goto(userUrl);
  await page.click("button:has-text('停用账号')");
  await Promise.all([page.waitForEvent("load"), page.click("[data-confirm-ok]")]);
  check((await page.textContent(".page-head")).includes("停用"), "the user is disabled after confirmation");

  // Roles and API keys.
  await nav(page, "角色与权限");
  await page.fill("#f-name", "market_inspector");
  await page.fill("#f-label", "市场巡查员");
  await page.check("input[name=inherits][value=operator]");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('创建角色')")]);
  check((await page.textContent("body")).includes("market_inspector"), "a custom role is created");
  await shot(page, "roles");
  await nav(page, "接入密钥");
  await page.fill("#f-name", "寿光蔬菜批发市场追溯系统");
  await page.fill("#f-expires_in_days", "0");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('创建密钥')")]);
  check(await page.isVisible("#f-expires_in_days-error"), "a lifetime out of range is refused beside the field");
  await page.fill("#f-expires_in_days", "365");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('创建密钥')")]);
  check((await page.textContent("[data-secret]")).trim().startsWith("sy_"), "the key's secret is shown once");
  await page.goto(`${BASE}/console/api-keys`);
  await shot(page, "api-keys");

  // Product catalogue: choose what the tenant traces, add a sub-category, delete it again.
  await nav(page, "产品分类");
  check((await page.textContent("[data-catalogue]")).includes("稀土产品"), "the catalogue lists the seven kinds of the standard");
  await page.check("[data-catalogue] tr[data-code='0101'] input[type=checkbox]");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('保存追溯分类')")]);
  check((await page.textContent("[data-toast]")).includes("追溯 1 个分类"), "the traced categories are saved");
  await page.selectOption("#f-parent_id", { label: "0102 水果" });
  await page.fill("#f-code", "0199");
  await page.fill("#f-name", "苹果");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('增加分类')")]);
  check(await page.isVisible("#f-code-error"), "a code that does not extend its parent is refused beside the field");
  await page.fill("#f-code", "010201");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('增加分类')")]);
  check(await page.isVisible("[data-catalogue] tr[data-code='010201']"), "the new sub-category appears in the tree");
  await shot(page, "catalogue");
  await page.click("[data-catalogue] tr[data-code='010201'] button:has-text('删除')");
  await Promise.all([page.waitForEvent("load"), page.click("[data-confirm-ok]")]);
  check(!(await page.isVisible("[data-catalogue] tr[data-code='010201']")), "a category nobody uses is deleted after confirmation");

  // Enterprise filing: a wrong credit code is refused beside the field; filed, reviewed, versioned.
  await nav(page, "企业备案");
  await page.fill("#f-name", "寿光蔬菜产业集团");
  await page.fill("#f-uscc", "91350100M000100Y44");
  await page.selectOption("#f-enterprise_type", "producer");
  await page.check("input[name=categories][value='0101']");
  await page.check("input[name=stages][value='primary_production']");
  await page.fill("#f-address", "寿光市农圣街 1 号");
  await page.fill("#f-division_code", "370783");
  await page.fill("#f-contact_name", "王强");
  await page.fill("#f-contact_phone", "0536-5211234");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('保存备案')")]);
  check((await page.textContent("#f-uscc-error")).includes("校验位"), "a credit code with a wrong check character is refused beside the field");
  await page.fill("#f-uscc", "91350100M000100Y43");
  await page.check("input[name=submit]");
  await Promise.all([page.waitForURL(/\/console\/enterprises\/[0-9a-f-]{36}$/), page.click("button:has-text('保存备案')")]);
  check((await page.getAttribute("[data-status]", "data-status")) === "submitted", "the filing is submitted for review");
  await page.click("button:has-text('审核通过')");
  await Promise.all([page.waitForEvent("load"), page.click("[data-confirm-ok]")]);
  check((await page.getAttribute("[data-status]", "data-status")) === "approved", "the manager approves it");
  check((await page.$$eval("[data-versions] tbody tr", (r) => r.length)) === 1, "the approval is version 1");
  await shot(page, "enterprise");
  await Promise.all([page.waitForURL(/\/edit$/), page.click("main a[href$='/edit']")]);
  check((await page.inputValue("#f-uscc")) === "91350100M000100Y43", "the edit form holds the filing");
  await page.fill("#f-contact_phone", "电话");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('保存修改')")]);
  check(await page.isVisible("#f-contact_phone-error"), "a bad change is refused beside the field");
  await page.fill("#f-contact_phone", "0536-5219999");
  await Promise.all([page.waitForURL(/\/console\/enterprises\/[0-9a-f-]{36}$/), page.click("button:has-text('保存修改')")]);
  check((await page.getAttribute("[data-status]", "data-status")) === "approved", "a contact change takes effect at once (change control)");
  check((await page.$$eval("[data-versions] tbody tr", (r) => r.length)) === 2, "as version 2");

  // Bulk import: a check lists the bad row, then the good rows are imported, with progress.
  await nav(page, "批量导入");
  const csv = "企业名称,统一社会信用代码,企业类型,经营品类,追溯环节,地址,地区代码,联系人,联系电话\n" +
    "济南示范乳业,91110108551385082Q,加工企业,0201,生产加工,济南,370112,李,0531-1\n" +
    "坏的企业,91370100MA3C0001AX,加工企业,0201,生产加工,济南,370112,李,0531-2\n" +
    "青岛示范水产,91370000MA3C5EX46G,批发市场,0104,产品消费或使用,青岛,370214,张,0532-3\n";
  await page.setInputFiles("#i-file", { name: "企业.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.click("[data-import] button[type=submit]");
  await page.waitForSelector("[data-import-errors] table");
  check((await page.textContent("[data-import-status]")).includes("1 行有问题"), "the check counts the bad row");
  check((await page.textContent("[data-import-errors] tbody tr td:nth-child(2)")) === "统一社会信用代码", "and names its column");
  await shot(page, "import");
  await page.click("[data-import-good]");
  await page.waitForFunction(() => document.querySelector("[data-import-status]").textContent.includes("已导入 2 行"));
  check((await page.getAttribute("[data-import-progress]", "aria-valuenow")) === "100", "the progress bar is full");

  // Filings on the map and in charts.
  await nav(page, "备案分析");
  await page.waitForSelector("[data-map][data-rendered=map]");
  await page.waitForSelector("[data-chart=by_type][data-rendered=chart]");
  check(await canvasDrawn(page, "[data-chart=by_type]"), "the type chart draws");
  check((await page.textContent("[data-figure=enterprise_filings] .value")).trim().startsWith("3"), "three approved enterprise filings (the one just filed, two of the trace chain)");
  if (SHOTS) await page.waitForTimeout(1500); // let the charts' animations finish for the picture
  await shot(page, "filing-analysis");

  // A chain across provinces: its graph, the flow map with the line from 寿光 to 北京, the table.
  await nav(page, "追溯记录");
  check((await page.$$eval("[data-trace-events] tbody tr", (r) => r.length)) === 2, "the two trace records are listed");
  await nav(page, "追溯链条");
  await page.fill("#cb", process.env.CHAIN_BATCH);
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('查询链条')")]);
  await page.waitForSelector("[data-chain-graph][data-rendered=graph]", { timeout: 15000 });
  check(await canvasDrawn(page, "[data-chain-graph]"), "the chain graph draws");
  await page.waitForSelector("[data-chain-map][data-rendered=map] svg path", { timeout: 15000 });
  check((await page.getAttribute("[data-chain-map]", "data-lines")) === "1", "the flow map draws the shipment as a line");
  check((await page.textContent("[data-flow-table]")).includes("北京示范批发市场"), "the flow table names the buyer in 北京");
  check((await page.textContent("[data-figure=provinces] .value")).trim() === "2", "two provinces");
  if (SHOTS) await page.waitForTimeout(1500);
  await shot(page, "trace-chain");

  // The public's queries of the code (made by the test before the browser started), analysed.
  await nav(page, "查询行为分析");
  await page.waitForSelector("[data-chart=by_day][data-rendered=chart]", { timeout: 15000 });
  check(await canvasDrawn(page, "[data-chart=by_day]"), "the queries-by-day chart draws");
  check(Number((await page.textContent("[data-figure=queries] .value")).trim().split(/\s/)[0]) >= 1, "the public query is counted");
  await page.waitForSelector("[data-chart=by_region][data-rendered=chart]", { timeout: 15000 });
  if (SHOTS) await page.waitForTimeout(1500);
  await shot(page, "query-analysis");

  // The nation's figures from the roll-ups: map, charts and the table per province; the links.
  await nav(page, "汇总统计");
  await page.waitForSelector("[data-map][data-rendered=map] svg path", { timeout: 15000 });
  await page.waitForSelector("[data-chart=records][data-rendered=chart]", { timeout: 15000 });
  check(await canvasDrawn(page, "[data-chart=records]"), "the records-by-region chart draws");
  check((await page.textContent("[data-rollup-table]")).includes("山东省"), "the table lists 山东省 from the roll-up");
  check((await page.textContent("[data-figure=records] .value")).trim().startsWith("2"), "two records rolled up");
  if (SHOTS) await page.waitForTimeout(1500);
  await shot(page, "rollup");
  await nav(page, "数据上报");
  check((await page.$$("[data-link='370000']")).length === 1, "山东省's link upward is listed");
  await Promise.all([page.waitForEvent("load"), page.click("[data-link='370000'] button:has-text('立即同步')")]);
  check((await page.textContent("body")).includes("已开始同步"), "sync now is confirmed");
  await shot(page, "federation");

  // SSO settings: a bad issuer is refused inline.
  await nav(page, "单点登录");
  await page.fill("#f-issuer", "not a url");
  await page.fill("#f-client_id", "suyuan");
  await Promise.all([page.waitForEvent("load"), page.click("button:has-text('保存设置')")]);
  check(await page.isVisible("#form-error"), "bad SSO settings are refused with a message");
  await shot(page, "sso");

  // The audit log is the auditor's alone: the administrator has no menu entry and is refused.
  check(!(await page.isVisible("nav.sidenav a:has-text('审计日志')")), "an administrator has no audit menu entry");
  const refused = await page.goto(`${BASE}/console/audit`);
  check(refused.status() === 403, "and the server refuses the audit page to an administrator (not only hidden)");
  check(errors.length === 0, `no script errors in the console (${errors.join("; ")})`);
  await ctx.close();

  // ------------------------------------------------------------ the auditor
  console.log("console: auditor");
  {
    const actx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "zh-CN" });
    const p = await actx.newPage();
    await login(p, AUDITOR_USER, AUDITOR_PASS);
    await nav(p, "审计日志");
    check((await p.$$eval("table tbody tr", (r) => r.length)) > 5, "the auditor reads the audit log");
    await p.fill("#f-from", "yesterday");
    await Promise.all([p.waitForEvent("load"), p.click("button:has-text('查询')")]);
    check(await p.isVisible("#f-from ~ .field-error"), "a bad date filter is explained beside the field");
    await p.goto(`${BASE}/console/audit?action=user.create`);
    const actions = await p.$$eval("table tbody tr td:nth-child(4) .mono", (c) => c.map((x) => x.textContent.trim()));
    check(actions.length > 0 && actions.every((a) => a === "user.create"), `the action filter keeps only matching records (${actions.length})`);
    await p.goto(`${BASE}/console/audit`);
    await p.click("button:has-text('核验完整性')");
    await p.waitForSelector("[data-verify]", { timeout: 15000 });
    check((await p.getAttribute("[data-verify]", "data-verify")) === "ok", "the hash chain verifies intact");
    await shot(p, "audit");
    await actx.close();
  }
  console.log(`all browser checks passed`);
} catch (e) {
  console.error(String(e && e.stack ? e.stack : e));
  failures += 1;
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
