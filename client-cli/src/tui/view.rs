//! Drawing the full-screen chat with ratatui: the room list on the left (unread and mention
//! counts), the shown room's rows wrapped to the width and scrolled, who is typing, the
//! status line (relay, transport, connection, the last note) and the input line with its
//! cursor. Colours only when [`Theme::colour`] (off under `NO_COLOR`); dim and bold stay.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthChar;

use super::input::Input;
use super::model::{App, Link};
use super::rows::{Row, rows};

/// The room list's width in columns: room names up to 12 chars with their counts.
const SIDEBAR: u16 = 22;

/// Styles, with or without colour.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    /// Whether to use colours (false when `NO_COLOR` is set).
    pub colour: bool,
}

impl Theme {
    fn fg(self, colour: Color) -> Style {
        if self.colour {
            Style::default().fg(colour)
        } else {
            Style::default()
        }
    }

    fn dim(self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }

    /// A nick's colour, the same for a nick every time.
    fn nick(self, nick: &str) -> Style {
        const PALETTE: [Color; 6] = [
            Color::Cyan,
            Color::Green,
            Color::Yellow,
            Color::Magenta,
            Color::Blue,
            Color::LightRed,
        ];
        let hash = nick
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31) + b as usize);
        self.fg(PALETTE[hash % PALETTE.len()])
            .add_modifier(Modifier::BOLD)
    }
}

/// What a draw learned that the event loop needs: the message view's height (a PgUp's
/// page) and the furthest one may scroll back.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drawn {
    pub page: usize,
    pub max_scroll: usize,
}

/// Draws the whole screen at `now` (ms since the Unix epoch).
pub fn draw(frame: &mut Frame, app: &App, input: &Input, theme: Theme, now: u64) -> Drawn {
    let [side, main] =
        Layout::horizontal([Constraint::Length(SIDEBAR), Constraint::Min(10)]).areas(frame.area());
    let [view, typing, status, line] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(main);
    room_list(frame, side, app, theme);
    let drawn = messages(frame, view, app, theme);
    typing_line(frame, typing, app, theme, now);
    status_line(frame, status, app, theme, now);
    input_line(frame, line, app, input);
    drawn
}

fn room_list(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let mut lines = vec![Line::styled("rooms", theme.dim())];
    for (i, room) in app.rooms.iter().enumerate() {
        let mut style = Style::default();
        if i == app.current {
            style = style.add_modifier(Modifier::REVERSED);
        }
        let key = if i < 9 {
            format!("{} ", i + 1)
        } else {
            "  ".into()
        };
        let mut spans = vec![
            Span::styled(key, theme.dim()),
            Span::styled(format!("#{}", room.name), style),
        ];
        if room.unread > 0 {
            spans.push(Span::styled(
                format!(" {}", room.unread),
                theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ));
        }
        if room.mentions > 0 {
            spans.push(Span::styled(
                format!(" @{}", room.mentions),
                theme.fg(Color::LightRed).add_modifier(Modifier::BOLD),
            ));
        }
        lines.push(Line::from(spans));
    }
    let block = Block::default().borders(Borders::RIGHT);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The shown room's rows, wrapped to the width, the newest at the bottom unless scrolled.
fn messages(frame: &mut Frame, area: Rect, app: &App, theme: Theme) -> Drawn {
    let width = usize::from(area.width).max(1);
    let (entries, scroll) = match app.room() {
        Some(room) => (&room.entries, room.scroll),
        None => (&app.log, 0),
    };
    let mut lines: Vec<Line> = Vec::new();
    for row in rows(entries, &app.nick) {
        lay_out(&mut lines, row, width, theme);
    }
    let page = usize::from(area.height);
    let max_scroll = lines.len().saturating_sub(page);
    let scroll = scroll.min(max_scroll);
    let end = lines.len() - scroll;
    let start = end.saturating_sub(page);
    let mut shown: Vec<Line> = lines.drain(start..end).collect();
    if scroll > 0 && !shown.is_empty() {
        // Say so on the top line: newer lines are below.
        shown[0] = Line::styled(
            format!("-- {scroll} more lines below (PgDn) --"),
            theme.fg(Color::Yellow).add_modifier(Modifier::REVERSED),
        );
    }
    // Short rooms sit at the bottom, next to the input line.
    let pad = page.saturating_sub(shown.len());
    let mut all = vec![Line::default(); pad];
    all.extend(shown);
    frame.render_widget(Paragraph::new(all), area);
    Drawn { page, max_scroll }
}

/// One row as one or more screen lines (text wrapped under its first column).
fn lay_out(lines: &mut Vec<Line<'static>>, row: Row, width: usize, theme: Theme) {
    match row {
        Row::Day(day) => {
            let label = format!("── {day} ");
            let fill = width.saturating_sub(text_width(&label));
            lines.push(Line::styled(
                format!("{label}{}", "─".repeat(fill)),
                theme.dim(),
            ));
        }
        Row::Event { time, text } => {
            let head = vec![Span::styled(format!("{time} -- "), theme.dim())];
            wrap(lines, head, &text, theme.dim(), width);
        }
        Row::Message {
            time,
            from,
            text,
            action,
            pending,
            failed,
            mention,
        } => {
            let mut head = vec![Span::styled(format!("{time} "), theme.dim())];
            let nick = from.unwrap_or_default();
            if action {
                head.push(Span::styled(format!("* {nick} "), theme.nick(&nick)));
            } else {
                head.push(Span::styled(format!("{nick:>10} "), theme.nick(&nick)));
            }
            let mut style = Style::default();
            if pending {
                style = style.add_modifier(Modifier::DIM);
            }
            if mention {
                style = style
                    .patch(theme.fg(Color::LightRed))
                    .add_modifier(Modifier::BOLD);
            }
            let text = match failed {
                Some(why) => {
                    style = style.add_modifier(Modifier::CROSSED_OUT);
                    format!("{text}  [not sent: {why}]")
                }
                None => text,
            };
            wrap(lines, head, &text, style, width);
        }
    }
}

/// `head` then `text` in `style`, wrapped at `width`; continuation lines are indented to
/// the text's column, so the head's column stays clear.
fn wrap(
    lines: &mut Vec<Line<'static>>,
    head: Vec<Span<'static>>,
    text: &str,
    style: Style,
    width: usize,
) {
    let indent = head.iter().map(|s| s.width()).sum::<usize>();
    let room = width.saturating_sub(indent).max(8);
    let mut first = Some(head);
    for part in text.split('\n') {
        let mut chunk = String::new();
        let mut used = 0;
        for c in part.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > room {
                push(lines, &mut first, indent, std::mem::take(&mut chunk), style);
                used = 0;
            }
            chunk.push(c);
            used += w;
        }
        push(lines, &mut first, indent, chunk, style);
    }
}

