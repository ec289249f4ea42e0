// What a person does to a message already sent: reply to it, edit or delete their own, react
// to any, and jump to the message a reply answers. Each change is a request to the relay,
// which stores it as an entry of the room's log; the page shows the change when that entry
// comes back on the room stream (so every page, this one included, shows it the same way).
// Refusals are said in plain words (format.js).

import { hasReacted } from './rooms.js';
import { explainError } from './format.js';

/** How many older pages a jump to a message not shown may fetch before giving up. */
const JUMP_MAX_PAGES = 20;

/** What each request is, in the words of its failure. */
const WHAT = { Edit: 'edit the message', Delete: 'delete the message', React: 'react' };

/** The actions on sent messages. `app` gives the rooms, the nick, the connection and the views. */
export class MessageActions {
  constructor(app) {
    this.app = app;
  }

  /** Whether the session can change messages (a version-2 relay); says so when it cannot. */
  #ready() {
    const conn = this.app.conn;
    if (conn?.isOpen && conn.entries) return true;
    const text = conn?.isOpen
      ? 'This relay cannot change sent messages: it runs an older version.'
      : 'Not connected. Try again once the page is back online.';
    this.app.status.toast(text, 'error');
    return false;
  }

  /** Starts a reply to message `seq` of `room`: the composer shows what it answers. */
  reply(room, seq) {
    const m = room.shown.get(seq);
    if (!m || m.deleted) return;
    this.app.composer.replyTo(room, m);
  }

  /** Puts message `seq` (one's own) in the composer to edit. */
  edit(room, seq) {
    const m = room.shown.get(seq);
    if (!m || m.deleted || m.from !== this.app.nick) return;
    this.app.composer.startEdit(room, m);
  }

  /** Up on an empty composer: edits one's newest message in the room; false if there is none. */
  editLast(room) {
    const m = room.lastOwn(this.app.nick);
    if (!m) return false;
    this.app.composer.startEdit(room, m);
    return true;
  }

  /** Saves an edit of message `seq`: the new text, unless it is the same. */
  async saveEdit(room, seq, text) {
    const m = room.shown.get(seq);
    if (!m || m.text === text || !this.#ready()) return;
    await this.#request(room, 'Edit', { seq, text });
  }

  /** Asks to confirm, then deletes message `seq` (one's own). */
  confirmDelete(room, seq) {
    const m = room.shown.get(seq);
    if (!m || m.deleted) return;
    this.app.deleteDialog.open(m, () => this.#delete(room, seq));
  }

  async #delete(room, seq) {
    if (!this.#ready()) return;
    await this.#request(room, 'Delete', { seq });
  }

  /** Adds `emoji` to message `seq`, or takes it back if it is one's own reaction already. */
  async toggleReaction(room, seq, emoji) {
    const m = room.shown.get(seq);
    if (!m || m.deleted || !this.#ready()) return;
    await this.#request(room, 'React', { seq, emoji, on: !hasReacted(m, this.app.nick, emoji) });
  }

  /** Sends a change request; a refusal or a lost connection is said in a toast. */
  async #request(room, kind, fields) {
    try {
      await this.app.conn.request(kind, { room: room.name, ...fields });
    } catch (e) {
      const why = e.lost
        ? 'The connection dropped before the relay answered. Try again once the page is back online.'
        : explainError(e.code, e.message).title;
      this.app.status.toast(`Could not ${WHAT[kind]}. ${why}`, 'error');
    }
  }

  /**
   * Shows message `seq` (the one a reply answers), fetching older pages until it is shown;
   * says so when the room no longer has it.
   */
  async jumpTo(room, seq) {
    for (let pages = 0; !room.shown.has(seq) && pages < JUMP_MAX_PAGES; pages++) {
      const oldest = room.oldestSeq();
      if (room.more === false || oldest === null || oldest <= seq || !this.app.conn?.isOpen) break;
      await this.app.loadOlder(room);
      if (room.oldestSeq() === oldest) break;
    }
    if (this.app.active !== room.name) return;
    if (room.shown.has(seq)) this.app.messages.reveal(room, seq);
    else this.app.status.toast('That message is no longer stored.', 'error');
  }
}
