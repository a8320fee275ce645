// Drives the scorer's pages in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core): the live page must show numbers that move, a filled scatter, flagged verdicts
// with their contributions, labelled outcomes, the live model and the model history, and a review
// queue whose first verdict, marked legit, leaves it with its label sent; /docs must
// render and its "Try it out" must call POST /v1/score and get the takeover transfer BLOCKed.
//
//   node scripts/ui/check-ui.mjs http://127.0.0.1:8080 OUT_DIR
import { failing, launch } from "./browser.mjs";

const [base, outDir] = process.argv.slice(2);
const fail = failing("check-ui");

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });

  // Live page: numbers move, the scatter fills, the log lists flagged verdicts.
  await page.goto(`${base}/`);
  const total = async () => Number((await page.textContent("#total")).replace(/\D/g, ""));
  await page.waitForFunction(() => Number(document.querySelector("#total").textContent.replace(/\D/g, "")) > 0, null, { timeout: 20000 });
  const first = await total();
  await page.waitForTimeout(3000);
  const second = await total();
  if (!(second > first)) fail(`live totals did not move (${first} then ${second})`);
  const dots = await page.locator("#scatter circle").count();
  if (dots < 50) fail(`scatter has only ${dots} points`);
  await page.waitForSelector("#log tr", { timeout: 30000 });
  const flagged = await page.locator("#log tr").count();
  // Each flagged verdict shows its top contributions (feature = value  ±contribution).
  const explained = await page.locator("#log tr td.contributions div.up, #log tr td.contributions div.down").count();
  if (explained === 0) fail(`none of the ${flagged} flagged rows shows a contribution`);
  const topContribution = await page.locator("#log tr td.contributions div").first().textContent();
  // The closed loop: labels arrive late, aegis-outcomes joins them, the page shows the figures.
  await page.waitForFunction(() => Number(document.querySelector("#labelled").textContent.replace(/\(.*\)/, "").replace(/\D/g, "")) > 0, null, { timeout: 60000 })
    .catch(() => fail("the live page shows no labelled outcomes after 60 s"));
  const outcomes = `labelled ${await page.textContent("#labelled")}, BLOCK precision/recall ${await page.textContent("#block-pr")}`;
  const models = await page.textContent("#models");
  const served = await (await page.request.get(`${base}/v1/model`)).json();
  if (!models.includes(`live model ${served.live.model_version}`)) fail(`the live page does not name the live model: "${models}"`);
  // The models topic's version history: the shadow model the stack published is listed, in use.
  let history = "no shadow model published: no history to show";
  if (served.shadow) {
    await page.waitForSelector("#history tr", { timeout: 20000 }).catch(() => fail("the live page shows no model history"));
    const rows = await page.locator("#history tr").allTextContents();
    if (!rows.some((row) => row.includes(served.shadow.model_version) && row.includes("shadow (in use)"))) {
      fail(`the model history does not list the shadow model in use: ${rows.join(" | ")}`);
    }
    history = `model history: ${rows.length} entries`;
  }
  // The review queue: the first REVIEW verdict marked legit leaves it, its label sent.
  await page.waitForSelector("#review tr", { timeout: 30000 })
    .catch(() => fail("the review queue shows no REVIEW verdict after 30 s"));
  const txId = await page.$eval("#review tr", (tr) => tr.dataset.txId);
  await page.click(`#review tr[data-tx-id="${txId}"] button.mark-legit`);
  await page.waitForSelector("#review-sent li", { timeout: 20000 }).catch(() => fail(`marking ${txId} shows nothing sent`));
  const sent = await page.textContent("#review-sent li");
  if (!sent.includes(`${txId} marked legit (source analyst)`)) fail(`marking ${txId} legit: "${sent}"`);
  await page.screenshot({ path: `${outDir}/live.png`, fullPage: false });
  console.log(`live page: ${first} -> ${second} transactions in 3 s, ${dots} scatter points, ${flagged} flagged rows (first's top contribution: ${topContribution}); ${outcomes}; "${models}"; ${history}; review queue: ${sent} (${outDir}/live.png)`);

  // API docs: render, try POST /v1/score with the takeover transfer.
  await page.goto(`${base}/docs`);
  const operation = page.locator(".opblock-post", { hasText: "/v1/score" });
  await operation.waitFor({ timeout: 20000 });
  await operation.locator(".opblock-summary").click();
  // The docs page starts in "Try it out" mode (tryItOutEnabled); click it only if it is offered.
  const tryIt = operation.getByRole("button", { name: "Try it out" });
  if (await tryIt.count()) await tryIt.click();
  const takeover = JSON.stringify({
    type: "TRANSFER", amount: 181000, name_orig: "C1305486145", old_balance_orig: 181000,
    new_balance_orig: 0, name_dest: "C553264065", old_balance_dest: 0, new_balance_dest: 0,
  });
  await operation.locator("textarea.body-param__text").fill(takeover);
  await operation.getByRole("button", { name: "Execute" }).click();
  const response = operation.locator(".responses-wrapper .live-responses-table .response-col_description pre").first();
  await response.waitFor({ timeout: 20000 });
  const body = await response.textContent();
  if (!body.includes('"BLOCK"')) fail(`/docs "Try it out" did not return BLOCK: ${body.slice(0, 300)}`);
  await page.screenshot({ path: `${outDir}/docs.png`, fullPage: false });
  console.log(`API docs: POST /v1/score from "Try it out" returned BLOCK (${outDir}/docs.png)`);
} finally {
  await browser.close();
}
