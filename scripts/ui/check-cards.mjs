// Drives the card pipeline's live page (scripts/check-ui --spec cards) in headless Chromium: the
// log names the card spec's key (CUSTOMER_ID) and lists card ids, some flagged verdict gives a
// terminal feature among its reasons, and Card Precision@100 is computed from labels.
//
//   node scripts/ui/check-cards.mjs http://127.0.0.1:8080 OUT_DIR
import { chromium } from "playwright-core";

const [base, outDir] = process.argv.slice(2);
const fail = (message) => { console.error(`check-cards: FAIL: ${message}`); process.exit(1); };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.querySelector("#key").textContent === "CUSTOMER_ID", null, { timeout: 30000 })
    .catch(async () => fail(`the log's id column is "${await page.textContent("#key")}", not CUSTOMER_ID`));
  await page.waitForSelector("#log tr", { timeout: 60000 })
    .catch(() => fail("no flagged card payment in the log after 60 s"));
  // The replay runs 6 h of event time a second: a terminal's fraud labels count 7 days (28 s)
  // after their transactions, and compromised terminals then show in the reasons.
  await page.waitForFunction(() => [...document.querySelectorAll("#log tr td:nth-child(7)")]
    .some((td) => td.textContent.includes("terminal_")), null, { timeout: 120000 })
    .catch(() => fail("no flagged verdict names a terminal feature among its reasons after 120 s"));
  await page.waitForFunction(() => document.querySelector("#cp-label").textContent.includes("mean of"), null, { timeout: 60000 })
    .catch(() => fail("Card Precision@100 has no closed day after 60 s"));
  const ids = await page.locator("#log tr td:nth-child(4)").allTextContents();
  if (!ids.every((id) => /^…?\d+$/.test(id))) fail(`the log's ids are not card ids: ${ids.slice(0, 5).join(", ")}`);
  const terminal = (await page.locator("#log tr td:nth-child(7)").allTextContents()).find((r) => r.includes("terminal_"));
  const cp = `${await page.textContent("#cp-label")}: ${await page.textContent("#card-precision")}`;
  await page.screenshot({ path: `${outDir}/cards.png`, fullPage: false });
  console.log(`card live page: ${await page.textContent("#total")} scored, ${ids.length} flagged rows (ids ${ids.slice(0, 3).join(", ")}, …), reasons "${terminal}"; ${cp} (${outDir}/cards.png)`);
} finally {
  await browser.close();
}
