//! Parsing `git diff-tree --numstat -z` into a [`DiffStat`].

use drydock_core::{DiffStat, FileChange};

/// Parses `<added>\t<deleted>\t<path>\0` records; binary files have `-` counts.
/// Renames are off, so every record has exactly one path.
pub(crate) fn parse_numstat(raw: &[u8]) -> Result<DiffStat, String> {
    let mut files = Vec::new();
    for record in raw.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let mut fields = record.splitn(3, |b| *b == b'\t');
        let (Some(added), Some(deleted), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!(
                "bad numstat record {:?}",
                String::from_utf8_lossy(record)
            ));
        };
        let binary = added == b"-" && deleted == b"-";
        let count = |field: &[u8]| -> Result<u32, String> {
            if binary {
                return Ok(0);
            }
            std::str::from_utf8(field)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                // A file of more than four billion lines saturates rather than wraps.
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                .ok_or_else(|| format!("bad line count {:?}", String::from_utf8_lossy(field)))
        };
        files.push(FileChange {
            path: String::from_utf8_lossy(path).into_owned(),
            insertions: count(added)?,
            deletions: count(deleted)?,
            binary,
        });
    }
    Ok(DiffStat { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_binary_and_non_utf8_records() {
        let raw = b"3\t1\tsrc/lib.rs\0-\t-\tlogo.png\x000\t12\tcaf\xe9.txt\0";
        let stat = parse_numstat(raw).unwrap();
        assert_eq!(
            stat.files,
            vec![
                FileChange {
                    path: "src/lib.rs".into(),
                    insertions: 3,
                    deletions: 1,
                    binary: false,
                },
                FileChange {
                    path: "logo.png".into(),
                    insertions: 0,
                    deletions: 0,
                    binary: true,
                },
                FileChange {
                    path: "caf\u{fffd}.txt".into(),
                    insertions: 0,
                    deletions: 12,
                    binary: false,
                },
            ]
        );
        assert_eq!(stat.changed_lines(), 16);
    }

    #[test]
    fn paths_with_tabs_keep_them() {
        let stat = parse_numstat(b"1\t0\ta\tb.txt\0").unwrap();
        assert_eq!(stat.files[0].path, "a\tb.txt");
    }

    #[test]
    fn malformed_records_are_errors() {
        assert!(parse_numstat(b"1\t2\0").is_err());
        assert!(parse_numstat(b"x\t2\tpath\0").is_err());
        assert!(parse_numstat(b"").unwrap().files.is_empty());
        let huge = parse_numstat(b"99999999999\t0\tbig.txt\0").unwrap();
        assert_eq!(huge.files[0].insertions, u32::MAX);
    }
}
