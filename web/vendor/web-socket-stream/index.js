/** A ponyfill/polyfill for the WHATWG [`WebSocketStream`][spec] API.
 *
 * `WebSocketStream` exposes a WebSocket as a pair of streams —
 * `{ readable, writable }` — with backpressure on the writable. It currently
 * ships only in Chromium. This package wraps a plain `WebSocket` to present the
 * same surface (`opened`, `closed`, `close()`), applying write backpressure by
 * polling `bufferedAmount` against a configurable high-water mark.
 *
 * Note: a ponyfill can only *approximate* backpressure via `bufferedAmount`;
 * the native API observes the real send buffer. When the native API is present,
 * prefer it via {@link openWebSocketStream}.
 *
 * [spec]: https://github.com/ricea/websocketstream-explainer
 */
const CONNECTING = 0;
const OPEN = 1;
const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
/** WebSocket close codes outside 1000 / 3000–4999 are rejected by `close()`. */
function validCloseCode(code) {
    return code !== undefined && (code === 1000 || (code >= 3000 && code <= 4999));
}
/** Resolve once `bufferedAmount` drains below the mark (write backpressure).
 *  The mark is read live via `highWaterMark()` on every check, so a runtime
 *  resize (see {@link WebSocketStream.setHighWaterMark}) takes effect mid-drain.
 *  Returns `undefined` synchronously when there's already room — no microtask
 *  on the hot path, so `writer.ready` stays resolved when the socket is keeping up. */
