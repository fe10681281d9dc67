// The native API in a real browser: the page ssegate serves subscribes with EventSource,
// publishes with fetch, and receives its own event, all over HTTP/2.
//
// env: `topic` (default "browser-test"), `body` (default "hello from chromium"),
// `waitMs`, a bound on each wait in the page (default 10000).
// Returns `{data, protocol, eventSourceProtocol}`: the event's data, the fetch's
// `nextHopProtocol` (Resource Timing) and the protocol the EventSource's response came over.

import { recordProtocols } from '../protocols.mjs';

export async function run(page, env) {
    const path = `/events/${env.topic ?? 'browser-test'}`;
    const protocols = await recordProtocols(page);
    const result = await page.evaluate(
        async ({ path, body, waitMs }) => {
            const within = (what, promise) =>
                Promise.race([
                    promise,
                    new Promise((_, reject) =>
                        setTimeout(() => reject(new Error(`no ${what} within ${waitMs} ms`)), waitMs),
                    ),
                ]);
            const url = new URL(path, location.href).href;
            const es = new EventSource(path);
            try {
                await within(
                    'EventSource open',
                    new Promise((resolve, reject) => {
                        es.onopen = resolve;
                        es.onerror = () =>
                            reject(new Error(`EventSource ${path} failed (readyState ${es.readyState})`));
                    }),
                );
                // Listen before publishing: the event may arrive before fetch resolves.
                const message = new Promise((resolve) => {
                    es.onmessage = (event) => resolve(event.data);
                });
                const response = await fetch(path, { method: 'POST', body });
                const text = await response.text();
                if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${text}`);
                const data = await within('message', message);
                // The entry is queued when the body has been read; poll briefly for it.
                let entry;
                for (let i = 0; i < 50 && !entry; i++) {
                    entry = performance
                        .getEntriesByName(url, 'resource')
                        .find((e) => e.initiatorType === 'fetch');
                    if (!entry) await new Promise((resolve) => setTimeout(resolve, 20));
                }
                return { data, protocol: entry?.nextHopProtocol ?? null, url };
            } finally {
                es.close();
            }
        },
        { path, body: env.body ?? 'hello from chromium', waitMs: Number(env.waitMs ?? 10000) },
    );
    return {
        data: result.data,
        protocol: result.protocol,
        eventSourceProtocol: protocols.protocolOf(result.url, 'EventSource'),
    };
}
