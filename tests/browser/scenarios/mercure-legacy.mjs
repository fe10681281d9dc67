// A pre-1.0 Mercure client in a real browser: the page subscribes with EventSource and a
// `topic=` URI template, authorized by the `mercureAuthorization` cookie (pre-1.0 hubs'
// cookie, set here as a web app's script would), then publishes with fetch and a pre-1.0
// bearer token, and collects what the EventSource receives.
//
// env: `selector` (the `topic` value), `cookieToken` (the subscriber's JWT), `publishToken`
// (the publisher's JWT), `updates` (a JSON array of `{topics, data, private}`, published in
// order; the last one must reach the page, which stops listening when it does), `waitMs`, a
// bound on each wait in the page (default 10000).
// Returns `{received: [{data, id}], ids, url, eventSourceProtocol}`: the messages in arrival
// order, the ids the hub answered to each publication, the EventSource's URL and the
// protocol its response came over.

import { installPageHelpers } from '../page-helpers.mjs';
import { recordProtocols } from '../protocols.mjs';

export async function run(page, env) {
    const protocols = await recordProtocols(page);
    await installPageHelpers(page, env);
    const result = await page.evaluate(
        async ({ selector, cookieToken, publishToken, updates }) => {
            const { within, opened } = globalThis.pageHelpers;
            const hub = '/.well-known/mercure';
            document.cookie = `mercureAuthorization=${cookieToken}; Path=${hub}; Secure; SameSite=Strict`;
            const path = `${hub}?topic=${encodeURIComponent(selector)}`;
            const url = new URL(path, location.href).href;
            const es = new EventSource(path);
            try {
                await opened(es, 'EventSource', path);
                // Listen before publishing: an event may arrive before fetch resolves.
                const last = updates[updates.length - 1].data;
                const received = [];
                const done = new Promise((resolve) => {
                    es.onmessage = (event) => {
                        received.push({ data: event.data, id: event.lastEventId });
                        if (event.data === last) resolve();
                    };
                });
                const ids = [];
                for (const update of updates) {
                    const body = new URLSearchParams();
                    for (const topic of update.topics) body.append('topic', topic);
                    body.append('data', update.data);
                    if (update.private) body.append('private', 'on');
                    const response = await fetch(hub, {
                        method: 'POST',
                        headers: { Authorization: `Bearer ${publishToken}` },
                        body,
                    });
                    const text = await response.text();
                    if (!response.ok) throw new Error(`POST ${hub}: ${response.status} ${text}`);
                    ids.push(text);
                }
                await within('last update', done);
                return { received, ids, url };
            } finally {
                es.close();
            }
        },
        {
            selector: env.selector,
            cookieToken: env.cookieToken,
            publishToken: env.publishToken,
            updates: JSON.parse(env.updates),
        },
    );
    await protocols.until('EventSource', 1);
    return { ...result, eventSourceProtocol: protocols.protocolOf(result.url, 'EventSource') };
}
