// Sign-in for relays in token mode (the config's `auth.mode` is "jwt"): where the page gets
// the token it puts in Hello, and fresh ones. It knows HTTP and tokens, not the page: the
// sign-in view (views/signin.js) shows what it reports.
//
// The token URL (the relay's --auth-token-url, the operator's endpoint) is fetched with the
// browser's cookies (`credentials: 'include'`). It answers 200 with JSON `{"token": "..."}`
// (any other fields are ignored) or with the bare token as a text body; 401 or 403 means the
// person is not signed in there, and the page says "Sign in". With `auth.dev_login` the page
// can instead ask a name and POST it to /auth/dev-login (development only), which answers
// `{"token", "nick", "expires_ms"}`.
//
// The relay warns before a token expires (TokenExpiring); half the time left later the page
// fetches a fresh one and sends Refresh on the live session: rooms go on streaming. A session
// the relay closed with TOKEN_EXPIRED reconnects (connection.js) and asks for a token again,
// which is fetched fresh because the one held has expired. While the token URL fails (not
// with 401/403: an outage), `expired` says so and the connection keeps trying with backoff;
// the first session to open again reports `renewed`.
//
// Events (CustomEvent, details in brackets):
//   signin   {reason}      no token can be had without the person: show the sign-in view
//   expired  {reason}      the sign-in expired and no fresh token could be had yet
//   renewed  {}            a session opened again after `expired`

import { ErrorCode } from './codec.js';
import { RequestError } from './connection.js';

/** A held token this close to its expiry is not used to open a session: a fresh one is fetched. */
const FRESH_MARGIN_MS = 5_000;

/** How long the token URL may take to answer. */
const FETCH_TIMEOUT_MS = 10_000;

/** The longest token a relay takes (MAX_TOKEN_LEN in docs/protocol.md). */
const MAX_TOKEN_LEN = 4096;

/** Where the development sign-in's name is kept for this tab, so a reload signs in again. */
const DEV_NAME_KEY = 'chitchat.devLoginName';

/** When a JWT expires (ms since the Unix epoch), read from its payload; null if it does not say. */
export function tokenExpiry(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '=')));
    return Number.isFinite(claims.exp) ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

/** A refusal that needs the person: the connection stops until they sign in. */
function needsSignIn(message) {
  return new RequestError(ErrorCode.UNAUTHORIZED, message);
}

export class Auth extends EventTarget {
  /** @param {object} [auth]  the config's `auth`: {mode, token_url, dev_login} */
  constructor(auth = {}) {
    super();
    this.mode = auth?.mode ?? 'open';
    this.tokenUrl = auth?.token_url ?? null;
    this.devLogin = Boolean(auth?.dev_login);
    /** The token held, or null. */
    this.current = null;
    this.devName = sessionStorage.getItem(DEV_NAME_KEY);
    this.refreshTimer = null;
    /**
     * Whether the sign-in expired (TOKEN_EXPIRED, or the token held ran out) and no session
     * opened since.
     */
    this.expired = false;
  }

  /** Whether the relay wants tokens. */
  get enabled() {
    return this.mode === 'jwt';
  }

  /**
   * The token to open a session with (Connection's `getToken`): the one held while it is
   * fresh, else a new one. Rejects with an UNAUTHORIZED RequestError when the person must
   * sign in (the connection then stops) after reporting `signin`.
   */
  async token() {
    const expires = this.current ? tokenExpiry(this.current) : null;
    if (this.current && (expires === null || expires - Date.now() > FRESH_MARGIN_MS)) return this.current;
    // The token held has run out: the sign-in expired, whether or not TOKEN_EXPIRED came
    // through before the session ended.
    if (expires !== null && expires <= Date.now()) this.expired = true;
    return this.fetchToken();
  }

  /** A fresh token from the token URL (or the development sign-in), held from now on. */
  async fetchToken() {
    let token;
    try {
      if (this.tokenUrl) token = await this.#fromTokenUrl();
      else if (this.devLogin && this.devName) token = (await this.#devLoginRequest(this.devName)).token;
      else throw needsSignIn(this.devLogin ? 'Sign in with a name to chat here.' : 'This relay needs a sign-in, and the page has no token URL.');
    } catch (e) {
      if (e instanceof RequestError && e.code === ErrorCode.UNAUTHORIZED) {
        this.current = null;
        this.#emit('signin', { reason: e.message });
      } else if (this.expired) {
        this.#emit('expired', { reason: e.message });
      }
      throw e;
    }
    this.current = token;
    return token;
  }

  /** Development sign-in: a token for `name` from the relay's /auth/dev-login. */
  async signInAs(name) {
    const answer = await this.#devLoginRequest(name);
    this.devName = name;
    sessionStorage.setItem(DEV_NAME_KEY, name);
    this.current = answer.token;
    return answer;
  }

  /** Tries the token URL again (after the person signed in there). */
  async retry() {
    this.current = null;
    await this.fetchToken();
  }

  /**
   * Refreshes `conn`'s session when the relay warns that its token is expiring, and follows
   * a session closed with TOKEN_EXPIRED until one opens again.
   */
  attach(conn) {
    conn.addEventListener('tokenexpiring', (e) => {
      clearTimeout(this.refreshTimer);
      const wait = Math.max(0, (e.detail.expires_ms - Date.now()) / 2);
      this.refreshTimer = setTimeout(() => this.#refresh(conn), wait);
    });
    conn.addEventListener('fatal', (e) => {
      if (e.detail.code !== ErrorCode.TOKEN_EXPIRED) return;
      clearTimeout(this.refreshTimer);
      this.expired = true;
      this.current = null;
    });
    conn.addEventListener('welcome', () => {
      if (!this.expired) return;
      this.expired = false;
      this.#emit('renewed', {});
    });
  }

  async #refresh(conn) {
    if (!conn.isOpen) return;
    try {
      const token = await this.fetchToken();
      await conn.request('Refresh', { token });
    } catch (e) {
      // A refused Refresh ends the session (UNAUTHORIZED); the connection reports that. A
      // token URL that failed leaves the session to expire and reconnect.
      console.warn('token refresh failed:', e?.message ?? e);
    }
  }

  async #fromTokenUrl() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
    let res;
    try {
      res = await fetch(this.tokenUrl, { credentials: 'include', cache: 'no-store', signal: abort.signal });
    } catch (e) {
      throw new Error(`cannot reach the sign-in service: ${e.message}`);
    } finally {
      clearTimeout(timer);
    }
    if (res.status === 401 || res.status === 403) throw needsSignIn('Sign in to chat here.');
    if (!res.ok) throw new Error(`the sign-in service answered ${res.status}`);
    const type = res.headers.get('content-type') ?? '';
    const token = type.includes('json') ? (await res.json())?.token : (await res.text()).trim();
    return checked(token, 'the sign-in service');
  }

  async #devLoginRequest(name) {
    const res = await fetch('/auth/dev-login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
      cache: 'no-store',
    });
    if (!res.ok) {
      const why = (await res.text()).trim() || `answered ${res.status}`;
      throw needsSignIn(`Development sign-in refused: ${why}`);
    }
    const answer = await res.json();
    checked(answer?.token, 'the development sign-in');
    return answer;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** A token as the relay will take it, or an error naming where it came from. */
function checked(token, from) {
  if (typeof token !== 'string' || token === '') throw new Error(`${from} gave no token`);
  if (token.length > MAX_TOKEN_LEN) throw new Error(`${from} gave a token of ${token.length} bytes; the most is ${MAX_TOKEN_LEN}`);
  return token;
}
