import Session from "./session.js";
export { SessionError, StreamError } from "./error.js";
export { selectSubprotocol } from "./session.js";
/** Install `Session` as the global `WebTransport` if the platform doesn't ship one.
 *
 * The `versions` map and `requireProtocol` flag are forwarded to every
 * `Session` constructed via the polyfill. Callers that pass only explicit
 * `{qmux-VV}.{alpn}` pairs in their `protocols` list can omit the map.
 *
 * Returns `true` if the polyfill was installed, `false` if `globalThis.WebTransport`
 * already existed.
 */
export function install(options) {
    if ("WebTransport" in globalThis)
        return false;
    const versions = options?.versions;
    const requireProtocol = options?.requireProtocol;
    // biome-ignore lint/suspicious/noExplicitAny: polyfill — extending Session to match the WebTransport constructor signature
    globalThis.WebTransport = class extends Session {
        constructor(url, options) {
            super(url, { ...options, versions, requireProtocol });
        }
    };
    return true;
}
export default Session;
