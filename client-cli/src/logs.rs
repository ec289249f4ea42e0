//! Where the client's log lines go: stderr, except while the full-screen chat owns the
//! terminal. A line written to the terminal then would land in the middle of the screen, so
//! it is held instead (the newest [`HELD_MAX`]), the newest is shown in the chat's status
//! line, and all held lines are written to stderr once the terminal is back to normal.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// The most lines held while the terminal is taken: a noisy `CHITCHAT_LOG` filter cannot
/// grow memory without bound, and the newest lines are the ones that explain an exit.
const HELD_MAX: usize = 200;

/// The lines held while the terminal is taken (`None`: lines go to stderr).
static HELD: Mutex<Option<Held>> = Mutex::new(None);

#[derive(Default)]
struct Held {
    lines: VecDeque<String>,
    /// Lines dropped to keep [`HELD_MAX`].
    dropped: usize,
    /// The newest line the status line has not shown yet.
    unseen: Option<String>,
}

fn held() -> MutexGuard<'static, Option<Held>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer `tracing_subscriber` formats each line into: one line per writer, routed
/// when the line is complete (the writer is dropped).
pub struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::new())
    }
}

/// One formatted log line on its way.
pub struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let mut guard = held();
        match guard.as_mut() {
            Some(held) => {
                let line = plain(&String::from_utf8_lossy(&self.0));
                if held.lines.len() == HELD_MAX {
                    held.lines.pop_front();
                    held.dropped += 1;
                }
                held.unseen = Some(line.clone());
                held.lines.push_back(line);
            }
            None => {
                drop(guard);
                let _ = std::io::stderr().write_all(&self.0);
            }
        }
    }
}

/// `line` without its colours (ANSI escape sequences) and trailing newline: the status line
/// draws its own, and the held lines are printed after the terminal is restored.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.trim_end().chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `2026-12-01T03:25:59Z  INFO connect{relay=a}: chitchat_cli::session: connected node=b`
/// as `INFO connected node=b`: the timestamp, spans and module are for the full line,
/// printed later. A line of another shape as it is.
fn short(line: &str) -> String {
    let mut words = line.split_whitespace().peekable();
    let (Some(_ts), Some(level)) = (words.next(), words.next()) else {
        return line.to_owned();
    };
    // Spans (`name{fields}:`) and the module (`a::b:`) come before the message.
    while words
        .peek()
        .is_some_and(|w| w.ends_with(':') && (w.contains("::") || w.contains('{')))
    {
        words.next();
    }
    let rest: Vec<&str> = words.collect();
    format!("{level} {}", rest.join(" "))
}

/// Holds log lines until the returned guard is dropped, which writes them to stderr.
pub fn hold() -> Holding {
    held().get_or_insert_with(Held::default);
    Holding
}

/// While alive, log lines are held; see [`hold`].
pub struct Holding;

/// The newest line logged since the last call while lines are held, for the status line:
/// its level and message (the timestamp and the module are for the full line, printed
/// later).
pub fn take_unseen() -> Option<String> {
    let line = held().as_mut().and_then(|h| h.unseen.take())?;
    Some(short(&line))
}

impl Drop for Holding {
    fn drop(&mut self) {
        let Some(held) = held().take() else { return };
        let mut stderr = std::io::stderr().lock();
        if held.dropped > 0 {
            let _ = writeln!(stderr, "({} earlier log lines dropped)", held.dropped);
        }
        for line in held.lines {
            let _ = writeln!(stderr, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(text: &str) {
        let mut line = LogWriter.make_writer();
        line.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn held_lines_are_bounded_and_the_newest_is_shown_once() {
        let holding = hold();
        for i in 0..HELD_MAX + 5 {
            log(&format!("2026-12-01T03:25:59Z  WARN line {i}\n"));
        }
        assert_eq!(
            take_unseen().as_deref(),
            Some(format!("WARN line {}", HELD_MAX + 4).as_str())
        );
        assert_eq!(take_unseen(), None);
        {
            let guard = held();
            let held = guard.as_ref().unwrap();
            assert_eq!(held.lines.len(), HELD_MAX);
            assert_eq!(held.dropped, 5);
            assert!(held.lines.front().unwrap().ends_with("WARN line 5"));
        }
        drop(holding);
        assert!(held().is_none(), "lines go to stderr again");
    }

    #[test]
    fn the_status_line_gets_the_level_and_the_message() {
        assert_eq!(
            short("2026-12-01T03:25:59.9Z  INFO chitchat_cli::session::actor: connected relay=a:1"),
            "INFO connected relay=a:1"
        );
        assert_eq!(
            short("2026-12-01T03:25:59Z  INFO connect{relay=a}: chitchat_cli::x: up node=b"),
            "INFO up node=b"
        );
    }

    #[test]
    fn colours_are_taken_out() {
        assert_eq!(
            plain("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m connected\n"),
            "2026  INFO connected"
        );
    }
}
