// The parts of a shown message that the room's log entries change, drawn from its latest
// state: the quote of the message it answers (a button that jumps there), the text or the
// "message deleted" tombstone, the "(edited)" mark, the reactions under it (one's own
// pressed; a click toggles), and its actions (Reply, React, Edit, Delete), shown on hover or
// focus, or after a tap on a touch screen, all reachable by keyboard with accessible names.
//
// Every piece of user text reaches the DOM through textContent (dom.js, format.js).

import { REACTIONS } from '../codec.js';
import { clear, h, icon } from '../dom.js';
import { displayText, formatFull, mentions, quoteOf, textNodes } from '../format.js';
import { hasReacted } from '../rooms.js';

/** Texts longer than this (characters or lines) are shown folded, with "Show more". */
const FOLD_CHARS = 700;
const FOLD_LINES = 14;

/** Each reaction's name for screen readers, in REACTIONS order. */
const REACTION_NAMES = ['thumbs up', 'heart', 'laughing', 'party', 'surprised', 'sad', 'thank you', 'eyes'];

/** How long a message jumped to stays highlighted. */
const HIGHLIGHT_MS = 2_000;

/** A reaction's name for people: its word, or the emoji itself for one this page does not know. */
export function reactionName(emoji) {
  const i = REACTIONS.indexOf(emoji);
  return i < 0 ? emoji : REACTION_NAMES[i];
}

/**
 * Draws and redraws the changing parts of messages. `app` gives the nick, the room in view
 * and the actions (`app.actions`).
 */
export class EntryParts {
  constructor(app) {
    this.app = app;
    /** The open reaction picker: `{picker, button}`, or null. */
    this.open = null;
    document.addEventListener('pointerdown', (e) => {
      if (this.open && !this.open.picker.contains(e.target) && !this.open.button.contains(e.target)) this.closePicker();
      // A tap elsewhere puts away the actions a tap on a message brought out.
      for (const li of document.querySelectorAll('.msg.actions-open')) if (!li.contains(e.target)) li.classList.remove('actions-open');
    });
  }

