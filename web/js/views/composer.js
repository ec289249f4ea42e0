// The message box: Enter sends (Shift+Enter is a new line), the box grows with its text,
// a byte counter near the relay's limit, problems the page can see before sending, and
// typing signals to the room.

import { utf8Length, validateText } from '../codec.js';
import { explainError, formatNumber } from '../format.js';

/** Send a typing signal at most this often while the person types. */
const TYPING_SEND_MS = 2_000;

/** The counter appears once a draft passes this share of the size limit. */
const COUNTER_FROM = 0.8;

/** The tallest the box grows, in pixels; beyond it the text scrolls. */
const MAX_HEIGHT_PX = 200;

/** The composer. `app` gives the room in view, the limits, the connection and `send`. */
export class ComposerView {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
    this.input = app.$['composer-input'];
    /** room -> when this page last said it was typing there. */
    this.lastTyping = new Map();
  }

  bind() {
    const input = this.input;
    this.$.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#submit();
      input.focus();
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        this.#submit();
      }
    });
    input.addEventListener('input', () => {
      this.autosize();
      this.updateCounter();
      this.error(null);
      this.#typed();
    });
  }

  #submit() {
    const room = this.app.rooms.get(this.app.active);
    const input = this.input;
    const text = input.value;
    if (!room || text.trim() === '') return;
    // Too long goes to the relay, which is the authority on its limits and says so; other
    // problems (control characters) are caught here.
    const problem = validateText(text, Number.MAX_SAFE_INTEGER);
    if (problem) {
      this.error(explainError(problem.code, problem.message));
      return;
    }
    input.value = '';
    room.draft = '';
    // Others stop showing "typing" when the message arrives: the next keystroke says so again.
    this.lastTyping.delete(room.name);
    this.autosize();
    this.updateCounter();
    this.error(null);
    this.app.send(room, text);
  }

  #typed() {
    const room = this.app.rooms.get(this.app.active);
    if (!room?.joined || this.input.value.trim() === '') return;
    const now = Date.now();
    if (now - (this.lastTyping.get(room.name) ?? 0) < TYPING_SEND_MS) return;
    this.lastTyping.set(room.name, now);
    this.app.conn.sendTyping(room.name);
  }

  /** The box for `room`: its draft and its name. */
  show(room) {
    const input = this.input;
    input.value = room.draft;
    input.placeholder = `Message #${room.name}`;
    input.setAttribute('aria-label', `Message #${room.name}`);
    this.autosize();
  }

  /** A failed send's text back in the box, to edit. */
  edit(text) {
    this.input.value = text;
    this.autosize();
    this.updateCounter();
    this.input.focus();
  }

  focus() {
    this.input.focus();
  }

  error(e) {
    const box = this.$['composer-error'];
    box.hidden = !e;
    box.textContent = e ? [e.title, e.detail].filter(Boolean).join(' ') : '';
  }

  updateCounter() {
    const counter = this.$.counter;
    const max = this.app.limits?.max_text_bytes;
    const bytes = utf8Length(this.input.value);
    if (!max || bytes < max * COUNTER_FROM) {
      counter.hidden = true;
      counter.classList.remove('over');
      return;
    }
    counter.hidden = false;
    const over = bytes > max;
    counter.classList.toggle('over', over);
    counter.textContent = over
      ? `${formatNumber(bytes - max)} bytes too long`
      : `${formatNumber(max - bytes)} bytes left`;
  }

  autosize() {
    const input = this.input;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, MAX_HEIGHT_PX)}px`;
  }
}
