// The live page against a scorer that runs with --api-token-file, in headless Chromium (Debian's
// /usr/bin/chromium, through playwright-core): without a token it asks for one; a token typed into
// its form, or given as the URL fragment /#token=…, makes it show the data (and the fragment is
// gone from the address bar at once); a wrong token is refused and asked for again. Without TOKEN,
// against a scorer without tokens: the page shows the data and never asks. Run by the scorer's test
// `the_live_page_works_with_a_token_from_its_form_or_the_url_fragment`.
//
//   node scripts/ui/check-live-token.mjs http://127.0.0.1:PORT [TOKEN]
import { failing, launch } from "./browser.mjs";

const [base, token] = process.argv.slice(2);
const fail = failing("check-live-token");

const browser = await launch();
const shows = "The live page names the live model";
const showsData = (page) => page.waitForFunction(
  () => document.querySelector("#models").textContent.includes("live model"), null, { timeout: 10000 });
try {
  if (!token) {
    // A scorer without tokens: data, and no form.
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    await showsData(page).catch(() => fail(`${shows} on a scorer without tokens`));
    if (!(await page.isHidden("#token-form"))) fail("a scorer without tokens is asked for one");
    console.log("live page without tokens: shows the data, asks for nothing");
    process.exit(0);
  }
  // No token: the form is shown, and no data.
  let page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector("#token-form:not([hidden])", { timeout: 10000 })
    .catch(() => fail("without a token the page does not ask for one"));
  if ((await page.textContent("#models")).includes("live model")) fail("data shown without a token");

  // A wrong token in the form: refused, asked again.
  await page.fill("#token", "wrong-token-0123456789");
  await page.click("#token-form button");
  await page.waitForFunction(() => document.querySelector("#status").textContent.includes("refused"), null, { timeout: 10000 })
    .catch(() => fail("a wrong token is not reported as refused"));
  if (await page.isHidden("#token-form")) fail("after a wrong token the form is gone");

  // The right token in the form: data.
  await page.fill("#token", token);
  await page.click("#token-form button");
  await showsData(page).catch(() => fail(`${shows} after the token is typed into its form`));
  if (!(await page.isHidden("#token-form"))) fail("the form stays after a good token");
  await page.close();

  // The token as the URL fragment, in a fresh context (nothing stored): data, fragment removed.
  const context = await browser.newContext();
  page = await context.newPage();
  const sent = [];
  page.on("request", (request) => sent.push(request.url()));
  await page.goto(`${base}/#token=${token}`);
  await showsData(page).catch(() => fail(`${shows} with the token in the URL fragment`));
  if (page.url().includes("token")) fail(`the token stays in the address bar: ${page.url()}`);
  if (sent.some((url) => url.includes(token))) fail("the token was sent in a URL");
  await context.close();
  console.log("live page with a token: asks without one, refuses a wrong one, works with one from its form or the URL fragment");
} finally {
  await browser.close();
}
