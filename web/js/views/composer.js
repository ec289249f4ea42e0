// The message box: Enter sends (Shift+Enter is a new line), the box grows with its text,
// a byte counter near the relay's limit, problems the page can see before sending, and
// typing signals to the room. It also edits one's sent messages (Up on an empty box edits the
// newest, as in Slack; Enter saves, Escape cancels) and writes replies (a line above the box
// says what the message answers, with a way to cancel).

import { utf8Length, validateText } from '../codec.js';
import { explainError, formatNumber, quoteOf } from '../format.js';

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
    /** The message being edited, `{room, m, draft}` (`draft`: the box before), or null. */
    this.editing = null;
  }

  bind() {
    const input = this.input;
    this.$.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#submit();
      input.focus();
    });
    input.addEventListener('keydown', (e) => {
      if (e.isComposing || e.keyCode === 229) return;
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.#submit();
      } else if (e.key === 'Escape' && this.#cancel()) {
        e.preventDefault();
        e.stopPropagation();
      } else if (e.key === 'ArrowUp' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && input.value === '' && !this.editing) {
        const room = this.app.rooms.get(this.app.active);
        if (room && this.app.actions.editLast(room)) e.preventDefault();
      }
    });
    this.$['composer-context-cancel'].addEventListener('click', () => {
      this.#cancel();
      input.focus();
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
    if (this.editing) {
      this.#saveEdit(text);
      return;
    }
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
    const replyTo = room.replyTo;
    room.replyTo = null;
    this.renderContext();
    this.app.send(room, text, replyTo);
  }

  /** Enter while editing: saves the new text; an emptied message asks to be deleted instead. */
  #saveEdit(text) {
    const { room, m } = this.editing;
    if (text.trim() !== '') {
      const problem = validateText(text, Number.MAX_SAFE_INTEGER);
      if (problem) {
        this.error(explainError(problem.code, problem.message));
        return;
      }
    }
    this.#endEdit();
    if (text.trim() === '') this.app.actions.confirmDelete(room, m.seq);
    else this.app.actions.saveEdit(room, m.seq, text);
  }

  /** Puts message `m` of `room` (one's own) in the box to edit; the draft waits meanwhile. */
  startEdit(room, m) {
    if (room.name !== this.app.active) return;
    const draft = this.editing ? this.editing.draft : this.input.value;
    this.editing = { room, m, draft };
    this.input.value = m.text;
    this.#changed();
    this.renderContext();
    this.input.focus();
    this.input.setSelectionRange(m.text.length, m.text.length);
  }

  /** Leaves edit mode, the draft back in the box. */
  #endEdit() {
    const { draft } = this.editing;
    this.editing = null;
    this.input.value = draft;
    this.#changed();
    this.renderContext();
  }

  /** Escape: ends an edit, else a reply. True if there was one. */
  #cancel() {
    if (this.editing) {
      this.#endEdit();
      return true;
    }
    const room = this.app.rooms.get(this.app.active);
    if (room?.replyTo == null) return false;
    room.replyTo = null;
    this.renderContext();
    return true;
  }

  /** Makes the next message a reply to `m` of `room` (the room in view). */
  replyTo(room, m) {
    if (room.name !== this.app.active) return;
    if (this.editing) this.#endEdit();
    room.replyTo = m.seq;
    this.renderContext();
    this.input.focus();
  }

  /**
   * A message changed (edited, deleted): an edit of it in progress ends if it is deleted, and
   * so does a reply to it (the relay takes no reply to a deleted message), saying why; a reply
   * to it shows it as it is now.
   */
  changed(room, m) {
    const active = room.name === this.app.active;
    if (this.editing?.m === m && m.deleted) {
      this.#endEdit();
      this.error({ title: 'The message you were editing was deleted.' });
    } else if (room.replyTo === m.seq && m.deleted) {
      room.replyTo = null;
      if (active) this.error({ title: 'The message you were replying to was deleted.' });
    }
    if (active) this.renderContext();
  }

  /** The line above the box: what is being edited or answered, with its cancel button. */
  renderContext() {
    const room = this.app.rooms.get(this.app.active);
    const bar = this.$['composer-context'];
    const label = this.$['composer-context-text'];
    const cancel = this.$['composer-context-cancel'];
    const target = room?.replyTo == null ? null : room.shown.get(room.replyTo);
    bar.hidden = !this.editing && !target;
    bar.dataset.kind = this.editing ? 'edit' : target ? 'reply' : '';
    if (this.editing) {
      label.textContent = 'Editing your message · Enter saves, Escape cancels';
      cancel.setAttribute('aria-label', 'Cancel editing');
    } else if (target) {
      label.textContent = `Replying to ${target.from}: ${quoteOf(target)}`;
      cancel.setAttribute('aria-label', 'Cancel reply');
    }
    this.$['send-button'].setAttribute('aria-label', this.editing ? 'Save edit' : 'Send message');
  }

  /** What the box holds for `room` going out of view (an edit in progress ends: its draft). */
  leave() {
    if (this.editing) this.#endEdit();
    return this.input.value;
  }

  #changed() {
    this.autosize();
    this.updateCounter();
    this.error(null);
  }

  #typed() {
    const room = this.app.rooms.get(this.app.active);
    if (!room?.joined || this.editing || this.input.value.trim() === '') return;
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
    this.renderContext();
  }

  /** A failed send's text back in the box, to edit (its reply target, if any, is the room's again). */
  edit(text) {
    if (this.editing) this.#endEdit();
    this.input.value = text;
    this.renderContext();
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
