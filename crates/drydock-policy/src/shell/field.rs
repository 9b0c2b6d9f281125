//! Words after expansion (fields), and how expanded items become fields.

use super::state::ShellState;
use super::word::Item;
use crate::paths::{DYNAMIC, HOME};

/// A word after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// The text; [`HOME`] and [`DYNAMIC`] stand for the home directory and unknown content.
    pub text: String,
    /// Per character of `text`: an unquoted pattern character.
    pub glob: Vec<bool>,
    /// Some part is unknown.
    pub dynamic: bool,
    /// The source text of the word it came from.
    pub raw: String,
    /// The word is plain unquoted text (aliases and functions are looked up only for these).
    pub plain: bool,
}

#[derive(Default)]
struct FieldBuilder {
    text: String,
    glob: Vec<bool>,
    dynamic: bool,
    unquoted_dynamic: bool,
    keep: bool,
}

/// Field splitting of unquoted expansion results on `IFS`, then quote removal.
pub(crate) fn split_fields(items: &[Item], st: &ShellState, raw: &str, plain: bool) -> Vec<Field> {
    let ifs = st.ifs();
    let mut fields = Vec::new();
    let mut current = FieldBuilder::default();
    // POSIX: runs of IFS white space separate fields; each other IFS character ends one, even
    // an empty one, except right after white space that already ended a field.
    let mut ended_by_space = false;
    for item in items {
        match item {
            Item::Char {
                c,
                quoted,
                expanded,
            } => {
                if *expanded && !*quoted {
                    match &ifs {
                        Some(ifs) if ifs.contains(*c) => {
                            let is_space = matches!(c, ' ' | '\t' | '\n');
                            if is_space {
                                if !current.text.is_empty() || current.keep {
                                    current.finish(&mut fields, raw, plain);
                                    ended_by_space = true;
                                }
                            } else if ended_by_space && current.text.is_empty() && !current.keep {
                                ended_by_space = false;
                            } else {
                                current.keep = true;
                                current.finish(&mut fields, raw, plain);
                                ended_by_space = false;
                            }
                            continue;
                        }
                        Some(_) => {}
                        // Unknown IFS: the split cannot be predicted.
                        None => current.dynamic = true,
                    }
                }
                ended_by_space = false;
                current.push(*c, !*quoted && matches!(c, '*' | '?' | '['));
            }
            Item::Dynamic { quoted } => {
                current.push(DYNAMIC, false);
                current.dynamic = true;
                if !*quoted {
                    current.unquoted_dynamic = true;
                }
            }
            Item::QuotedEmpty => current.keep = true,
            Item::Multi { .. } => {
                current.push(DYNAMIC, false);
                current.dynamic = true;
            }
        }
    }
    current.finish(&mut fields, raw, plain);
    fields
}

pub(crate) fn join_items(items: &[Item], raw: &str) -> Field {
    let mut builder = FieldBuilder {
        keep: true,
        ..FieldBuilder::default()
    };
    for item in items {
        match item {
            Item::Char { c, quoted, .. } => {
                builder.push(*c, !*quoted && matches!(c, '*' | '?' | '['));
            }
            Item::Dynamic { .. } | Item::Multi { .. } => {
                builder.push(DYNAMIC, false);
                builder.dynamic = true;
            }
            Item::QuotedEmpty => {}
        }
    }
    builder.build(raw, false)
}

impl Field {
    /// A field from known text with no pattern characters.
    pub fn literal(text: &str) -> Self {
        Self {
            text: text.to_string(),
            glob: vec![false; text.chars().count()],
            dynamic: text.contains(DYNAMIC),
            raw: text.to_string(),
            plain: true,
        }
    }

    /// An unknown field shown as `raw`.
    pub fn unknown(raw: &str) -> Self {
        Self {
            text: DYNAMIC.to_string(),
            glob: vec![false],
            dynamic: true,
            raw: raw.to_string(),
            plain: false,
        }
    }

    /// True when bash would treat the field as a filename pattern.
    pub fn has_glob(&self) -> bool {
        let chars: Vec<char> = self.text.chars().collect();
        let mut open = false;
        for (c, special) in chars.iter().zip(&self.glob) {
            if !special {
                continue;
            }
            match c {
                '*' | '?' => return true,
                '[' => open = true,
                ']' if open => return true,
                _ => {}
            }
        }
        false
    }

    /// The text as shown to people: unknown parts as the source wrote them.
    pub fn display(&self) -> String {
        if self.dynamic {
            self.raw.clone()
        } else {
            self.text.replace(HOME, "~")
        }
    }

    /// The part after the first `skip` characters, for attached option values (`-ofile`).
    pub fn tail(&self, skip: usize) -> Field {
        let text: String = self.text.chars().skip(skip).collect();
        Field {
            dynamic: text.contains(DYNAMIC),
            glob: self.glob.iter().skip(skip).copied().collect(),
            raw: self.raw.chars().skip(skip).collect(),
            plain: self.plain,
            text,
        }
    }

    /// The text with [`HOME`] shown as `~` and unknown parts as `…`.
    pub fn shown(&self) -> String {
        self.text.replace(HOME, "~").replace(DYNAMIC, "…")
    }
}

impl FieldBuilder {
    fn push(&mut self, c: char, glob: bool) {
        self.text.push(c);
        self.glob.push(glob);
    }

    fn finish(&mut self, fields: &mut Vec<Field>, raw: &str, plain: bool) {
        if !self.text.is_empty() || self.keep {
            let builder = std::mem::take(self);
            fields.push(builder.build(raw, plain));
        } else {
            *self = FieldBuilder::default();
        }
    }

    fn build(self, raw: &str, plain: bool) -> Field {
        Field {
            dynamic: self.dynamic || self.text.contains(DYNAMIC),
            text: self.text,
            glob: self.glob,
            raw: raw.to_string(),
            plain: plain && !self.dynamic,
        }
    }
}
