// The Mercure hub from a page ssegate serves, same origin: the page subscribes with
// EventSource (anonymously), publishes with fetch and a bearer token, first a private
// update, then a public one; the private one must never reach the anonymous EventSource.
// Before that, the same publication without the token must be refused.
//
// env: `topic` (required), `token` (a publisher's access token, required), `waitMs`, a bound
// on each wait in the page (default 10000).
// Returns `{unauthorized, privateUpdate, publicUpdate, first, subscribeUrl, hubUrl,
// eventSourceProtocol, fetchProtocols}`: the three publication answers (`{status, text,
// contentType, wwwAuthenticate}`), the first message the EventSource received (`{data,
// lastEventId, type}`), and the protocols (DevTools: "h2", "http/1.1") of the EventSource's
// response and of every fetch to the hub.

import { installPageHelpers } from '../page-helpers.mjs';
import { recordProtocols } from '../protocols.mjs';

export async function run(page, env) {
    if (!env.topic || !env.token) throw new Error('env.topic and env.token are required');
    const protocols = await recordProtocols(page);
    await installPageHelpers(page, env);
    const result = await page.evaluate(
        async ({ topic, token }) => {
            const { within, opened } = globalThis.pageHelpers;
            const hubUrl = new URL('/.well-known/mercure', location.href).href;
            const subscribeUrl = `${hubUrl}?match=${encodeURIComponent(topic)}`;
            const es = new EventSource(subscribeUrl);
            // Listen from the start: an event may arrive before the fetch that sent it resolves.
            let first;
            const firstMessage = new Promise((resolve) => {
                es.onmessage = (event) => {
                    first ??= { data: event.data, lastEventId: event.lastEventId, type: event.type };
                    resolve(first);
                };
            });
            const publish = async (fields, withToken) => {
                const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
                if (withToken) headers.Authorization = `Bearer ${token}`;
                const response = await fetch('/.well-known/mercure', {
                    method: 'POST',
                    headers,
                    body: new URLSearchParams(fields),
                });
                return {
                    status: response.status,
                    text: await response.text(),
                    contentType: response.headers.get('content-type'),
                    wwwAuthenticate: response.headers.get('www-authenticate'),
                };
            };
            try {
                await opened(es, 'EventSource', subscribeUrl);
                // Publicly visible if it got through: it would then be the first message.
                const unauthorized = await publish(
                    [['topic', topic], ['data', 'published without a token']],
                    false,
                );
                const privateUpdate = await publish(
                    [['topic', topic], ['data', 'private update'], ['private', 'on']],
                    true,
                );
                const publicUpdate = await publish(
                    [['topic', topic], ['data', 'public update']],
                    true,
                );
                await within('message', firstMessage);
                return { unauthorized, privateUpdate, publicUpdate, first, subscribeUrl, hubUrl };
            } finally {
                es.close();
            }
        },
        { topic: env.topic, token: env.token },
    );
    await protocols.until('EventSource', 1);
    return {
        ...result,
        eventSourceProtocol: protocols.protocolOf(result.subscribeUrl, 'EventSource'),
        fetchProtocols: protocols
            .responses()
            .filter((r) => r.url === result.hubUrl && r.type === 'Fetch')
            .map((r) => r.protocol),
    };
}
