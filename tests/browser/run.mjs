// Runs one browser scenario against a page that ssegate serves, in Debian's chromium driven
// headless by playwright-core (which never downloads a browser). The integration tests call
// it through tests/integration/support/browser.rs; by hand:
//
//   PAGE_URL=https://localhost:8443/ SERVER_CERT=certs/server.pem \
//     node tests/browser/run.mjs tests/browser/scenarios/native-h2.mjs
//
// Input (environment):
//   PAGE_URL             the page to open before the scenario runs (required)
//   SERVER_CERT          PEM file whose first certificate is the server's: Chromium accepts
//                        that certificate's key (see `pinArgs`)
//   SCENARIO_ENV         a JSON object, handed to the scenario as its `env` argument
//   SCENARIO_TIMEOUT_MS  bound on the whole run, browser start to close (default 30000)
//   CHROMIUM             the browser binary (default /usr/bin/chromium)
//
// The scenario (argv[2]) is a module exporting `async function run(page, env)` that returns
// something JSON-serialisable. Output: exactly one line `RESULT <json>` on stdout and exit
// code 0; or the error on stderr and exit code 1. Everything else (the page's console,
// its uncaught errors) goes to stderr, so a failing test shows it.

import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { chromium } from 'playwright-core';

const timeoutMs = Number(process.env.SCENARIO_TIMEOUT_MS || 30000);

// The test server's certificate is issued by a throwaway CA made for each test. Trusting
// that CA would mean importing it into an NSS database (certutil) in a profile directory
// per run. Instead, Chromium is told to accept exactly the server's public key:
// `--ignore-certificate-errors-spki-list` takes base64 SHA-256 hashes of SubjectPublicKeyInfo
// and is honoured only with `--user-data-dir`, which Playwright always passes (a temporary
// profile). Unlike the context option `ignoreHTTPSErrors`, any other certificate still fails,
// and the page stays a secure context served over a verified-looking connection, as in a
// user's browser that trusts the CA.
function pinArgs(certFile) {
    if (!certFile) return [];
    const pem = readFileSync(certFile, 'utf8');
    const first = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/);
    if (!first) throw new Error(`${certFile}: no PEM certificate`);
    const spki = new X509Certificate(first[0]).publicKey.export({ type: 'spki', format: 'der' });
    const pin = createHash('sha256').update(spki).digest('base64');
    return [`--ignore-certificate-errors-spki-list=${pin}`];
}

async function main(scenarioPath) {
    const pageUrl = process.env.PAGE_URL;
    if (!scenarioPath) throw new Error('usage: node run.mjs <scenario.mjs> (with PAGE_URL set)');
    if (!pageUrl) throw new Error('PAGE_URL is not set');
    const env = JSON.parse(process.env.SCENARIO_ENV || '{}');
    const scenario = await import(pathToFileURL(path.resolve(scenarioPath)).href);
    if (typeof scenario.run !== 'function') {
        throw new Error(`${scenarioPath} does not export \`async function run(page, env)\``);
    }

    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        // CI runs as root, and Chromium refuses to start its sandbox as root. This is what
        // makes Playwright pass `--no-sandbox` (it also always passes
        // `--disable-dev-shm-usage`, which a container's 64 MB /dev/shm needs).
        chromiumSandbox: false,
        args: pinArgs(process.env.SERVER_CERT),
        timeout: timeoutMs,
    });
    try {
        const context = await browser.newContext();
        context.setDefaultTimeout(timeoutMs);
        const page = await context.newPage();
        page.on('console', (msg) => console.error(`page console.${msg.type()}: ${msg.text()}`));
        page.on('pageerror', (err) => console.error(`page error: ${err.stack || err}`));
        const response = await page.goto(pageUrl);
        if (!response || !response.ok()) {
            throw new Error(`GET ${pageUrl}: status ${response ? response.status() : 'none'}`);
        }
        const result = await scenario.run(page, env);
        return JSON.stringify(result ?? null);
    } finally {
        await browser.close();
    }
}

// A hard deadline over everything, closing included: a scenario that waits for an event
// that never comes must fail the test, not hang it. Exiting kills the browser with us
// (Playwright launches it as our child and kills it on exit).
const deadline = setTimeout(() => {
    console.error(`run.mjs: gave up after ${timeoutMs} ms (SCENARIO_TIMEOUT_MS)`);
    process.exit(1);
}, timeoutMs);

// Explicit exits: a handle left open by a scenario must not keep node (and the test) waiting.
// Writes to a pipe are synchronous on Linux, so nothing printed is lost.
try {
    const json = await main(process.argv[2]);
    process.stdout.write(`RESULT ${json}\n`);
    process.exit(0);
} catch (err) {
    console.error(`run.mjs: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
}