  /** The bubble's content, the reactions and the actions of message `m` of `room`, in `li`. */
  fill(li, room, m) {
    const me = this.app.nick;
    const own = m.from === me;
    li.classList.toggle('deleted', m.deleted);
    li.classList.toggle('mentions-me', !own && !m.deleted && mentions(m.text, me));
    if (this.open && li.contains(this.open.picker)) this.closePicker();
    const bubble = li.querySelector(':scope > .bubble');
    const meta = bubble.querySelector(':scope > .meta');
    clear(bubble);
    const quote = this.quote(room, m);
    if (quote) bubble.append(quote);
    bubble.append(meta);
    meta.querySelector('.edited')?.remove();
    if (m.edited_ts && !m.deleted) {
      meta.append(h('span', { class: 'edited', title: `Edited ${formatFull(m.edited_ts)}`, text: '(edited)' }));
    }
    if (m.deleted) bubble.append(h('div', { class: 'text tombstone', text: 'message deleted' }));
    else bubble.append(messageText(m.text, me));
    // The reactions are drawn anew; a reaction button that had focus keeps it (or the React
    // button takes it, when that reaction is gone).
    const old = li.querySelector(':scope > .reactions');
    const focused = old?.contains(document.activeElement) ? document.activeElement.dataset.emoji : null;
    old?.remove();
    if (m.deleted) {
      const gone = li.querySelector(':scope > .msg-actions');
      if (gone?.contains(document.activeElement)) {
        // Focus stays on the message, not lost with its actions.
        li.tabIndex = -1;
        li.focus({ preventScroll: true });
      }
      gone?.remove();
      return;
    }
    let actions = li.querySelector(':scope > .msg-actions');
    if (!actions) {
      actions = this.#actions(li, room, m);
      li.append(actions);
      bubble.addEventListener('click', (e) => this.#tapped(li, e));
    }
    if (m.reactions.length) actions.before(this.#reactions(room, m));
    if (focused) {
      const again = [...li.querySelectorAll('.reaction')].find((b) => b.dataset.emoji === focused);
      (again ?? actions.querySelector('.action-react')).focus({ preventScroll: true });
    }
  }

  /** Redraws only the quote in reply `m` (the message it answers changed). */
  refreshQuote(li, room, m) {
    const quote = this.quote(room, m);
    if (quote) li.querySelector(':scope > .bubble > .quote')?.replaceWith(quote);
  }

  /**
   * The quote at the top of a reply: who wrote the message it answers and how it starts (or
   * that it is deleted, or further up); a click shows it. Null for a message answering none.
   */
  quote(room, m) {
    if (m.reply_to === null || m.deleted) return null;
    const target = room.shown.get(m.reply_to);
    const words = target ? quoteOf(target) : 'an earlier message';
    const from = target ? target.from : null;
    // Named by what it shows (the hidden words make it a sentence): "In reply to ada: hi".
    return h(
      'button',
      {
        type: 'button',
        class: `quote${target?.deleted ? ' quote-deleted' : ''}`,
        dataset: { target: String(m.reply_to) },
        title: 'Show the message',
        on: { click: () => this.app.actions.jumpTo(room, m.reply_to) },
      },
      h('span', { class: 'sr-only', text: 'In reply to ' }),
      from ? h('span', { class: 'quote-from', dir: 'auto', text: from }) : null,
      from ? h('span', { class: 'sr-only', text: ': ' }) : null,
      h('span', { class: 'quote-text', dir: 'auto', text: words }),
    );
  }

  /** The reactions under a message: one button per emoji with its count; one's own pressed. */
  #reactions(room, m) {
    const me = this.app.nick;
    return h(
      'div',
      { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
      m.reactions.map((r) => {
        const mine = hasReacted(m, me, r.emoji);
        const who = r.nicks.map((n) => (n === me ? 'you' : n)).join(', ');
        return h(
          'button',
          {
            type: 'button',
            class: 'chip reaction',
            dataset: { emoji: r.emoji },
            'aria-pressed': mine ? 'true' : 'false',
            'aria-label': `${reactionName(r.emoji)}: ${r.nicks.length} (${who})${mine ? ', yours: click to take it back' : ''}`,
            title: who,
            on: { click: () => this.app.actions.toggleReaction(room, m.seq, r.emoji) },
          },
          h('span', { class: 'reaction-emoji', 'aria-hidden': 'true', text: r.emoji }),
          h('span', { class: 'reaction-count', 'aria-hidden': 'true', text: String(r.nicks.length) }),
        );
      }),
    );
  }

  /** The actions on a message: Reply and React for any, Edit and Delete for one's own. */
  #actions(li, room, m) {
    const own = m.from === this.app.nick;
    const whose = own ? 'your message' : `${m.from}’s message`;
    const act = (name, label, run) =>
      h('button', { type: 'button', class: `icon-button small msg-action action-${name}`, 'aria-label': label, title: label, on: { click: run } }, icon(name));
    const react = act('react', `Add a reaction to ${whose}`, () => this.#togglePicker(li, room, m, react));
    react.setAttribute('aria-expanded', 'false');
    react.setAttribute('aria-haspopup', 'true');
    return h(
      'div',
      { class: 'msg-actions', role: 'group', 'aria-label': `Actions on ${whose}` },
      act('reply', `Reply to ${whose}`, () => this.app.actions.reply(room, m.seq)),
      react,
      own ? act('edit', 'Edit your message', () => this.app.actions.edit(room, m.seq)) : null,
      own ? act('trash', 'Delete your message', () => this.app.actions.confirmDelete(room, m.seq)) : null,
    );
  }

  /** A tap on a message (not on a link or a button, not a text selection) brings out its actions. */
  #tapped(li, e) {
    if (e.target.closest('a, button') || !document.getSelection()?.isCollapsed) return;
    li.classList.toggle('actions-open');
  }

  /** Opens the reaction picker of a message under its React button, or closes it. */
  #togglePicker(li, room, m, button) {
    const wasOpen = this.open?.button === button;
    this.closePicker();
    if (wasOpen) return;
    const me = this.app.nick;
    const choices = REACTIONS.map((emoji) =>
      h('button', {
        type: 'button',
        class: 'pick',
        'aria-label': `${reactionName(emoji)}${hasReacted(m, me, emoji) ? ' (yours: take it back)' : ''}`,
        'aria-pressed': hasReacted(m, me, emoji) ? 'true' : 'false',
        title: reactionName(emoji),
        text: emoji,
        on: {
          click: () => {
            this.closePicker({ refocus: true });
            this.app.actions.toggleReaction(room, m.seq, emoji);
          },
        },
      }),
    );
    const picker = h('div', { class: 'reaction-picker', role: 'group', 'aria-label': 'Pick a reaction' }, choices);
    picker.addEventListener('keydown', (e) => {
      const at = choices.indexOf(document.activeElement);
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        this.closePicker({ refocus: true });
      } else if ((e.key === 'ArrowRight' || e.key === 'ArrowLeft') && at >= 0) {
        e.preventDefault();
        choices[(at + (e.key === 'ArrowRight' ? 1 : choices.length - 1)) % choices.length].focus();
      }
    });
    li.append(picker);
    li.classList.add('picking');
    button.setAttribute('aria-expanded', 'true');
    this.open = { picker, button, li };
    choices[0].focus();
  }

  /** Closes the open reaction picker (focus back on its button with `refocus`). */
  closePicker({ refocus = false } = {}) {
    const open = this.open;
    if (!open) return;
    this.open = null;
    open.picker.remove();
    open.li.classList.remove('picking');
    open.button.setAttribute('aria-expanded', 'false');
    if (refocus && open.button.isConnected) open.button.focus();
  }

  /** Highlights `li` for a moment and gives it focus (a reply's quote led here). */
  highlight(li) {
    li.classList.add('highlight');
    li.tabIndex = -1;
    li.focus({ preventScroll: true });
    setTimeout(() => li.classList.remove('highlight'), HIGHLIGHT_MS);
  }
}

/**
 * A message's text, folded when long. Line breaks are normalized first (displayText), and
 * dir="auto" isolates the text's direction from the rest of the page.
 */
export function messageText(raw, me = null) {
  const text = displayText(raw);
  const box = h('div', { class: 'text', dir: 'auto' }, textNodes(text, me));
  if (text.length <= FOLD_CHARS && text.split('\n').length <= FOLD_LINES) return box;
  box.classList.add('folded');
  const toggle = h('button', {
    type: 'button',
    class: 'fold-toggle',
    'aria-expanded': 'false',
    text: 'Show more',
    on: {
      click: () => {
        const folded = box.classList.toggle('folded');
        toggle.textContent = folded ? 'Show more' : 'Show less';
        toggle.setAttribute('aria-expanded', String(!folded));
      },
    },
  });
  return [box, toggle];
}
