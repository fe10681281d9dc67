// Helpers the scenarios' in-page code shares. `page.evaluate` sends a function's source text
// to the page and runs it there, where this module's exports and closures do not reach: so
// `installPageHelpers` defines the helpers in the page itself, and a scenario's evaluated
// function takes them from `globalThis.pageHelpers`. Call it after the page has loaded (run.mjs
// has by the time a scenario runs) and before that `page.evaluate`.
//
//   within(what, promise)   `promise`, or a rejection naming `what` if it has not settled
//                           within `env.waitMs` ms (default 10000)
//   opened(es, name, shown) resolves when the EventSource `es` opens; rejects if it fails
//                           first (naming `name` and `shown`, its URL as the scenario spells
//                           it) or does not open in time

/// Installs `within` and `opened` in `page` as `globalThis.pageHelpers`.
export async function installPageHelpers(page, env) {
    await page.evaluate((waitMs) => {
        const within = (what, promise) =>
            Promise.race([
                promise,
                new Promise((_, reject) =>
                    setTimeout(() => reject(new Error(`no ${what} within ${waitMs} ms`)), waitMs),
                ),
            ]);
        const opened = (es, name, shown) =>
            within(
                `${name} open`,
                new Promise((resolve, reject) => {
                    es.onopen = resolve;
                    es.onerror = () =>
                        reject(new Error(`${name} ${shown} failed (readyState ${es.readyState})`));
                }),
            );
        globalThis.pageHelpers = { within, opened };
    }, Number(env.waitMs ?? 10000));
}
