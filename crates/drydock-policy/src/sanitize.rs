//! Untrusted text (issue bodies, comments) loses what a human reading it on the forge does not
//! see: HTML comments and declarations, zero-width and bidi controls, tag characters, variation
//! selectors and other invisible format and control characters. What was removed is reported so
//! the orchestrator can record it; the original stays in the audit log.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest excerpt of removed content kept in a [`Removal`].
const MAX_EXCERPT_CHARS: usize = 2_000;

/// The text the model may see, and what was taken out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Sanitized {
    /// The visible text.
    pub text: String,
    /// What was removed, in order of appearance.
    pub removed: Vec<Removal>,
}

impl Sanitized {
    /// True when nothing was removed.
    pub fn is_clean(&self) -> bool {
        self.removed.is_empty()
    }

    /// One line per kind, e.g. `2 HTML comments, 5 zero-width characters`.
    pub fn summary(&self) -> String {
        let mut counts: Vec<(RemovalKind, usize)> = Vec::new();
        for removal in &self.removed {
            match counts.iter_mut().find(|(k, _)| *k == removal.kind) {
                Some((_, n)) => *n += removal.count,
                None => counts.push((removal.kind, removal.count)),
            }
        }
        counts
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.describe(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One removed span (a run of the same kind of character, or one comment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Removal {
    /// What it was.
    pub kind: RemovalKind,
    /// Byte offset in the original text.
    pub offset: usize,
    /// Length in bytes in the original text.
    pub length: usize,
    /// How many comments or characters.
    pub count: usize,
    /// For comments, their text; for characters, their code points (`U+200B U+200B`); for tag
    /// characters, the ASCII they spell too. Cut at 2000 characters.
    pub content: String,
}

/// The kinds of hidden content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemovalKind {
    /// `<!-- ... -->` (also unterminated), `<![CDATA[...]]>`, `<!...>`, `<?...>`.
    HtmlComment,
    /// Zero-width spaces and joiners, word joiner, BOM, soft hyphen, invisible fillers.
    ZeroWidth,
    /// Bidirectional controls: embeddings, overrides, isolates, marks.
    Bidi,
    /// Tag characters U+E0000–U+E007F (invisible ASCII).
    TagCharacter,
    /// Variation selectors.
    VariationSelector,
    /// Other invisible format characters (Unicode category Cf, unassigned default-ignorables).
    Format,
    /// Control characters other than tab, newline and carriage return.
    Control,
}

impl RemovalKind {
    fn describe(self, n: usize) -> &'static str {
        match (self, n == 1) {
            (RemovalKind::HtmlComment, true) => "HTML comment",
            (RemovalKind::HtmlComment, false) => "HTML comments",
            (RemovalKind::ZeroWidth, true) => "zero-width character",
            (RemovalKind::ZeroWidth, false) => "zero-width characters",
            (RemovalKind::Bidi, true) => "bidi control",
            (RemovalKind::Bidi, false) => "bidi controls",
            (RemovalKind::TagCharacter, true) => "tag character",
            (RemovalKind::TagCharacter, false) => "tag characters",
            (RemovalKind::VariationSelector, true) => "variation selector",
            (RemovalKind::VariationSelector, false) => "variation selectors",
            (RemovalKind::Format, true) => "invisible format character",
            (RemovalKind::Format, false) => "invisible format characters",
            (RemovalKind::Control, true) => "control character",
            (RemovalKind::Control, false) => "control characters",
        }
    }
}

/// The kind of an invisible character, `None` for characters people see.
pub fn invisible_kind(c: char) -> Option<RemovalKind> {
    let code = c as u32;
    if (0x20..0x7F).contains(&code) {
        return None;
    }
    let kind = match code {
        0x09 | 0x0A | 0x0D => return None,
        0x00..=0x1F | 0x7F..=0x9F => RemovalKind::Control,
        0x200E | 0x200F | 0x061C | 0x202A..=0x202E | 0x2066..=0x2069 => RemovalKind::Bidi,
        0x200B..=0x200D
        | 0x2060..=0x2064
        | 0xFEFF
        | 0x180E
        | 0x00AD
        | 0x034F
        | 0x115F
        | 0x1160
        | 0x3164
        | 0xFFA0
        | 0x17B4
        | 0x17B5
        | 0x2800 => RemovalKind::ZeroWidth,
        0xE0000..=0xE007F => RemovalKind::TagCharacter,
        0xFE00..=0xFE0F | 0xE0100..=0xE01EF | 0x180B..=0x180D | 0x180F => {
            RemovalKind::VariationSelector
        }
        // Default-ignorable code points not yet assigned: invisible whatever they become.
        0x2065 | 0xFFF0..=0xFFF8 | 0xE0080..=0xE00FF | 0xE01F0..=0xE0FFF => RemovalKind::Format,
        _ if c.general_category() == GeneralCategory::Format => RemovalKind::Format,
        _ => return None,
    };
    Some(kind)
}

/// Removes hidden content from untrusted text and reports what it removed.
pub fn sanitize_untrusted(text: &str) -> Sanitized {
    // Characters that stay, with their byte offsets; invisible ones are dropped first so they
    // cannot break up a comment opener (`<!\u{200B}--`).
    let mut visible: Vec<(usize, char)> = Vec::with_capacity(text.len());
    let mut char_removals: Vec<Removal> = Vec::new();
    for (offset, c) in text.char_indices() {
        match invisible_kind(c) {
            Some(kind) => push_char_removal(&mut char_removals, kind, offset, c),
            None => visible.push((offset, c)),
        }
    }
    let mut comments: Vec<(usize, usize)> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < visible.len() {
        if let Some(end) = comment_end(&visible, i) {
            comments.push((i, end));
            i = end;
            continue;
        }
        out.push(visible[i].1);
        i += 1;
    }
    let mut removed: Vec<Removal> = Vec::new();
    let mut comment_spans: Vec<(usize, usize)> = Vec::new();
    for (start, end) in comments {
        let byte_start = visible[start].0;
        let byte_end = match end.checked_sub(1).and_then(|last| visible.get(last)) {
            Some((offset, c)) => offset + c.len_utf8(),
            None => byte_start,
        };
        comment_spans.push((byte_start, byte_end));
        let content: String = visible[start..end].iter().map(|(_, c)| *c).collect();
        removed.push(Removal {
            kind: RemovalKind::HtmlComment,
            offset: byte_start,
            length: byte_end - byte_start,
            count: 1,
            content: excerpt(&content),
        });
    }
    // Characters inside a removed comment are reported with the comment.
    removed.extend(char_removals.into_iter().filter(|r| {
        !comment_spans
            .iter()
            .any(|&(start, end)| r.offset >= start && r.offset < end)
    }));
    removed.sort_by_key(|r| r.offset);
    for removal in removed
        .iter_mut()
        .filter(|r| r.kind == RemovalKind::TagCharacter)
    {
        // Tag characters mirror ASCII: show what they spell.
        let spelled: String = text[removal.offset..removal.offset + removal.length]
            .chars()
            .filter_map(|c| char::from_u32((c as u32).wrapping_sub(0xE0000)))
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(MAX_EXCERPT_CHARS)
            .collect();
        if !spelled.is_empty() {
            removal.content = format!("{} (spells {spelled:?})", removal.content);
        }
    }
    Sanitized { text: out, removed }
}

fn push_char_removal(removals: &mut Vec<Removal>, kind: RemovalKind, offset: usize, c: char) {
    let point = format!("U+{:04X}", c as u32);
    if let Some(last) = removals.last_mut()
        && last.kind == kind
        && last.offset + last.length == offset
    {
        last.length += c.len_utf8();
        last.count += 1;
        if last.content.chars().count() < MAX_EXCERPT_CHARS {
            last.content.push(' ');
            last.content.push_str(&point);
        }
        return;
    }
    removals.push(Removal {
        kind,
        offset,
        length: c.len_utf8(),
        count: 1,
        content: point,
    });
}

fn excerpt(text: &str) -> String {
    if text.chars().count() <= MAX_EXCERPT_CHARS {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_EXCERPT_CHARS).collect();
    out.push('…');
    out
}

fn starts_with(chars: &[(usize, char)], at: usize, pattern: &str) -> bool {
    let mut i = at;
    for p in pattern.chars() {
        match chars.get(i) {
            Some((_, c)) if c.eq_ignore_ascii_case(&p) => i += 1,
            _ => return false,
        }
    }
    true
}

fn find(chars: &[(usize, char)], from: usize, pattern: &str) -> Option<usize> {
    (from..chars.len()).find(|&i| starts_with(chars, i, pattern))
}

/// Where a comment-like construct starting at `i` ends (exclusive), as an HTML tokenizer ends
/// it; unterminated ones run to the end of the text, since a browser hides all of it.
fn comment_end(chars: &[(usize, char)], i: usize) -> Option<usize> {
    if chars.get(i).map(|(_, c)| *c) != Some('<') {
        return None;
    }
    let len = chars.len();
    if starts_with(chars, i, "<!--") {
        // `<!-->` and `<!--->` close at once.
        if starts_with(chars, i + 4, ">") {
            return Some(i + 5);
        }
        if starts_with(chars, i + 4, "->") {
            return Some(i + 6);
        }
        let closers = [
            find(chars, i + 4, "-->").map(|e| e + 3),
            find(chars, i + 4, "--!>").map(|e| e + 4),
        ];
        return Some(closers.into_iter().flatten().min().unwrap_or(len));
    }
    if starts_with(chars, i, "<![CDATA[") {
        return Some(find(chars, i + 9, "]]>").map_or(len, |e| e + 3));
    }
    // `<!` and a letter is a declaration, `<?` a processing instruction: a browser hides both
    // up to the next `>` (CommonMark leaves `<!` before anything else as text).
    let declaration = starts_with(chars, i, "<!")
        && chars
            .get(i + 2)
            .is_some_and(|(_, c)| c.is_ascii_alphabetic());
    if declaration || starts_with(chars, i, "<?") {
        return Some(find(chars, i + 2, ">").map_or(len, |e| e + 1));
    }
    None
}

#[cfg(test)]
#[path = "sanitize_tests.rs"]
mod tests;
