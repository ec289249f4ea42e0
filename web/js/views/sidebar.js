// The panels around the messages: the room list with its unread badges and join forms, the
// room header (name, head count, leave), the members panel, and the drawers these become on
// narrow screens (with what is behind an open drawer out of reach).

import { validateRoom } from '../codec.js';
import { clear, fieldError, h } from '../dom.js';
import { formatNumber, initials, nickHue, problemText } from '../format.js';
import { nextRoom, unreadElsewhere } from '../rooms.js';

/** Widest layout in which the members panel is a drawer rather than a column. */
const WIDE_MEMBERS = window.matchMedia('(min-width: 1100px)');

/** Layouts in which a panel is a drawer: leaving one closes any that is open. */
const DRAWER_LAYOUTS = ['(max-width: 759px)', '(max-width: 1099px)'];

/**
 * The sidebar, header and members panel. `app` gives the rooms, the room in view, the nick,
 * the limits and the connection, and the actions (`show`, `openRoom`, `leave`).
 */
export class SidebarView {
  constructor(app) {
    this.app = app;
    this.$ = app.$;
  }

  bind() {
    const $ = this.$;
    const app = this.app;
    this.#joinForm($['join-form'], $['join-input'], $['join-error']);
    this.#joinForm($['empty-form'], $['empty-input'], $['empty-error']);
    for (const b of document.querySelectorAll('[data-suggest]')) {
      b.addEventListener('click', () => {
        app.openRoom(b.dataset.suggest);
        $['composer-input'].focus();
      });
    }
    $['leave-button'].addEventListener('click', () => {
      const room = app.rooms.get(app.active);
      if (!room) return;
      // Left at once, with a way back: Undo rejoins where the room stood. The note is a
      // status region, so screen readers hear it too.
      app.leave(room);
      app.status.toast(`You left #${room.name}.`, 'info', { label: 'Undo', run: () => app.rejoin(room) });
    });

    $['rooms-toggle'].addEventListener('click', () => this.#toggleDrawer('sidebar'));
    $['sidebar-close'].addEventListener('click', () => this.closeDrawers());
    $['members-toggle'].addEventListener('click', () => {
      if (WIDE_MEMBERS.matches) {
        const hidden = $.app.classList.toggle('members-hidden');
        $['members-toggle'].setAttribute('aria-expanded', String(!hidden));
      } else {
        this.#toggleDrawer('members');
      }
    });
    $['members-close'].addEventListener('click', () => this.closeDrawers());
    $.scrim.addEventListener('click', () => this.closeDrawers());
    WIDE_MEMBERS.addEventListener('change', () => this.#syncMembersToggle());
    for (const query of DRAWER_LAYOUTS) {
      window.matchMedia(query).addEventListener('change', () => this.closeDrawers({ focus: false }));
    }
    this.#syncMembersToggle();

    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && $.app.dataset.drawer) {
        this.closeDrawers();
        return;
      }
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
        const names = [...app.rooms.keys()];
        if (names.length < 2) return;
        e.preventDefault();
        app.show(nextRoom(names, app.active, e.key === 'ArrowDown'));
        this.renderRoomList();
      }
    });
  }

  /** A form that joins the room named in its field (the sidebar's, the empty state's). */
  #joinForm(form, field, errorBox) {
    const app = this.app;
    field.addEventListener('input', () => {
      const v = field.value.trim().replace(/^#/, '');
      const problem = v === '' ? null : validateRoom(v);
      fieldError(field, errorBox, problem ? problemText(problem) : null);
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const name = field.value.trim().replace(/^#/, '');
      const problem = validateRoom(name);
      if (problem) {
        fieldError(field, errorBox, problemText(problem));
        field.focus();
        return;
      }
      if (!app.rooms.has(name) && app.limits && app.rooms.size >= app.limits.max_rooms) {
        fieldError(field, errorBox, `You can be in at most ${app.limits.max_rooms} rooms. Leave one first.`);
        return;
      }
      field.value = '';
      fieldError(field, errorBox, null);
      app.openRoom(name);
      this.closeDrawers();
      this.$['composer-input'].focus();
    });
  }

  renderRoomList() {
    const app = this.app;
    const list = this.$['room-list'];
    clear(list);
    for (const room of app.rooms.values()) {
      const current = room.name === app.active;
      let state = '';
      if (room.joinError) state = 'error';
      else if (room.joining || (!room.joined && app.conn?.state !== 'open')) state = 'joining';
      // Named by its visible text ("design 3"), with the words a screen reader needs
      // besides ("unread", "could not join") visually hidden.
      const badge = room.unread > 0
        ? [' ', h('span', { class: 'badge' }, unreadCount(room.unread), h('span', { class: 'sr-only', text: ' unread' }))]
        : null;
      const mentionBadge = room.mentions > 0
        ? [' ', h('span', { class: 'badge mention' }, `@${unreadCount(room.mentions)}`, h('span', { class: 'sr-only', text: room.mentions === 1 ? ' mention' : ' mentions' }))]
        : null;
      list.append(
        h('li', {},
          h('button', {
            type: 'button',
            class: `room-link${current ? ' current' : ''}${room.unread ? ' has-unread' : ''}`,
            'aria-current': current ? 'page' : null,
            dataset: { room: room.name, state },
            on: { click: () => { app.show(room.name); this.renderRoomList(); this.closeDrawers(); this.$['composer-input'].focus(); } },
          },
          h('span', { class: 'room-hash', 'aria-hidden': 'true', text: '#' }),
          h('span', { class: 'room-name', text: room.name }),
          mentionBadge,
          badge,
          state === 'error' ? h('span', { class: 'sr-only', text: ', could not join' }) : null),
        ),
      );
    }
    if (app.rooms.size === 0) {
      list.append(h('li', { class: 'room-list-empty', text: 'No rooms yet.' }));
    }
    this.#renderRoomsToggle();
    app.status.renderTitle();
  }

  /**
   * The rooms button (phone width, the room list closed) counts the unread messages of
   * the rooms out of view, so a person in one room sees that others have news.
   */
  #renderRoomsToggle() {
    const app = this.app;
    const others = unreadElsewhere(app.rooms.values(), app.active);
    const badge = this.$['rooms-unread'];
    badge.hidden = others === 0;
    badge.textContent = others === 0 ? '' : unreadCount(others);
    this.$['rooms-toggle'].setAttribute('aria-label', others === 0 ? 'Rooms' : `Rooms, ${badge.textContent} unread`);
  }

  /** The room in view's name, head count and leave button. */
  renderHeader() {
    const room = this.app.rooms.get(this.app.active);
    if (!room) return;
    this.$['room-title'].textContent = room.name;
    const n = room.members.size;
    let facts;
    if (room.joinError) facts = 'Could not join';
    else if (room.joined) facts = `${n} ${n === 1 ? 'person' : 'people'} here`;
    else facts = this.app.conn?.isOpen ? 'Joining…' : 'Waiting for the connection…';
    const topic = room.topic ?? '';
    this.$['room-topic-text'].textContent = topic;
    this.$['room-topic-text'].title = topic;
    this.$['room-topic-text'].hidden = topic === '';
    this.$['room-people'].textContent = topic === '' ? facts : ` · ${facts}`;
    this.$['topic-button'].setAttribute('aria-label', `Topic of #${room.name}`);
    this.$['members-count'].textContent = room.joined ? String(n) : '–';
    this.$['members-toggle'].setAttribute('aria-label', room.joined ? `Members: ${n} in #${room.name}` : 'Members');
    this.$['leave-button'].setAttribute('aria-label', `Leave #${room.name}`);
  }

  renderMembers() {
    const self = this.app.nick;
    const room = this.app.rooms.get(this.app.active);
    const list = this.$['member-list'];
    clear(list);
    if (!room) return;
    const names = room.memberNames(self);
    for (const nick of names) {
      list.append(
        h('li', { class: 'member' },
          h('span', { class: 'avatar small', 'aria-hidden': 'true', style: `--hue:${nickHue(nick)}`, text: initials(nick) }),
          h('span', { class: 'member-name', text: nick }),
          nick === self ? h('span', { class: 'you', text: 'you' }) : null,
        ),
      );
    }
    if (names.length === 0) list.append(h('li', { class: 'member muted', text: room.joined ? 'Nobody here yet.' : 'Joining…' }));
  }

  // --- Drawers -------------------------------------------------------------------------------

  #syncMembersToggle() {
    const wide = WIDE_MEMBERS.matches;
    const shown = wide ? !this.$.app.classList.contains('members-hidden') : this.$.app.dataset.drawer === 'members';
    this.$['members-toggle'].setAttribute('aria-expanded', String(shown));
  }

  #toggleDrawer(which) {
    const app = this.$.app;
    if (app.dataset.drawer === which) {
      this.closeDrawers();
      return;
    }
    app.dataset.drawer = which;
    this.$.scrim.hidden = false;
    // While a drawer is open, what is behind it is out of reach of Tab and screen readers.
    for (const el of this.#behindDrawer(which)) el.inert = true;
    this.$['rooms-toggle'].setAttribute('aria-expanded', String(which === 'sidebar'));
    this.#syncMembersToggle();
    const panel = which === 'sidebar' ? this.$.sidebar : this.$.members;
    panel.querySelector('button, input')?.focus();
  }

  #behindDrawer(which) {
    const topbar = this.$.app.querySelector('.topbar');
    return [topbar, this.$.main, which === 'sidebar' ? this.$.members : this.$.sidebar];
  }

  closeDrawers({ focus = true } = {}) {
    const app = this.$.app;
    const was = app.dataset.drawer;
    if (!was) return;
    delete app.dataset.drawer;
    this.$.scrim.hidden = true;
    for (const el of this.#behindDrawer(was)) el.inert = false;
    this.$['rooms-toggle'].setAttribute('aria-expanded', 'false');
    this.#syncMembersToggle();
    if (focus) (was === 'sidebar' ? this.$['rooms-toggle'] : this.$['members-toggle']).focus();
  }
}

/** An unread count as a badge shows it: "7", up to "99", then "99+". */
function unreadCount(n) {
  return n > 99 ? '99+' : formatNumber(n);
}
