// The native API in a real browser: the page ssegate serves subscribes with EventSource,
// publishes with fetch, and receives its own event, all over HTTP/2.
//
// env: `topic` (default "browser-test"), `body` (default "hello from chromium"),
// `waitMs`, a bound on each wait in the page (default 10000).
// Returns `{data, protocol, eventSourceProtocol}`: the event's data, the fetch's
// `nextHopProtocol` (Resource Timing) and the protocol the EventSource's response came over.

import { installPageHelpers } from '../page-helpers.mjs';
import { recordProtocols } from '../protocols.mjs';

export async function run(page, env) {
    const path = `/events/${env.topic ?? 'browser-test'}`;
    const protocols = await recordProtocols(page);
    await installPageHelpers(page, env);
    const result = await page.evaluate(
        async ({ path, body }) => {
            const { within, opened } = globalThis.pageHelpers;
            const url = new URL(path, location.href).href;
            const es = new EventSource(path);
            try {
                await opened(es, 'EventSource', path);
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
        { path, body: env.body ?? 'hello from chromium' },
    );
    await protocols.until('EventSource', 1);
    return {
        data: result.data,
        protocol: result.protocol,
        eventSourceProtocol: protocols.protocolOf(result.url, 'EventSource'),
    };
}
