//! The input line of the full-screen chat: editing (cursor moves, word and line deletes),
//! the history of sent lines (Up/Down), and Tab completion of commands, rooms and nicks.
//! Pure: the event loop feeds it keys, the view reads [`Input::text`] and
//! [`Input::cursor`].

/// How many sent lines Up can bring back: an hour of chatting, in a few kilobytes.
const HISTORY_LINES: usize = 500;

/// The commands Tab completes after a leading `/`.
pub const COMMANDS: &[&str] = &[
    "/help", "/join", "/leave", "/me", "/nick", "/quit", "/rooms", "/who",
];

/// The line being typed, its cursor, and the lines sent before it.
#[derive(Debug, Default)]
pub struct Input {
    chars: Vec<char>,
    /// Cursor position, in chars, `0..=chars.len()`.
    cursor: usize,
    history: Vec<String>,
    /// While browsing history: the index shown, and the line that was being typed.
    browsing: Option<(usize, String)>,
    /// While cycling Tab completions: the candidates, the one shown, and where the
    /// completed word starts.
    completing: Option<Completion>,
}

#[derive(Debug)]
struct Completion {
    candidates: Vec<String>,
    shown: usize,
    start: usize,
}

/// What Tab may complete to, besides commands.
#[derive(Debug, Default)]
pub struct Candidates<'a> {
    /// Members of the current room.
    pub nicks: &'a [String],
    /// Rooms this user is in.
    pub rooms: &'a [String],
}

impl Input {
    /// The line as typed.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The cursor's position in chars.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Whether nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Types `c` at the cursor.
    pub fn insert(&mut self, c: char) {
        self.edited();
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
    }

    /// Backspace: deletes the char before the cursor.
    pub fn backspace(&mut self) {
        self.edited();
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
    }

    /// Delete: deletes the char under the cursor.
    pub fn delete(&mut self) {
        self.edited();
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
    }

