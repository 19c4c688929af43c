/** The real browser of the browser tests: Debian's Chromium, launched headless by playwright-core. */

/** Where `apt-get install -y chromium` puts it. */
export const CHROMIUM = "/usr/bin/chromium";

/** Launch options of every browser test (headless, no sandbox in CI containers, no QUIC, quiet). */
export const CHROMIUM_LAUNCH = {
  executablePath: CHROMIUM,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

/** True when Chromium is installed (browser tests skip, saying why, otherwise). */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}
