// The hub from another origin with bearer tokens and no cookie, as a page using an
// EventSource polyfill does: the subscription is a `fetch` with an `Authorization` header
// whose body is read as a stream, the publication a `fetch` POST with one. Both are
// preflighted (the header is not CORS-safelisted), so the hub must answer the OPTIONS
// requests for its allowed origin. The page publishes a private update its subscriber
// token grants, and must receive it on the stream.
//
// env (all required but `waitMs`): `hubUrl` (another origin than the page's), `topic`,
// `subscriberToken`, `publisherToken`; `waitMs`, a bound on each wait (default 10000).
// Returns `{subscribeStatus, contentType, publication: {status, text}, event: {id, data},
// preflights, protocols}`: `preflights` are the statuses DevTools saw for the OPTIONS
// requests, `protocols` those of the two requests.

import { installPageHelpers } from '../page-helpers.mjs';
import { recordProtocols } from '../protocols.mjs';

export async function run(page, env) {
    for (const key of ['hubUrl', 'topic', 'subscriberToken', 'publisherToken']) {
        if (!env[key]) throw new Error(`env.${key} is required`);
    }
    const protocols = await recordProtocols(page);
    await installPageHelpers(page, env);
    const result = await page.evaluate(
        async ({ hubUrl, topic, subscriberToken, publisherToken }) => {
            const { within } = globalThis.pageHelpers;
            const subscribeUrl = `${hubUrl}?match=${encodeURIComponent(topic)}`;
            const controller = new AbortController();
            try {
                const stream = await within(
                    'subscription headers',
                    fetch(subscribeUrl, {
                        headers: { Authorization: `Bearer ${subscriberToken}` },
                        signal: controller.signal,
                    }),
                );
                if (!stream.ok) throw new Error(`GET ${subscribeUrl}: ${stream.status}`);
                // The first event with data: SSE parsed just enough (comments, `id`, `data`).
                const firstEvent = (async () => {
                    const reader = stream.body.pipeThrough(new TextDecoderStream()).getReader();
                    let buffer = '';
                    for (;;) {
                        const { value, done } = await reader.read();
                        if (done) throw new Error('the stream ended');
                        buffer += value.replace(/\r\n?/g, '\n');
                        let end;
                        while ((end = buffer.indexOf('\n\n')) !== -1) {
                            const block = buffer.slice(0, end);
                            buffer = buffer.slice(end + 2);
                            const event = { id: null, data: [] };
                            for (const line of block.split('\n')) {
                                const [, field, text] = line.match(/^([^:]*)(?::\s?(.*))?$/) ?? [];
                                if (field === 'id') event.id = text ?? '';
                                if (field === 'data') event.data.push(text ?? '');
                            }
                            if (event.data.length) return { id: event.id, data: event.data.join('\n') };
                        }
                    }
                })();
                const response = await within(
                    'publication answer',
                    fetch(hubUrl, {
                        method: 'POST',
                        headers: {
                            Authorization: `Bearer ${publisherToken}`,
                            'Content-Type': 'application/x-www-form-urlencoded',
                        },
                        body: new URLSearchParams([
                            ['topic', topic],
                            ['data', 'private, by header token'],
                            ['private', 'on'],
                        ]),
                    }),
                );
                const publication = { status: response.status, text: await response.text() };
                const event = await within('event on the stream', firstEvent);
                return {
                    subscribeStatus: stream.status,
                    contentType: stream.headers.get('content-type'),
                    publication,
                    event,
                    subscribeUrl,
                };
            } finally {
                controller.abort();
            }
        },
        {
            hubUrl: env.hubUrl,
            topic: env.topic,
            subscriberToken: env.subscriberToken,
            publisherToken: env.publisherToken,
        },
    );
    const responses = protocols.responses();
    return {
        ...result,
        preflights: responses.filter((r) => r.type === 'Preflight').map((r) => r.status),
        protocols: [result.subscribeUrl, env.hubUrl].map((url) => protocols.protocolOf(url, 'Fetch')),
    };
}