function drain(ws, highWaterMark) {
    if (ws.bufferedAmount <= highWaterMark())
        return undefined;
    return (async () => {
        while (ws.bufferedAmount > highWaterMark()) {
            // The socket closed mid-write: reject so the failure propagates rather
            // than resolving the write as if it had succeeded.
            if (ws.readyState > OPEN)
                throw new Error("WebSocket is closing");
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
    })();
}
/** A `WebSocketStream` implemented over a plain `WebSocket`. */
export class WebSocketStream {
    url;
    opened;
    closed;
    #ws;
    #highWaterMark;
    /** Dial `url`, or wrap a socket you already have (see {@link WebSocketStream.adopt}). */
    constructor(source, options = {}) {
        let ws;
        if (typeof source === "string") {
            const Ctor = options.webSocket ?? globalThis.WebSocket;
            if (!Ctor) {
                throw new Error("No WebSocket implementation found; pass options.webSocket");
            }
            ws = new Ctor(source, options.protocols);
            this.url = source;
        }
        else {
            ws = source;
            this.url = source.url ?? "";
        }
        ws.binaryType = "arraybuffer";
        this.#ws = ws;
        this.#highWaterMark = Math.max(1, Math.floor(options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK));
        const opened = Promise.withResolvers();
        const closed = Promise.withResolvers();
        this.opened = opened.promise;
        this.closed = closed.promise;
        // Avoid unhandled-rejection noise if a caller only awaits `closed`.
        this.opened.catch(() => { });
        let controller;
        const readable = new ReadableStream({
            start: (c) => {
                controller = c;
            },
            cancel: () => ws.close(),
        });
        const writable = new WritableStream({
            write: (chunk) => {
                ws.send(chunk);
                return drain(ws, () => this.#highWaterMark);
            },
            // A WebSocket has no half-close, so closing/aborting the writable closes
            // the whole socket. Without this, `writer.close()` would leave it open.
            close: () => ws.close(),
            abort: () => ws.close(),
        });
        ws.onopen = () => {
            opened.resolve({ readable, writable, extensions: ws.extensions, protocol: ws.protocol });
        };
        ws.onmessage = (event) => {
            const data = event.data;
            if (typeof data === "string") {
                controller?.enqueue(data);
            }
            else if (data instanceof ArrayBuffer) {
                controller?.enqueue(new Uint8Array(data));
            }
            else if (ArrayBuffer.isView(data)) {
                const view = data;
                controller?.enqueue(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
            }
        };
        ws.onerror = () => {
            const err = new Error("WebSocket connection error");
            opened.reject(err);
            try {
                controller?.error(err);
            }
            catch { }
        };
        ws.onclose = (event) => {
            opened.reject(new Error("WebSocket closed before opening"));
            try {
                controller?.close();
            }
            catch { }
            closed.resolve({ closeCode: event.code ?? 1006, reason: event.reason ?? "" });
        };
        // An adopted socket may already have finished (or missed) its handshake, in
        // which case `onopen`/`onclose` will never fire — settle from readyState.
        if (ws.readyState !== CONNECTING) {
            if (ws.readyState === OPEN) {
                opened.resolve({ readable, writable, extensions: ws.extensions, protocol: ws.protocol });
            }
            else {
                opened.reject(new Error("WebSocket is already closed"));
                try {
                    controller?.close();
                }
                catch { }
                closed.resolve({ closeCode: 1006, reason: "" });
            }
        }
        const { signal } = options;
        if (signal) {
            if (signal.aborted)
                ws.close();
            else
                signal.addEventListener("abort", () => ws.close(), { once: true });
        }
    }
    /** Wrap a socket that already exists — typically one a server accepted from an
     *  HTTP upgrade (`Deno.upgradeWebSocket`, `ws`, ...), where there is no URL to
     *  dial and the handshake (including subprotocol selection) is already done.
     *
     *  Ownership transfers: this overwrites the socket's `onopen`/`onmessage`/
     *  `onerror`/`onclose` handlers, so adopt it before anything else reads from
     *  it — messages delivered before adoption are dropped by the platform, not
     *  buffered. A socket that is already open resolves {@link opened} without
     *  waiting for an `onopen` that has already fired (or was never going to).
     *
     *  `options.protocols` and `options.webSocket` are ignored; the socket exists. */
    static adopt(ws, options = {}) {
        return new WebSocketStream(ws, options);
    }
    close(closeInfo = {}) {
        if (validCloseCode(closeInfo.closeCode)) {
            this.#ws.close(closeInfo.closeCode, closeInfo.reason);
        }
        else {
            // A reason can't be sent without a valid code, so drop both.
            this.#ws.close();
        }
    }
    /** The current write-backpressure high-water mark, in bytes. */
    get highWaterMark() {
        return this.#highWaterMark;
    }
    /** Resize the write-backpressure high-water mark at runtime (bytes).
     *
     * Set this to roughly the bandwidth-delay product (RTT × estimated
     * throughput): large enough to keep the socket busy, small enough that
     * queued bytes can still be reprioritized rather than committed to the OS
     * send buffer. Takes effect immediately, including for an in-progress drain.
     * Clamped to a minimum of 1 byte. */
    setHighWaterMark(bytes) {
        this.#highWaterMark = Math.max(1, Math.floor(bytes));
    }
}
/** Open a `WebSocketStream`, preferring the native API when available and
 *  falling back to the {@link WebSocketStream} ponyfill otherwise. Passing
 *  `options.webSocket` forces the ponyfill (the native API can't use an injected
 *  socket). */
export function openWebSocketStream(url, options = {}) {
    const href = typeof url === "string" ? url : url.toString();
    const Native = globalThis.WebSocketStream;
    // Only delegate to a *genuinely* native global — if `install()` put this very
    // ponyfill on the global, fall through so ponyfill-only options (e.g.
    // highWaterMark) aren't dropped on the floor.
    if (Native && Native !== WebSocketStream && !options.webSocket) {
        const native = new Native(href, { protocols: options.protocols, signal: options.signal });
        return {
            url: native.url,
            opened: native.opened.then((event) => ({
                ...event,
                readable: event.readable.pipeThrough(new TransformStream({
                    transform(chunk, controller) {
                        controller.enqueue(chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : chunk);
                    },
                })),
            })),
            closed: native.closed,
            close: (closeInfo) => native.close(closeInfo),
        };
    }
    return new WebSocketStream(href, options);
}
/** Install {@link WebSocketStream} as the global `WebSocketStream` if the
 *  platform doesn't ship one. Returns `true` if installed, `false` if a native
 *  (or previously installed) implementation already existed. */
export function install() {
    if ("WebSocketStream" in globalThis)
        return false;
    globalThis.WebSocketStream = WebSocketStream;
    return true;
}
export default WebSocketStream;
