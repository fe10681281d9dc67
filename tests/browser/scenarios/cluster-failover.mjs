// A browser's EventSources through HAProxy over a cluster whose node dies: the page opens
// `sources` EventSources on one topic (HAProxy spreads them over the nodes), publishes
// `before` events (the first sets `retry: 100`, so a broken stream comes back quickly), then
// publishes on the `control` topic, which the test watches to SIGKILL a node. It waits
// `pauseMs`, publishes `after` more events, and waits until every source has them all.
//
// env: `topic`, `control`, `sources`, `before`, `after`, `pauseMs`, `waitMs`.
// Returns `{received: [[data...] per source], errors: [error events per source]}`.

import { installPageHelpers } from '../page-helpers.mjs';

export async function run(page, env) {
    await installPageHelpers(page, env);
    return page.evaluate(
        async ({ topic, control, sources, before, after, pauseMs }) => {
            const { within, opened } = globalThis.pageHelpers;
            const path = `/events/${topic}`;
            const total = before + after;
            const received = [];
            const errors = [];
            const complete = [];
            const streams = [];
            for (let i = 0; i < sources; i++) {
                const es = new EventSource(path);
                await opened(es, `EventSource ${i}`, path);
                received.push([]);
                errors.push(0);
                complete.push(
                    new Promise((resolve) => {
                        es.onmessage = (event) => {
                            received[i].push(event.data);
                            if (received[i].length >= total) resolve();
                        };
                    }),
                );
                // Errors are the browser reconnecting: counted, never fatal here.
                es.onerror = () => {
                    errors[i] += 1;
                };
                streams.push(es);
            }
            const publish = async (t, data, query = '') => {
                const response = await fetch(`/events/${t}${query}`, { method: 'POST', body: data });
                if (!response.ok) throw new Error(`POST ${t}: ${response.status} ${await response.text()}`);
            };
            const publishRetrying = async (t, data) => {
                // While HAProxy has not yet taken the dead node out, a publish may fail.
                for (let attempt = 0; ; attempt++) {
                    try {
                        return await publish(t, data);
                    } catch (e) {
                        if (attempt >= 50) throw e;
                        await new Promise((resolve) => setTimeout(resolve, 100));
                    }
                }
            };
            await publish(topic, 'e1', '?retry=100');
            for (let k = 2; k <= before; k++) await publish(topic, `e${k}`);
            const seen = () => received.every((r) => r.length >= before);
            await within('the first events on every source', (async () => {
                while (!seen()) await new Promise((resolve) => setTimeout(resolve, 20));
            })());
            await publish(control, 'kill now');
            await new Promise((resolve) => setTimeout(resolve, pauseMs));
            for (let k = before + 1; k <= total; k++) await publishRetrying(topic, `e${k}`);
            try {
                await within('every event on every source', Promise.all(complete));
            } finally {
                streams.forEach((es) => es.close());
            }
            return { received, errors };
        },
        {
            topic: env.topic,
            control: env.control,
            sources: Number(env.sources),
            before: Number(env.before),
            after: Number(env.after),
            pauseMs: Number(env.pauseMs),
        },
    );
}
