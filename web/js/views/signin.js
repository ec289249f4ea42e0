// The sign-in dialog of token mode: a plain "Sign in" message when the token URL says the
// person is not signed in (with a button to try again once they are), and, when the relay
// offers the development sign-in, a small form that asks a name. Built with dom.js and the
// nick dialog's classes, shown when auth.js reports `signin`. When the sign-in expired and
// the token URL cannot give a fresh token for now (auth.js `expired`), the same dialog says
// so while the page keeps trying by itself, and closes once a session opens (`renewed`).

import { validateNick } from '../codec.js';
import { fieldError, h } from '../dom.js';
import { problemText } from '../format.js';

export class SignInView {
  /**
   * @param {import('../auth.js').Auth} auth
   * @param {() => void} onSignedIn  called once a token was had: connect again
   */
  constructor(auth, onSignedIn) {
    this.auth = auth;
    this.onSignedIn = onSignedIn;
    this.dialog = null;
    auth.addEventListener('expired', (e) => this.expired(e.detail.reason));
    auth.addEventListener('renewed', () => this.close());
  }

  /** Opens the dialog, saying `reason`. */
  open(reason, { title = 'Sign in', retryLabel = 'I have signed in: try again' } = {}) {
    if (!this.dialog) this.dialog = this.#build();
    this.title.textContent = title;
    this.reason.textContent = reason || 'Sign in to chat here.';
    if (this.retryButton) this.retryButton.textContent = retryLabel;
    fieldError(this.input ?? this.reason, this.error, null);
    if (!this.dialog.open) this.dialog.showModal();
    (this.input ?? this.retryButton)?.focus();
  }

  /** The sign-in expired and no fresh token could be had yet (`why`): the page keeps trying. */
  expired(why) {
    const detail = why ? ` (${why.replace(/[.\s]+$/, '')})` : '';
    this.open(
      `Your sign-in expired and could not be renewed just now${detail}. The page keeps trying by itself and picks up where it left off.`,
      { title: 'Sign-in expired', retryLabel: 'Try again now' },
    );
  }

  close() {
    if (this.dialog?.open) this.dialog.close();
  }

  #build() {
    this.title = h('h2', { id: 'signin-title', text: 'Sign in' });
    this.reason = h('p', { class: 'dialog-sub', id: 'signin-reason' });
    this.error = h('p', { class: 'field-error', id: 'signin-error', hidden: true, role: 'alert' });
    const actions = h('div', { class: 'dialog-actions' });
    let form;
    if (this.auth.tokenUrl) {
      this.retryButton = h('button', {
        class: 'button primary',
        type: 'button',
        id: 'signin-retry',
        text: 'I have signed in: try again',
        on: { click: () => this.#retry() },
      });
      actions.append(this.retryButton);
    }
    if (this.auth.devLogin) {
      this.input = h('input', {
        id: 'signin-name',
        name: 'name',
        type: 'text',
        autocomplete: 'nickname',
        autocapitalize: 'off',
        spellcheck: 'false',
        maxlength: '64',
        required: true,
        'aria-describedby': 'signin-hint signin-error',
      });
      actions.append(h('button', { class: 'button primary', type: 'submit', id: 'signin-submit', text: 'Sign in' }));
      form = h(
        'form',
        { id: 'signin-form', novalidate: true, on: { submit: (e) => this.#devSignIn(e) } },
        h('label', { for: 'signin-name', text: 'Your name' }),
        this.input,
        h('p', { class: 'hint', id: 'signin-hint', text: 'Development sign-in: this relay gives a token to any name.' }),
      );
    }
    const body = [
      this.title,
      this.reason,
      form ?? null,
      this.error,
      actions,
    ];
    const dialog = h('dialog', { class: 'dialog', id: 'signin-dialog', 'aria-labelledby': 'signin-title' });
    // The development form holds the actions so Enter submits; otherwise they stand alone.
    if (form) {
      form.append(this.error, actions);
      dialog.append(body[0], body[1], form);
    } else {
      dialog.append(...body.filter(Boolean));
    }
    // Without a token nothing works: the dialog stays until one comes.
    dialog.addEventListener('cancel', (e) => e.preventDefault());
    document.body.append(dialog);
    return dialog;
  }

  async #retry() {
    try {
      await this.auth.retry();
      this.close();
      this.onSignedIn();
    } catch (e) {
      fieldError(this.reason, this.error, e.message);
    }
  }

  async #devSignIn(e) {
    e.preventDefault();
    const name = this.input.value.trim();
    const problem = validateNick(name);
    if (problem) {
      fieldError(this.input, this.error, problemText(problem));
      this.input.focus();
      return;
    }
    try {
      await this.auth.signInAs(name);
      this.close();
      this.onSignedIn();
    } catch (err) {
      fieldError(this.input, this.error, err.message);
    }
  }
}
