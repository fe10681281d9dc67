// A page whose origin is not on the hub's CORS allowlist cannot read the hub: its
// EventSource on the hub's (other) origin must fail without ever opening, and so must a
// fetch of the same URL. A control EventSource on the page's own origin (the same server)
// opens, so the failure is the browser enforcing CORS, not a hub that is down.
//
// env: `hubUrl` (on another origin than the page's, required), `match` (required),
// `waitMs`, a bound on each wait in the page (default 10000).
// Returns `{crossOrigin: {opened, errored, readyState}, fetchError, sameOriginOpened,
// pageOrigin}`.

import { installPageHelpers } from '../page-helpers.mjs';

export async function run(page, env) {
    if (!env.hubUrl || !env.match) throw new Error('env.hubUrl and env.match are required');
    await installPageHelpers(page, env);
    return page.evaluate(
        async ({ hubUrl, match }) => {
            const { within } = globalThis.pageHelpers;
            const url = new URL(hubUrl);
            url.searchParams.append('match', match);
            const sameOriginUrl = new URL(url.pathname + url.search, location.href).href;

            // The cross-origin EventSource: `error` must come, `open` never.
            const crossOrigin = { opened: false, errored: false, readyState: null };
            const cross = new EventSource(url.href, { withCredentials: true });
            cross.onopen = () => {
                crossOrigin.opened = true;
            };
            const control = new EventSource(sameOriginUrl);
            try {
                await within(
                    'error on the cross-origin EventSource',
                    new Promise((resolve) => {
                        cross.onerror = () => {
                            crossOrigin.errored = true;
                            crossOrigin.readyState = cross.readyState;
                            resolve();
                        };
                    }),
                );
                let fetchError = null;
                try {
                    const response = await within('fetch answer', fetch(url.href));
                    fetchError = `fetch resolved with status ${response.status}`;
                    await response.body?.cancel();
                } catch (err) {
                    fetchError = `${err.name}: ${err.message}`;
                }
                const sameOriginOpened = await within(
                    'same-origin EventSource open',
                    new Promise((resolve) => {
                        if (control.readyState === EventSource.OPEN) resolve(true);
                        control.onopen = () => resolve(true);
                        control.onerror = () => resolve(false);
                    }),
                );
                return { crossOrigin, fetchError, sameOriginOpened, pageOrigin: location.origin };
            } finally {
                cross.close();
                control.close();
            }
        },
        { hubUrl: env.hubUrl, match: env.match },
    );
}
