// The live page's review queue in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core): with the token from the URL fragment, it waits for at least three REVIEW
// verdicts in the queue, marks the first two fraud and the third legit with the page's buttons,
// checks that each leaves the queue and is listed as sent (source analyst, with its partition and
// offset), and — unless NO_OUTCOMES — that the outcome tiles then count the three labels
// ("3 (2)": the scorer follows the outcomes topic that aegis-outcomes writes). Prints one line
// `marked TX_ID fraud|legit` per mark. Run by the scorer's test
// `analysts_mark_three_on_the_live_page_and_labels_and_outcomes_count_them`.
//
//   node scripts/ui/check-review.mjs http://127.0.0.1:PORT [TOKEN] [MARKS] [NO_OUTCOMES]
//
// MARKS (default 3) is how many to mark: the first two fraud, the rest legit.
import { failing, launch } from "./browser.mjs";

const [base, token, marksArg, noOutcomes] = process.argv.slice(2);
const marks = Number(marksArg ?? 3);
const fail = failing("check-review");

const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(token ? `${base}/#token=${token}` : `${base}/`);
  await page.waitForFunction((n) => document.querySelectorAll("#review tr").length >= n, marks, { timeout: 30000 })
    .catch(() => fail(`the review queue does not show ${marks} REVIEW verdicts within 30 s`));
  const row = await page.$("#review tr");
  const cells = await row.$$eval("td", (tds) => tds.map((td) => td.textContent));
  if (!/^\d\.\d{3}$/.test(cells[4])) fail(`no score in the first row: ${cells}`);
  if (!cells[6].includes("=")) fail(`no contributions in the first row: ${cells}`);
  if (cells[7] === "" || cells[7] === "not held here") fail(`no recent history in the first row: ${cells}`);

  const marked = [];
  for (let i = 0; i < marks; i++) {
    const fraud = i < 2;
    const txId = await page.$eval("#review tr", (tr) => tr.dataset.txId);
    await page.click(`#review tr[data-tx-id="${txId}"] button.${fraud ? "mark-fraud" : "mark-legit"}`);
    await page.waitForFunction((n) => document.querySelectorAll("#review-sent li").length >= n, i + 1, { timeout: 20000 })
      .catch(() => fail(`marking ${txId} shows nothing sent`));
    const sent = await page.textContent("#review-sent li");
    if (await page.$("#review-sent li.failed")) fail(`marking ${txId} failed: ${sent}`);
    const expected = `${txId} marked ${fraud ? "fraud" : "legit"} (source analyst)`;
    if (!sent.includes(expected) || !sent.includes("partition")) fail(`sent shows "${sent}", not "${expected} → … partition …"`);
    await page.waitForFunction((id) => !document.querySelector(`#review tr[data-tx-id="${id}"]`), txId, { timeout: 5000 })
      .catch(() => fail(`${txId} stays in the queue once marked`));
    marked.push(txId);
    console.log(`marked ${txId} ${fraud ? "fraud" : "legit"}`);
  }
  // Still gone after the next refreshes: the server's queue lost them too.
  await page.waitForTimeout(1500);
  for (const txId of marked) {
    if (await page.$(`#review tr[data-tx-id="${txId}"]`)) fail(`${txId} came back to the queue`);
  }
  if (!noOutcomes) {
    const frauds = Math.min(marks, 2);
    const tile = `${marks} (${frauds})`;
    await page.waitForFunction((t) => document.querySelector("#labelled").textContent === t, tile, { timeout: 60000 })
      .catch(async () => fail(`the outcome tile shows "${await page.textContent("#labelled")}", not "${tile}"`));
    console.log(`outcome tiles: ${tile} labelled (frauds)`);
  }
} finally {
  await browser.close();
}
