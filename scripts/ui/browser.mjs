// What the page checks share: Debian's Chromium, headless, through playwright-core, and one way
// to fail.
import { chromium } from "playwright-core";

// Starts headless Chromium.
export const launch = () => chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// A function that prints "NAME: FAIL: message" and exits 1.
export const failing = (name) => (message) => {
  console.error(`${name}: FAIL: ${message}`);
  process.exit(1);
};
