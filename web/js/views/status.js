// What the person sees of the connection and the page around the rooms: the status pill and
// its round trip, the banner with its action, the nick button, the document title with the
// unread count, toasts, and the live regions screen readers announce from.

import { h, icon } from '../dom.js';
import { explainError, formatDelay, initials, nickHue } from '../format.js';
import { totalUnread } from '../rooms.js';
import { TRANSPORT_LABEL } from '../transport.js';

/** How long a toast stays unless dismissed. */
const TOAST_MS = 8000;

/** The top bar, the banner and the announcements. `app` gives the rooms, the room in view and the nick. */
export class StatusView {
  /** The countdown's interval while waiting to reconnect. */
  timer = null;
  /** Whether any session has opened: a later drop reads "lost", not "cannot reach". */
  everConnected = false;
  /** After a GoAway the relay is restarting until a session opens again. */
  relayRestarting = false;
  /** The last fatal error in words, for the banner. */
  fatalText = null;
  /** Whether that error was about the nick: the banner offers to change it. */
  nickProblem = false;
  /** The node id of the relay in service, from its Welcome. */
  relayName = null;
  /** The transport of the session in service, as people read it ("WebTransport"). */
  transportName = null;

  constructor(app) {
    this.app = app;
    this.$ = app.$;
  }

  /** A connection status event: the pill, the banner, and a countdown while waiting. */
  update(s) {
    clearInterval(this.timer);
    if (s.goAway) this.relayRestarting = true;
    if (s.state === 'open') this.relayRestarting = false;
    this.$.app.dataset.conn = s.state;
    if (s.state !== 'open') {
      this.$['conn-status'].title = '';
      delete this.$['conn-status'].dataset.rtt;
      delete this.$['conn-status'].dataset.transport;
    }
    const render = () => this.render(s);
    render();
    if (s.state === 'waiting') this.timer = setInterval(render, 1000);
  }

  render(s) {
    let pill;
    let banner = null;
    let action = null;
    if (s.state === 'open') {
      pill = 'Connected';
    } else if (s.state === 'connecting') {
      pill = this.everConnected ? 'Reconnecting…' : 'Connecting…';
      if (this.relayRestarting) banner = 'The relay is restarting. Reconnecting…';
      else if (this.everConnected) banner = 'Connection lost. Reconnecting…';
      else if (s.attempt > 1) banner = 'Connecting to the relay…';
    } else if (s.state === 'waiting') {
      const left = formatDelay(s.retryAt - Date.now());
      pill = 'Reconnecting…';
      banner = this.relayRestarting
        ? `The relay is restarting. Reconnecting in ${left}…`
        : this.everConnected
          ? `Connection lost. Reconnecting in ${left}…`
          : `Cannot reach the relay. Trying again in ${left}…`;
      action = 'Reconnect now';
    } else if (s.state === 'idle') {
      pill = 'Not connected';
    } else {
      pill = 'Offline';
      banner = this.fatalText ?? 'Disconnected.';
      action = this.nickProblem ? 'Change nick' : 'Reconnect';
    }
    this.$['conn-text'].textContent = pill;
    this.$['conn-status'].dataset.state = s.state;
    this.$.banner.hidden = banner === null;
    this.$['banner-text'].textContent = banner ?? '';
    this.$['banner-action'].hidden = action === null;
    this.$['banner-action'].textContent = action ?? '';
  }

  /** A session opened (Welcome) over `transport` (transport.js WEBTRANSPORT or WEBSOCKET). */
  welcome(welcome, transport) {
    this.everConnected = true;
    // How many sessions this page has opened: tells a reconnect from a session kept alive.
    this.$.app.dataset.sessions = String(Number(this.$.app.dataset.sessions ?? 0) + 1);
    this.fatalText = null;
    this.nickProblem = false;
    this.relayName = welcome.node_id;
    this.transportName = TRANSPORT_LABEL[transport] ?? transport;
    this.$['conn-status'].dataset.transport = transport;
    this.$['conn-status'].title = `Connected to ${welcome.node_id} over ${this.transportName}`;
  }

  /** A round trip measured by the connection's pings. */
  rtt(ms) {
    const rounded = Math.max(1, Math.round(ms));
    this.$['conn-status'].dataset.rtt = String(rounded);
    this.$['conn-status'].title = `Connected to ${this.relayName} over ${this.transportName} · round trip ${rounded} ms`;
  }

  /** The relay ended the session with an error: kept in words for the banner, and returned. */
  fatal({ code, message }) {
    const e = explainError(code, message);
    this.fatalText = [e.title, e.detail].filter(Boolean).join(' ');
    if (e.name === 'INVALID_NICK') this.nickProblem = true;
    return e;
  }

  renderNick() {
    const nick = this.app.nick;
    this.$['nick-label'].textContent = nick || 'Choose a nick';
    // Named by its visible text: the initials are drawn by CSS (data-initials).
    this.$['nick-avatar'].dataset.initials = nick ? initials(nick) : '?';
    this.$['nick-avatar'].style.setProperty('--hue', String(nickHue(nick || '?')));
  }

  renderTitle() {
    const unread = totalUnread(this.app.rooms.values());
    const active = this.app.active;
    const where = active ? `#${active} · ChitChat` : 'ChitChat';
    document.title = unread > 0 ? `(${unread}) ${where}` : where;
  }

  /** Said by screen readers once the current speech ends. */
  announce(text) {
    const el = this.$.announcer;
    el.textContent = '';
    // A fresh text node makes screen readers announce even a repeated line.
    setTimeout(() => (el.textContent = text), 30);
  }

  /** Said by screen readers at once. */
  alert(text) {
    this.$.alerts.textContent = text;
  }

  /** A note in the corner; `action` (`{label, run}`) adds a button that runs it and closes the note. */
  toast(text, kind = 'info', action = null) {
    const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      kind === 'error' ? icon('alert') : null,
      h('span', { text }),
      action ? h('button', { type: 'button', class: 'button small', text: action.label, on: { click: () => { t.remove(); action.run(); } } }) : null,
      h('button', { type: 'button', class: 'icon-button small', 'aria-label': 'Dismiss', on: { click: () => t.remove() } }, icon('close')),
    );
    this.$.toasts.append(t);
    setTimeout(() => t.remove(), TOAST_MS);
  }
}
