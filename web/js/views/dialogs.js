// The nick dialog: asked for on the first visit (with no way around it), opened from the nick
// button to change the nick, and again when the relay refuses the one in use. The delete
// dialog: confirms deleting one of one's messages.

import { validateNick } from '../codec.js';
import { fieldError } from '../dom.js';
import { displayText, problemText } from '../format.js';

/** The nick dialog. `app` gives the nick in use and takes a new one (`setNick`). */
export class NickDialog {
  constructor(app) {
    this.app = app;
    this.dialog = app.$['nick-dialog'];
    this.input = app.$['nick-input'];
    this.errorBox = app.$['nick-error'];
    this.cancel = app.$['nick-cancel'];
    this.form = app.$['nick-form'];
  }

  bind() {
    this.app.$['nick-button'].addEventListener('click', () => this.open());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#save();
    });
    this.input.addEventListener('input', () => {
      const v = this.input.value.trim();
      const problem = v === '' ? null : validateNick(v);
      fieldError(this.input, this.errorBox, problem ? problemText(problem) : null);
    });
    this.cancel.addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('cancel', (e) => {
      // The first time there is no nick to fall back on.
      if (this.#first() || !this.app.nick) e.preventDefault();
    });
  }

  #first() {
    return this.dialog.dataset.first === 'true';
  }

  /** Opens the dialog; `first`: the first visit; `error`: why the nick in use was refused. */
  open({ first = false, error = null } = {}) {
    const dialog = this.dialog;
    dialog.dataset.first = first ? 'true' : 'false';
    this.input.value = this.app.nick;
    this.cancel.hidden = first || !this.app.nick;
    fieldError(this.input, this.errorBox, error);
    if (!dialog.open) dialog.showModal();
    this.input.focus();
    this.input.select();
  }

  #save() {
    const nick = this.input.value.trim();
    const problem = validateNick(nick);
    if (problem) {
      fieldError(this.input, this.errorBox, problemText(problem));
      this.input.focus();
      return;
    }
    const first = this.#first();
    this.dialog.close();
    this.app.setNick(nick, { first });
  }
}

/** Longest part of a message the delete dialog quotes, in characters. */
const PREVIEW_CHARS = 200;

/**
 * Asks before a message is deleted: for everyone, for good. `app.$` gives the dialog; the
 * confirmed deletion is the callback given to `open`.
 */
export class DeleteDialog {
  constructor(app) {
    this.app = app;
    this.dialog = app.$['delete-dialog'];
    this.form = app.$['delete-form'];
    this.preview = app.$['delete-preview'];
    this.cancel = app.$['delete-cancel'];
    this.confirmed = null;
    /** What had focus before: it gets it back when the dialog closes. */
    this.returnTo = null;
  }

  bind() {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const confirmed = this.confirmed;
      this.dialog.close();
      confirmed?.();
    });
    this.cancel.addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => {
      this.confirmed = null;
      // The button that opened it is gone with a deleted message's actions: the composer then.
      if (this.returnTo?.isConnected) this.returnTo.focus();
      else this.app.composer.focus();
      this.returnTo = null;
    });
  }

  /** Opens the dialog for message `m`; `onConfirm` runs if the person confirms. */
  open(m, onConfirm) {
    const text = displayText(m.text);
    this.preview.textContent = text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
    this.confirmed = onConfirm;
    this.returnTo = document.activeElement;
    if (!this.dialog.open) this.dialog.showModal();
    this.cancel.focus();
  }
}