    /// Left arrow.
    pub fn left(&mut self) {
        self.completing = None;
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Right arrow.
    pub fn right(&mut self) {
        self.completing = None;
        self.cursor = (self.cursor + 1).min(self.chars.len());
    }

    /// Home, Ctrl-A.
    pub fn home(&mut self) {
        self.completing = None;
        self.cursor = 0;
    }

    /// End, Ctrl-E.
    pub fn end(&mut self) {
        self.completing = None;
        self.cursor = self.chars.len();
    }

    /// Ctrl-W: deletes the word before the cursor (and the spaces after it).
    pub fn delete_word(&mut self) {
        self.edited();
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && self.chars[start - 1] != ' ' {
            start -= 1;
        }
        self.chars.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Ctrl-U: deletes everything before the cursor.
    pub fn delete_to_start(&mut self) {
        self.edited();
        self.chars.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Enter: takes the line (empty lines are not kept in the history).
    pub fn take(&mut self) -> String {
        let line = self.text();
        self.chars.clear();
        self.cursor = 0;
        self.browsing = None;
        self.completing = None;
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            if self.history.len() == HISTORY_LINES {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        line
    }

    /// Up: the previous line of the history (the line being typed is kept for Down).
    pub fn up(&mut self) {
        self.completing = None;
        let index = match &self.browsing {
            Some((0, _)) => return,
            Some((i, _)) => i - 1,
            None if self.history.is_empty() => return,
            None => {
                self.browsing = Some((self.history.len(), self.text()));
                self.history.len() - 1
            }
        };
        if let Some((shown, _)) = &mut self.browsing {
            *shown = index;
        }
        let line = self.history[index].clone();
        self.set(&line);
    }

    /// Down: the next line of the history, then the line that was being typed.
    pub fn down(&mut self) {
        self.completing = None;
        let Some((index, typed)) = self.browsing.take() else {
            return;
        };
        if index + 1 < self.history.len() {
            self.browsing = Some((index + 1, typed));
            let line = self.history[index + 1].clone();
            self.set(&line);
        } else {
            self.set(&typed);
        }
    }

    /// Tab: completes the word before the cursor, then cycles through the other candidates
    /// on each further Tab. A command at the line's start, a room after `/join ` or
    /// `/leave ` or `#`, a nick otherwise (with `: ` after it at the line's start).
    pub fn complete(&mut self, with: &Candidates<'_>) {
        if let Some(c) = &mut self.completing {
            c.shown = (c.shown + 1) % c.candidates.len();
            let (start, word) = (c.start, c.candidates[c.shown].clone());
            self.replace_word(start, &word);
            return;
        }
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1] != ' ' {
            start -= 1;
        }
        let word: String = self.chars[start..self.cursor].iter().collect();
        let before: String = self.chars[..start].iter().collect();
        let candidates = candidates(&before, &word, with);
        if let Some(first) = candidates.first().cloned() {
            self.replace_word(start, &first);
            if candidates.len() > 1 {
                self.completing = Some(Completion {
                    candidates,
                    shown: 0,
                    start,
                });
            }
        }
    }

    fn replace_word(&mut self, start: usize, word: &str) {
        self.chars.drain(start..self.cursor);
        for (i, c) in word.chars().enumerate() {
            self.chars.insert(start + i, c);
        }
        self.cursor = start + word.chars().count();
    }

    fn set(&mut self, line: &str) {
        self.chars = line.chars().collect();
        self.cursor = self.chars.len();
    }

    /// Any edit ends history browsing (the edited line is a new one) and completion.
    fn edited(&mut self) {
        self.browsing = None;
        self.completing = None;
    }
}

/// The completions of `word`, typed after `before`, each with what follows it.
fn candidates(before: &str, word: &str, with: &Candidates<'_>) -> Vec<String> {
    let first_word = before.trim().is_empty();
    if first_word && word.starts_with('/') {
        return COMMANDS
            .iter()
            .filter(|c| c.starts_with(word))
            .map(|c| format!("{c} "))
            .collect();
    }
    let command = before.split_whitespace().next().unwrap_or("");
    let room_arg = matches!(command, "/join" | "/leave" | "/who") && before.trim() == command;
    if room_arg || word.starts_with('#') {
        let prefix = word.strip_prefix('#').unwrap_or(word);
        let mut rooms: Vec<String> = with
            .rooms
            .iter()
            .filter(|r| r.starts_with(prefix))
            .map(|r| format!("#{r} "))
            .collect();
        rooms.sort();
        return rooms;
    }
    let prefix = word.strip_prefix('@').unwrap_or(word).to_lowercase();
    let at = if word.starts_with('@') { "@" } else { "" };
    let suffix = if first_word && at.is_empty() {
        ": "
    } else {
        " "
    };
    let mut nicks: Vec<String> = with
        .nicks
        .iter()
        .filter(|n| n.to_lowercase().starts_with(&prefix))
        .map(|n| format!("{at}{n}{suffix}"))
        .collect();
    nicks.sort();
    nicks.dedup();
    nicks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Input {
        let mut input = Input::default();
        text.chars().for_each(|c| input.insert(c));
        input
    }

    #[test]
    fn editing_moves_and_deletes() {
        let mut input = typed("hello world");
        input.left();
        input.left();
        input.insert('X');
        assert_eq!(input.text(), "hello worXld");
        input.home();
        input.delete();
        assert_eq!(input.text(), "ello worXld");
        input.end();
        input.backspace();
        assert_eq!((input.text().as_str(), input.cursor()), ("ello worXl", 10));
        input.delete_word();
        assert_eq!(input.text(), "ello ");
        input.delete_word();
        assert_eq!(input.text(), "");
        let mut input = typed("keep this");
        input.left();
        input.left();
        input.delete_to_start();
        assert_eq!((input.text().as_str(), input.cursor()), ("is", 0));
        // Multi-byte chars are one cursor step each.
        let mut input = typed("héllo");
        input.left();
        input.backspace();
        assert_eq!(input.text(), "hélo");
        // At the edges nothing breaks.
        input.home();
        input.backspace();
        input.left();
        input.end();
        input.delete();
        input.right();
        assert_eq!((input.text().as_str(), input.cursor()), ("hélo", 4));
    }

    #[test]
    fn history_brings_back_sent_lines_and_the_typed_one() {
        let mut input = typed("first");
        assert_eq!(input.take(), "first");
        "second".chars().for_each(|c| input.insert(c));
        input.take();
        input.take(); // an empty line is not kept
        "half typed".chars().for_each(|c| input.insert(c));
        input.up();
        assert_eq!(input.text(), "second");
        input.up();
        assert_eq!(input.text(), "first");
        input.up();
        assert_eq!(input.text(), "first");
        input.down();
        assert_eq!(input.text(), "second");
        input.down();
        assert_eq!(input.text(), "half typed");
        input.down();
        assert_eq!(input.text(), "half typed");
        // Editing a recalled line makes it a new line; sending it adds it once.
        input.up();
        input.insert('!');
        assert_eq!(input.take(), "second!");
        input.up();
        assert_eq!(input.text(), "second!");
    }

    #[test]
    fn history_is_bounded() {
        let mut input = Input::default();
        for i in 0..HISTORY_LINES + 10 {
            input.insert('x');
            format!("{i}").chars().for_each(|c| input.insert(c));
            input.take();
        }
        assert_eq!(input.history.len(), HISTORY_LINES);
        assert_eq!(input.history[0], "x10");
    }

    #[test]
    fn tab_completes_commands_rooms_and_nicks() {
        let nicks = vec!["alice".to_owned(), "alfred".to_owned(), "bob".to_owned()];
        let rooms = vec!["random".to_owned(), "lobby".to_owned(), "rust".to_owned()];
        let with = Candidates {
            nicks: &nicks,
            rooms: &rooms,
        };
        let mut input = typed("/jo");
        input.complete(&with);
        assert_eq!(input.text(), "/join ");
        "#ro".chars().for_each(|c| input.insert(c));
        assert_eq!(input.text(), "/join #ro");
        let mut input = typed("/join #ra");
        input.complete(&with);
        assert_eq!(input.text(), "/join #random ");
        let mut input = typed("/leave r");
        input.complete(&with);
        assert_eq!(input.text(), "/leave #random ");
        input.complete(&with);
        assert_eq!(input.text(), "/leave #rust ");
        // A nick at the start gets ": ", inside a line a space; Tab cycles.
        let mut input = typed("al");
        input.complete(&with);
        assert_eq!(input.text(), "alfred: ");
        input.complete(&with);
        assert_eq!(input.text(), "alice: ");
        input.complete(&with);
        assert_eq!(input.text(), "alfred: ");
        let mut input = typed("hi @B");
        input.complete(&with);
        assert_eq!(input.text(), "hi @bob ");
        // Nothing matches: nothing changes.
        let mut input = typed("zz");
        input.complete(&with);
        assert_eq!(input.text(), "zz");
        // Completion in the middle keeps what follows the cursor.
        let mut input = typed("bo said");
        (0..5).for_each(|_| input.left());
        input.complete(&with);
        assert_eq!(input.text(), "bob:  said");
    }
}
