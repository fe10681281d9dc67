// A subscriber authorized by the access token cookie, from another origin of the same site
// (an app at example.com, its hub at hub.example.com): the hub's host holds an HttpOnly,
// SameSite=Strict `__Secure-` cookie (as the app's login would set it), and the page opens
// two EventSources on the hub: one with credentials (the cookie goes along; the hub must
// answer CORS with the page's origin and credentials allowed) and one without (anonymous).
// The test publishes while they are open.
//
// Across sites (say a page on localhost, the hub on 127.0.0.1) this Chromium, in the context
// Playwright makes, withholds the cookie even with SameSite=None: third-party cookies are
// blocked there ("UserPreferences" in `cookies[].blockedReasons`).
//
// env (all required but `waitMs`):
//   hubUrl      the hub's URL, on another origin than the page's but the same site
//   match       the subscription's `match` values, as a JSON array
//   cookieName  the access token cookie's name
//   token       its value
//   waitMs      a bound on each wait in the page (default 10000)
// Returns `{credentialed, anonymous, subscribeUrl, pageOrigin, cookies, responses}`: the
// data of the first two messages of the credentialed EventSource and of the first message of
// the anonymous one; for each EventSource request, what Chromium did with the cookie
// (`{url, sent, blockedReasons}`); and DevTools' record of the EventSources' responses
// (`{url, status, protocol, headers}`).

import { installPageHelpers } from '../page-helpers.mjs';
import { recordProtocols } from '../protocols.mjs';

export async function run(page, env) {
    for (const key of ['hubUrl', 'match', 'cookieName', 'token']) {
        if (!env[key]) throw new Error(`env.${key} is required`);
    }
    const hub = new URL(env.hubUrl);
    await page.context().addCookies([
        {
            name: env.cookieName,
            value: env.token,
            domain: hub.hostname,
            path: hub.pathname,
            secure: true,
            httpOnly: true,
            // Sent on cross-origin requests from the same site only (sites ignore ports).
            sameSite: 'Strict',
        },
    ]);
    const protocols = await recordProtocols(page);
    const cookies = await recordCookies(page, env.cookieName);
    await installPageHelpers(page, env);
    const result = await page
        .evaluate(
        async ({ hubUrl, match }) => {
            const { within, opened } = globalThis.pageHelpers;
            const url = new URL(hubUrl);
            for (const m of match) url.searchParams.append('match', m);
            const subscribeUrl = url.href;
            // Resolves once `count` messages have arrived on `es`, with their data; `so far`
            // names what came, for the error when not all do.
            const collect = (es, count) => {
                const data = [];
                const done = new Promise((resolve) => {
                    es.onmessage = (event) => {
                        data.push(event.data);
                        if (data.length === count) resolve(data);
                    };
                });
                return { done, soFar: () => JSON.stringify(data) };
            };
            const credentialedEs = new EventSource(subscribeUrl, { withCredentials: true });
            const anonymousEs = new EventSource(subscribeUrl);
            try {
                const credentialedMessages = collect(credentialedEs, 2);
                const anonymousMessages = collect(anonymousEs, 1);
                await Promise.all([
                    opened(credentialedEs, 'credentialed EventSource', subscribeUrl),
                    opened(anonymousEs, 'anonymous EventSource', subscribeUrl),
                ]);
                // The test publishes once both subscriptions are open at the hub.
                const [credentialed, anonymous] = await Promise.all([
                    within('2 messages on the credentialed EventSource', credentialedMessages.done),
                    within('a message on the anonymous EventSource', anonymousMessages.done),
                ]).catch((err) => {
                    throw new Error(
                        `${err.message}; credentialed got ${credentialedMessages.soFar()}, ` +
                            `anonymous got ${anonymousMessages.soFar()}`,
                    );
                });
                return { credentialed, anonymous, subscribeUrl, pageOrigin: location.origin };
            } finally {
                credentialedEs.close();
                anonymousEs.close();
            }
        },
        { hubUrl: env.hubUrl, match: JSON.parse(env.match) },
        )
        .catch((err) => {
            throw new Error(`${err.message}\ncookie per EventSource request: ${JSON.stringify(cookies.sent())}`);
        });
    await protocols.until('EventSource', 2);
    return {
        ...result,
        cookies: cookies.sent(),
        responses: protocols
            .responses()
            .filter((r) => r.type === 'EventSource')
            .map(({ url, status, protocol, headers }) => ({ url, status, protocol, headers })),
    };
}

// What Chromium did with the cookie `name` on each EventSource request (DevTools protocol:
// `Network.requestWillBeSentExtraInfo` lists the cookies it considered, with the reasons it
// withheld any): a failure then says "blocked because ...", not just "no message".
async function recordCookies(page, name) {
    const cdp = await page.context().newCDPSession(page);
    const urls = new Map();
    const extra = new Map();
    cdp.on('Network.requestWillBeSent', ({ requestId, type, request }) => {
        if (type === 'EventSource') urls.set(requestId, request.url);
    });
    cdp.on('Network.requestWillBeSentExtraInfo', ({ requestId, associatedCookies }) => {
        const mine = associatedCookies.find((c) => c.cookie.name === name);
        extra.set(requestId, {
            sent: Boolean(mine) && mine.blockedReasons.length === 0,
            blockedReasons: mine ? mine.blockedReasons : [],
        });
    });
    await cdp.send('Network.enable');
    return {
        sent: () =>
            [...urls].map(([requestId, url]) => ({
                url,
                ...(extra.get(requestId) ?? { sent: null, blockedReasons: [] }),
            })),
    };
}
