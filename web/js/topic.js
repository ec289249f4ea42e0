// A room's topic on the page: the relay tells it right after a room opens and whenever
// someone changes it (`topic` {room, topic, by}, version 3); the room's header shows it, and
// a change since the last one known is a line in the room ("ada set the topic: …"). The
// topic dialog, opened from the header's Topic button, changes it (SetTopic).

import { validateTopic } from './codec.js';
import { fieldError } from './dom.js';
import { explainError, problemText } from './format.js';

/**
 * What a topic change says in the room's timeline, or null when there is nothing to say: the
 * topic a room had when it opened is not news, nor the same topic told again (a rejoin).
 */
export function topicNotice(known, topic, by, self) {
  if (known === null || known === topic) return null;
  const who = by === '' ? null : by === self ? 'You' : by;
  if (topic === '') return who ? `${who} cleared the topic` : 'The topic was cleared';
  return who ? `${who} set the topic: ${topic}` : `The topic is now: ${topic}`;
}

/** The relay told a room's topic (`topic` {room, topic, by}): header and timeline follow. */
export function applyTopic(app, { room: name, topic, by }) {
  const room = app.rooms.get(name);
  if (!room) return;
  const text = topicNotice(room.topic, topic, by, app.nick);
  room.topic = topic;
  if (text) app.messages.notice(room, text, 'topic');
  if (name === app.active) app.sidebar.renderHeader();
}

/** The topic dialog: the room in view's topic, changed by anyone in the room. */
export class TopicDialog {
  constructor(app) {
    this.app = app;
    this.dialog = app.$['topic-dialog'];
    this.form = app.$['topic-form'];
    this.input = app.$['topic-input'];
    this.errorBox = app.$['topic-error'];
    this.title = app.$['topic-title'];
    /** The room the dialog was opened for (the view may change while it is open). */
    this.room = null;
  }

  bind() {
    this.app.$['topic-button'].addEventListener('click', () => this.open());
    this.app.$['topic-cancel'].addEventListener('click', () => this.dialog.close());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.#save();
    });
    this.input.addEventListener('input', () => this.#check());
    this.dialog.addEventListener('close', () => {
      this.room = null;
      this.app.$['topic-button'].focus();
    });
  }

  /** Opens the dialog for the room in view. */
  open() {
    const room = this.app.rooms.get(this.app.active);
    if (!room) return;
    this.room = room.name;
    this.title.textContent = `Topic of #${room.name}`;
    this.input.value = room.topic ?? '';
    fieldError(this.input, this.errorBox, null);
    if (!this.dialog.open) this.dialog.showModal();
    this.input.focus();
    this.input.select();
  }

  /** Shows what is wrong with the topic typed; true when nothing is. */
  #check() {
    const problem = validateTopic(this.input.value.trim());
    fieldError(this.input, this.errorBox, problem ? problemText(problem) : null);
    return !problem;
  }

  async #save() {
    const room = this.room;
    const topic = this.input.value.trim();
    if (!room || !this.#check()) {
      this.input.focus();
      return;
    }
    const conn = this.app.conn;
    if (!conn?.isOpen) {
      fieldError(this.input, this.errorBox, 'Not connected: the topic can be changed once the page is back online.');
      return;
    }
    try {
      const { room: summary } = await conn.request('SetTopic', { room, topic });
      const known = this.app.rooms.get(room);
      // A relay before version 3 sends no topic frames: the answer is the news then.
      if (known && known.topic === null) applyTopic(this.app, { room, topic: summary.topic, by: '' });
      if (this.room === room) this.dialog.close();
    } catch (e) {
      const why = explainError(e.code, e.message);
      fieldError(this.input, this.errorBox, why.detail ? `${why.title} ${why.detail}` : why.title);
      this.input.focus();
    }
  }
}
