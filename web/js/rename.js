// Version 3's rename on the page: a nick chosen while connected is sent as Rename on the
// live session (no reconnect; others see one rename), the guest secret that holds the new
// nick's claim now is kept under the new nick, and others' renames change a room's members
// and show as "OLD is now known as NEW" in its timeline.

import { explainError } from './format.js';
import { guestSecret, importSecret } from './views/identity.js';

/** Whether `conn`'s session can rename itself: open, and speaking version 3. */
export function canRename(conn) {
  return Boolean(conn?.isOpen) && (conn.session?.welcome?.version ?? 0) >= 3;
}

/**
 * Renames `conn`'s live session to `nick`; resolves with the nick the relay recorded. Later
 * sessions say Hello with it and, for a guest, with the secret the relay claimed it with:
 * the old nick's, saved as the new nick's too.
 */
export async function renameLive(conn, nick, { guest }) {
  const from = conn.nick;
  const { nick: now } = await conn.request('Rename', { nick });
  if (guest) importSecret(now, guestSecret(from));
  conn.nick = now;
  if (conn.session) conn.session.nick = now;
  return now;
}

/**
 * The nick dialog's new nick `to` (the app shows it already) on a version-3 session: a
 * refusal puts `from` back and reopens the dialog with the reason; a lost session
 * reconnects with the new nick, as on an older relay.
 */
export async function renameFromDialog(app, from, to) {
  try {
    await renameLive(app.conn, to, { guest: !app.auth.enabled });
  } catch (e) {
    if (e.lost) {
      app.conn.setNick(to);
      return;
    }
    app.nick = from;
    app.store.nick = from;
    app.status.renderNick();
    const why = explainError(e.code, e.message);
    app.nickDialog.open({ error: why.detail ? `${why.title} ${why.detail}` : why.title });
  }
}

/** A member of a room was renamed (`renamed` {room, from, to}): members and timeline follow. */
export function applyRename(app, { room: name, from, to }) {
  const room = app.rooms.get(name);
  if (!room || !room.rename(from, to)) return;
  const text = to === app.nick ? `You are now ${to}` : `${from} is now known as ${to}`;
  app.messages.notice(room, text, 'rename');
  if (room.typing.delete(from) && name === app.active) app.messages.renderTyping();
  if (name === app.active) {
    app.sidebar.renderMembers();
    app.sidebar.renderHeader();
  }
}
