// The room directory: the "Browse rooms" dialog lists public rooms with their topics, how
// many people are in each and when it was last active, searched by name or topic and paged;
// a room is joined from the list, and a new one made there with a topic.

import { validateRoom, validateTopic } from '../codec.js';
import { clear, fieldError, h } from '../dom.js';
import { explainError, formatDay, formatTime, problemText } from '../format.js';

/** Rooms asked for per page. */
const PAGE = 50;

/** How long the search waits after the last keystroke before asking the relay. */
const SEARCH_DELAY_MS = 250;

/** "3 people here · last active 14:02" for one room of the directory. */
export function roomFacts(room, now = Date.now()) {
  const people = room.members === 1 ? '1 person here' : `${room.members} people here`;
  if (!room.last_activity_ms) return `${people} · no messages yet`;
  const ts = room.last_activity_ms;
  const day = formatDay(ts, now);
  const when = day === 'Today' ? formatTime(ts) : `${day}, ${formatTime(ts)}`;
  return `${people} · last active ${when}`;
}

/** An explained refusal as one line. */
function sentence({ title, detail }) {
  return detail ? `${title} ${detail}` : title;
}

/** The Browse rooms dialog. */
export class BrowseView {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
    this.dialog = app.$['browse-dialog'];
    /** The name to continue after, or null at the end. */
    this.next = null;
    /** Counts loads, so an answer to an older search is dropped. */
    this.generation = 0;
    this.timer = null;
  }

  bind() {
    this.$['browse-button'].addEventListener('click', () => this.open());
    this.$['browse-close'].addEventListener('click', () => this.dialog.close());
    this.$['browse-search'].addEventListener('input', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.load(true), SEARCH_DELAY_MS);
    });
    this.$['browse-more'].addEventListener('click', () => this.load(false));
    this.$['create-form'].addEventListener('submit', (e) => {
      e.preventDefault();
      this.create();
    });
  }

  open() {
    fieldError(this.$['create-name'], this.$['create-error'], null);
    if (!this.dialog.open) this.dialog.showModal();
    this.$['browse-search'].focus();
    this.load(true);
  }

  #status(text) {
    this.$['browse-status'].textContent = text;
  }

  /** Reads the first page (`fresh`) or the next one, and shows it. */
  async load(fresh) {
    const app = this.app;
    const generation = ++this.generation;
    if (fresh) {
      clear(this.$['browse-list']);
      this.next = null;
    }
    this.$['browse-more'].hidden = true;
    if (!app.conn?.isOpen) {
      this.#status('Not connected: the list shows once the page is connected.');
      return;
    }
    this.#status('Loading rooms…');
    const search = this.$['browse-search'].value.trim();
    let answer;
    try {
      answer = await app.conn.request('ListRooms', { search, after: fresh ? null : this.next, limit: PAGE });
    } catch (e) {
      if (generation === this.generation) this.#status(sentence(explainError(e.code, e.message)));
      return;
    }
    if (generation !== this.generation) return;
    for (const room of answer.rooms) this.$['browse-list'].append(this.#item(room));
    this.next = answer.next ?? null;
    this.$['browse-more'].hidden = this.next === null;
    const shown = this.$['browse-list'].children.length;
    if (shown > 0) this.#status(`${shown} ${shown === 1 ? 'room' : 'rooms'}${this.next ? ' so far' : ''}`);
    else if (this.next) this.#status('Nothing here yet: look further with "More rooms".');
    else this.#status(search ? `No room matches “${search}”. Create it below?` : 'No rooms yet. Create the first one below.');
  }

  #item(room) {
    const mine = this.app.rooms.has(room.name);
    return h('li', { class: 'browse-item', dataset: { room: room.name } },
      h('div', { class: 'browse-text' },
        h('span', { class: 'browse-name', text: `#${room.name}` }),
        room.topic ? h('span', { class: 'browse-topic', dir: 'auto', text: room.topic }) : null,
        h('span', { class: 'browse-facts', text: roomFacts(room) })),
      h('button', {
        type: 'button',
        class: `button small${mine ? ' ghost' : ' primary'}`,
        text: mine ? 'Open' : 'Join',
        'aria-label': `${mine ? 'Open' : 'Join'} #${room.name}`,
        on: { click: () => this.#go(room.name) },
      }));
  }

  #go(name) {
    this.dialog.close();
    this.app.openRoom(name);
    this.app.sidebar.closeDrawers();
    this.$['composer-input'].focus();
  }

  /** Makes the room the form names, with its topic, and joins it. */
  async create() {
    const nameField = this.$['create-name'];
    const errorBox = this.$['create-error'];
    const name = nameField.value.trim().replace(/^#/, '');
    const topic = this.$['create-topic'].value.trim();
    const problem = validateRoom(name) ?? validateTopic(topic);
    if (problem) {
      fieldError(nameField, errorBox, problemText(problem));
      return;
    }
    if (!this.app.conn?.isOpen) {
      fieldError(nameField, errorBox, 'Not connected: try again once the page is connected.');
      return;
    }
    try {
      await this.app.conn.request('CreateRoom', { room: name, topic });
    } catch (e) {
      const text = e.codeName === 'ROOM_EXISTS'
        ? `#${name} exists already: find it in the list and join it.`
        : sentence(explainError(e.code, e.message));
      fieldError(nameField, errorBox, text);
      return;
    }
    nameField.value = '';
    this.$['create-topic'].value = '';
    fieldError(nameField, errorBox, null);
    this.#go(name);
  }
}
