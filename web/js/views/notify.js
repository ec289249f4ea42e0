// Browser notifications of mentions: when a message mentions the person (or comes in a
// direct-message room) while the page is hidden, a notification says who wrote where, and a
// click on it brings the room into view. Only with the person's permission, asked for by a
// button in the room list, never on its own.

import { displayText } from '../format.js';

/** The longest notification body, in characters: a glance, not the message. */
const BODY_CHARS = 160;

/** Notifications of mentions. `app` shows rooms (`show(name)`) and holds the button. */
export class Notifier {
  constructor(app) {
    this.app = app;
    this.button = app.$['notify-button'];
  }

  /** Whether this browser has notifications at all. */
  get supported() {
    return typeof Notification === 'function';
  }

  bind() {
    this.button.addEventListener('click', async () => {
      if (!this.supported) return;
      try {
        await Notification.requestPermission();
      } catch {
        // Refused or unavailable: the button says so below.
      }
      this.render();
    });
    this.render();
  }

  /** The button: offered while the person has not decided; gone once they have. */
  render() {
    const ask = this.supported && Notification.permission === 'default';
    this.button.hidden = !ask;
  }

  /** Tells the person of `m` in `room` if it mentions them and the page is out of sight. */
  notify(room, m) {
    if (!this.supported || Notification.permission !== 'granted' || !document.hidden) return;
    const text = displayText(m.text).replace(/\s+/g, ' ');
    const body = text.length > BODY_CHARS ? `${text.slice(0, BODY_CHARS - 1)}…` : text;
    try {
      const note = new Notification(`${m.from} in #${room.name}`, { body, tag: `chitchat:${room.name}` });
      note.addEventListener('click', () => {
        window.focus();
        this.app.show(room.name);
        this.app.sidebar.renderRoomList();
        note.close();
      });
    } catch {
      // Some browsers allow notifications only from a service worker: nothing to show.
    }
  }
}
