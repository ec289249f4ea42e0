// Guest nicks (open mode): the secret this browser claims each nick with, kept in
// localStorage and sent in Hello.token; the dialog shown when the relay says another secret
// holds the nick (NICK_TAKEN), with the two ways on (another nick, or this nick's secret
// pasted from the device that holds it); and the dialog that offers the secret to copy, to
// use the nick on another device, reached from the nick dialog.

import { fieldError, h } from '../dom.js';

/** Where a nick's secret is kept: one localStorage entry per nick. */
const KEY_PREFIX = 'chitchat:guest:';

/** Random bytes in a new secret: 256 bits, beyond guessing (the CLI makes the same). */
const SECRET_BYTES = 32;

/** The relay's rule for a guest secret: 16 to 128 printable ASCII characters, no spaces. */
const SECRET_RULE = /^[\x21-\x7e]{16,128}$/;

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    // Storage blocked (privacy settings): the page works, but the nick cannot be kept.
    return null;
  }
}

/** base64url without padding, as the CLI writes secrets. */
function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/**
 * The secret this browser uses for `nick`, made and saved on first use. Without storage it
 * is made anew on every call and the nick is not kept from one visit to the next.
 */
export function guestSecret(nick) {
  const store = storage();
  const key = KEY_PREFIX + nick;
  const known = store?.getItem(key);
  if (known && SECRET_RULE.test(known)) return known;
  const secret = base64url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
  try {
    store?.setItem(key, secret);
  } catch {
    // Storage full: this session still claims the nick.
  }
  return secret;
}

/** Saves `secret` (pasted from another device) as `nick`'s; a problem in words, or null. */
export function importSecret(nick, secret) {
  const value = secret.trim();
  if (!SECRET_RULE.test(value)) {
    return 'That is not a ChitChat secret: copy the whole secret shown by “Use on another device”.';
  }
  try {
    storage()?.setItem(KEY_PREFIX + nick, value);
  } catch {
    return 'This browser would not save the secret (storage is blocked or full).';
  }
  return null;
}

/** The two identity dialogs and the nick dialog's "Use on another device" button. */
export class IdentityView {
  constructor(app) {
    this.app = app;
    this.taken = this.#takenDialog();
    this.share = this.#shareDialog();
    this.button = h('button', {
      id: 'secret-button',
      type: 'button',
      class: 'button ghost small',
      hidden: true,
      on: {
        click: () => {
          this.app.$['nick-dialog'].close();
          this.showSecret();
        },
      },
    });
  }

  bind() {
    document.body.append(this.taken.dialog, this.share.dialog);
    this.app.$['nick-form'].querySelector('.dialog-actions').before(this.button);
    // Runs after the nick dialog opened (its own listener was added first).
    this.app.$['nick-button'].addEventListener('click', () => {
      const nick = this.app.nick;
      this.button.hidden = !nick;
      this.button.textContent = `Use “${nick}” on another device…`;
    });
  }

  /** The relay said another secret holds `nick`: say so, and offer the ways on. */
  showTaken(nick) {
    const t = this.taken;
    t.title.textContent = `The nick “${nick}” is taken`;
    t.input.value = '';
    fieldError(t.input, t.error, null);
    if (!t.dialog.open) t.dialog.showModal();
  }

  /** Shows this nick's secret, to copy to another device. */
  showSecret() {
    const nick = this.app.nick;
    if (!nick) return;
    const s = this.share;
    s.title.textContent = `Use “${nick}” on another device`;
    s.secret.value = guestSecret(nick);
    s.copied.textContent = '';
    if (!s.dialog.open) s.dialog.showModal();
    s.secret.select();
  }

  #takenDialog() {
    const title = h('h2', { id: 'taken-title' });
    const input = h('input', {
      id: 'taken-secret',
      type: 'text',
      autocomplete: 'off',
      spellcheck: 'false',
      'aria-describedby': 'taken-error',
    });
    const error = h('p', { id: 'taken-error', class: 'field-error', hidden: true });
    const dialog = h('dialog', { id: 'taken-dialog', class: 'dialog', 'aria-labelledby': 'taken-title' },
      h('form', { novalidate: true, on: { submit: (e) => this.#paste(e) } },
        title,
        h('p', {
          class: 'dialog-sub',
          text: 'Someone else is using this nick (or one that looks just like it), so the relay keeps it for them. '
            + 'Pick another nick, or, if the nick is yours, paste its secret from the browser or device where you use it '
            + '(there: “Use on another device”).',
        }),
        h('label', { for: 'taken-secret', text: 'Secret from your other device' }),
        input,
        error,
        h('div', { class: 'dialog-actions' },
          h('button', {
            id: 'taken-other-nick',
            type: 'button',
            class: 'button ghost',
            text: 'Pick another nick',
            on: { click: () => this.#otherNick() },
          }),
          h('button', { id: 'taken-use-secret', type: 'submit', class: 'button primary', text: 'Use this secret' }),
        ),
      ),
    );
    return { dialog, title, input, error };
  }

  #shareDialog() {
    const title = h('h2', { id: 'share-title' });
    const secret = h('input', { id: 'share-secret', type: 'text', readOnly: true, spellcheck: 'false' });
    const copied = h('p', { class: 'hint', role: 'status' });
    const dialog = h('dialog', { id: 'share-dialog', class: 'dialog', 'aria-labelledby': 'share-title' },
      h('form', { method: 'dialog' },
        title,
        h('p', {
          class: 'dialog-sub',
          text: 'This secret keeps your nick yours. On your other device, open ChitChat, choose the same nick, '
            + 'and paste it when the page says the nick is taken. Anyone who has it can chat as you: share it with no one else.',
        }),
        h('label', { for: 'share-secret', text: 'Your secret' }),
        secret,
        copied,
        h('div', { class: 'dialog-actions' },
          h('button', { type: 'button', class: 'button ghost', text: 'Copy', on: { click: () => this.#copy() } }),
          h('button', { type: 'submit', class: 'button primary', text: 'Done' }),
        ),
      ),
    );
    return { dialog, title, secret, copied };
  }

  #otherNick() {
    this.taken.dialog.close();
    this.app.nickDialog.open({ error: 'That nick is taken by someone else. Pick another.' });
  }

  #paste(e) {
    e.preventDefault();
    const t = this.taken;
    const problem = importSecret(this.app.nick, t.input.value);
    if (problem) {
      fieldError(t.input, t.error, problem);
      t.input.focus();
      return;
    }
    t.dialog.close();
    // The same nick again, now with the pasted secret.
    this.app.setNick(this.app.nick, { first: false });
  }

  async #copy() {
    const s = this.share;
    try {
      await navigator.clipboard.writeText(s.secret.value);
      s.copied.textContent = 'Copied.';
    } catch {
      s.secret.select();
      s.copied.textContent = 'Select the secret and copy it yourself (the browser would not).';
    }
  }
}