fn push(
    lines: &mut Vec<Line<'static>>,
    head: &mut Option<Vec<Span<'static>>>,
    indent: usize,
    chunk: String,
    style: Style,
) {
    let mut spans = head
        .take()
        .unwrap_or_else(|| vec![Span::raw(" ".repeat(indent))]);
    spans.push(Span::styled(
        chunk.trim_start_matches("    ").to_owned(),
        style,
    ));
    lines.push(Line::from(spans));
}

fn text_width(text: &str) -> usize {
    text.chars().map(|c| c.width().unwrap_or(0)).sum()
}

fn typing_line(frame: &mut Frame, area: Rect, app: &App, theme: Theme, now: u64) {
    let typing = app.room().map(|r| r.typing_at(now)).unwrap_or_default();
    let text = match typing.as_slice() {
        [] => String::new(),
        [one] => format!("{one} is typing"),
        [one, two] => format!("{one} and {two} are typing"),
        many => format!("{} people are typing", many.len()),
    };
    frame.render_widget(Paragraph::new(Line::styled(text, theme.dim())), area);
}

/// The status line: the relay node, the transport, the connection and the last note.
pub fn status_text(app: &App, now: u64) -> String {
    let link = match &app.link {
        Link::Connected { node, transport } => format!("relay {node} via {transport} · connected"),
        Link::Reconnecting {
            at_ms: Some(at),
            why,
        } if *at > now => {
            let secs = (at - now).div_ceil(1000);
            format!("{why} · reconnecting in {secs}s")
        }
        Link::Reconnecting { why, .. } => format!("{why} · reconnecting…"),
    };
    let room = app
        .room()
        .map(|r| match r.topic.as_deref() {
            Some(topic) if !topic.is_empty() => {
                format!(" · #{} ({} here) · {topic}", r.name, r.members.len())
            }
            _ => format!(" · #{} ({} here)", r.name, r.members.len()),
        })
        .unwrap_or_default();
    match &app.note {
        Some(note) => format!(" {} {link}{room} · {note}", app.nick),
        None => format!(" {} {link}{room}", app.nick),
    }
}

fn status_line(frame: &mut Frame, area: Rect, app: &App, theme: Theme, now: u64) {
    let style = match app.link {
        Link::Connected { .. } => theme.fg(Color::Black).bg_if(theme, Color::Cyan),
        Link::Reconnecting { .. } => theme.fg(Color::Black).bg_if(theme, Color::Yellow),
    }
    .add_modifier(Modifier::REVERSED);
    frame.render_widget(Paragraph::new(status_text(app, now)).style(style), area);
}

trait BgIf {
    fn bg_if(self, theme: Theme, colour: Color) -> Style;
}

impl BgIf for Style {
    /// A background colour only with colours on.
    fn bg_if(self, theme: Theme, colour: Color) -> Style {
        if theme.colour { self.bg(colour) } else { self }
    }
}

/// The input line, scrolled so the cursor stays visible; the prompt names the room.
fn input_line(frame: &mut Frame, area: Rect, app: &App, input: &Input) {
    let prompt = match app.current_name() {
        Some(room) => format!("#{room}> "),
        None => "> ".to_owned(),
    };
    let chars: Vec<char> = input.text().chars().collect();
    let prompt_width = text_width(&prompt);
    let room = usize::from(area.width)
        .saturating_sub(prompt_width + 1)
        .max(1);
    let cursor_col: usize = chars[..input.cursor()]
        .iter()
        .map(|c| c.width().unwrap_or(0))
        .sum();
    // Skip whole chars from the left until the cursor fits.
    let mut skip = 0;
    let mut skipped_width = 0;
    while cursor_col - skipped_width > room && skip < chars.len() {
        skipped_width += chars[skip].width().unwrap_or(0);
        skip += 1;
    }
    let visible: String = chars[skip..].iter().collect();
    frame.render_widget(Paragraph::new(format!("{prompt}{visible}")), area);
    let x = area.x + (prompt_width + cursor_col - skipped_width) as u16;
    frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
}
