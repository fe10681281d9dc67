// Which HTTP version each response arrived over, as Chromium itself reports it (DevTools
// protocol, `Network.responseReceived`: "h2", "http/1.1", "h3"). Resource Timing's
// `nextHopProtocol` says the same, but only once a response has ended, and an event stream
// does not end: this sees it when the headers arrive.

/// Starts recording the page's responses; call before the requests it should see.
export async function recordProtocols(page) {
    const cdp = await page.context().newCDPSession(page);
    const seen = [];
    cdp.on('Network.responseReceived', ({ type, response }) => {
        seen.push({
            type,
            url: response.url,
            status: response.status,
            protocol: response.protocol,
            headers: response.headers,
        });
    });
    await cdp.send('Network.enable');
    return {
        /// Every response so far: `{type, url, status, protocol, headers}`, `type` as
        /// DevTools names it ("EventSource", "Fetch", "Document"...), `headers` an object of
        /// the response's header fields as Chromium received them.
        responses: () => [...seen],
        /// Waits (up to `ms`) until `count` responses of `type` were seen: DevTools events
        /// come over a channel of their own and may trail what the page has already read
        /// from those responses (seen under a loaded test run).
        until: async (type, count, ms = 5000) => {
            const deadline = Date.now() + ms;
            while (seen.filter((r) => r.type === type).length < count && Date.now() < deadline) {
                await new Promise((resolve) => setTimeout(resolve, 20));
            }
        },
        /// The protocol of the first response for `url` (absolute) of `type`, or null.
        protocolOf: (url, type) =>
            seen.find((r) => r.url === url && r.type === type)?.protocol ?? null,
    };
}
