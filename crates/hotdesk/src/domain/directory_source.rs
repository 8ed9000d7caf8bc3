//! A directory file read a piece at a time, so that an import of a million users holds a few
//! thousand entries in memory at once, not the file's whole tree (docs/architecture.md
//! "Importing").
//!
//! TOML has no streaming parser, so [`TomlPieces`] cuts the text into pieces that the `toml`
//! crate parses one by one: a piece ends just before a top-level `[[users]]`-style header (never
//! inside a string, a multi-line string or an array), once it holds enough entries or when the
//! kind of entry changes. Any other header (`[policy]`, a sub-table) stays with the piece it
//! follows, so every piece means what it meant inside the whole file. A CSV file is read record
//! by record (`directory_csv::parse_pieces`).

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use super::directory::{DirectoryError, DirectoryFile, parse_at};
use super::directory_csv::{self, CsvKind};

/// Entries per piece: small next to a million, large enough that a piece costs one parse call
/// of a few hundred kilobytes.
pub const PIECE_ENTRIES: usize = 5_000;

type Opener = Arc<dyn Fn() -> std::io::Result<Box<dyn Read + Send>> + Send + Sync>;

/// Where a directory comes from, and in which format. Cloning it is cheap; each pass over it
/// opens it again (an import reads a TOML file twice: profiles first, since users and devices
/// name them wherever they appear, then the rest).
#[derive(Clone)]
pub struct DirectorySource {
    name: String,
    format: Format,
    open: Opener,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Toml,
    Csv(CsvKind),
}

/// Which entries a pass reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Only the `[[profiles]]` pieces.
    Profiles,
    /// Everything else.
    Rest,
}

impl DirectorySource {
    /// A TOML directory file on disk.
    pub fn toml_file(path: &std::path::Path) -> DirectorySource {
        Self::file(path, Format::Toml)
    }

    /// A CSV directory file of `kind` on disk.
    pub fn csv_file(path: &std::path::Path, kind: CsvKind) -> DirectorySource {
        Self::file(path, Format::Csv(kind))
    }

    fn file(path: &std::path::Path, format: Format) -> DirectorySource {
        let owned = path.to_path_buf();
        DirectorySource {
            name: path.display().to_string(),
            format,
            open: Arc::new(move || {
                Ok(Box::new(std::fs::File::open(&owned)?) as Box<dyn Read + Send>)
            }),
        }
    }

    /// TOML text already in memory (an upload, a test); `name` names it in errors.
    pub fn toml_text(name: &str, text: String) -> DirectorySource {
        Self::text(name, text, Format::Toml)
    }

    /// CSV text of `kind` already in memory.
    pub fn csv_text(name: &str, kind: CsvKind, text: String) -> DirectorySource {
        Self::text(name, text, Format::Csv(kind))
    }

    fn text(name: &str, text: String, format: Format) -> DirectorySource {
        let text: Arc<[u8]> = text.into_bytes().into();
        DirectorySource {
            name: name.to_string(),
            format,
            open: Arc::new(move || {
                Ok(Box::new(std::io::Cursor::new(text.clone())) as Box<dyn Read + Send>)
            }),
        }
    }

    /// The name errors give the file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hand each piece of `pass` to `f`, in file order. Stops at the first error, `f`'s or the
    /// file's.
    pub fn for_each_piece<E: From<DirectoryError>>(
        &self,
        pass: Pass,
        f: &mut dyn FnMut(DirectoryFile) -> Result<(), E>,
    ) -> Result<(), E> {
        let reader = (self.open)().map_err(|e| self.unreadable(e))?;
        match self.format {
            Format::Csv(kind) => {
                // A CSV file holds one kind: profiles in the first pass, the rest in the second.
                if (kind == CsvKind::Profiles) != (pass == Pass::Profiles) {
                    return Ok(());
                }
                directory_csv::parse_pieces(&self.name, kind, reader, PIECE_ENTRIES, f)
            }
            Format::Toml => {
                let mut pieces = TomlPieces::new(BufReader::new(reader));
                loop {
                    let piece = match pieces.next_piece() {
                        Ok(Some(piece)) => piece,
                        Ok(None) => return Ok(()),
                        Err(e) => return Err(self.unreadable(e).into()),
                    };
                    if (piece.kind.as_deref() == Some("profiles")) != (pass == Pass::Profiles) {
                        continue;
                    }
                    f(parse_at(&self.name, &piece.text, piece.first_line)?)?;
                }
            }
        }
    }

    /// Read the whole file once without importing anything: a syntax error, a wrong type or
    /// an unknown key is reported before any database or key file is opened or made.
    pub fn check(&self) -> Result<(), DirectoryError> {
        for pass in [Pass::Profiles, Pass::Rest] {
            self.for_each_piece(pass, &mut |_| Ok::<_, DirectoryError>(()))?;
        }
        Ok(())
    }

    fn unreadable(&self, e: std::io::Error) -> DirectoryError {
        let message = if e.kind() == std::io::ErrorKind::InvalidData {
            "the file is not UTF-8 text".to_string()
        } else {
            format!("cannot read it: {e}")
        };
        DirectoryError::Invalid {
            file: self.name.clone(),
            message,
        }
    }
}

/// The array-of-tables headers a piece may be cut before: the directory's entry lists.
const ENTRY_LISTS: [&str; 5] = ["apps", "users", "profiles", "devices", "admins"];

/// One piece of TOML text.
#[derive(Debug)]
struct TomlPiece {
    text: String,
    /// The line of the file the piece starts on (1-based), for error positions.
    first_line: usize,
    /// The entry list its `[[...]]` tables belong to; `None` for the top of the file and for
    /// other tables (`[policy]`), which always get pieces of their own.
    kind: Option<String>,
}

/// Where the lexer is at the end of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    Code,
    /// Inside `"""` or `'''`, which may span lines.
    MultiBasic,
    MultiLiteral,
}

/// Cuts TOML text into [`TomlPiece`]s, reading a line at a time.
struct TomlPieces<R> {
    reader: R,
    lex: Lex,
    /// Open `[` and `{` of values (multi-line arrays).
    depth: usize,
    line_no: usize,
    /// The line that starts the next piece, already read.
    pending: Option<String>,
    done: bool,
}

impl<R: BufRead> TomlPieces<R> {
    fn new(reader: R) -> Self {
        TomlPieces {
            reader,
            lex: Lex::Code,
            depth: 0,
            line_no: 0,
            pending: None,
            done: false,
        }
    }

    fn read_line(&mut self) -> std::io::Result<Option<String>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        Ok(Some(line))
    }

    fn next_piece(&mut self) -> std::io::Result<Option<TomlPiece>> {
        if self.done {
            return Ok(None);
        }
        let mut text = String::new();
        let mut first_line = self.line_no + 1;
        let mut kind: Option<String> = None;
        let mut entries = 0;
        if let Some(line) = self.pending.take() {
            first_line = self.line_no;
            kind = self.entry_header(&line);
            entries = 1;
            self.scan(&line);
            text.push_str(&line);
        }
        // Lines before the first header (top-level keys, comments) are a piece of no list.
        while let Some(line) = self.read_line()? {
            if self.lex == Lex::Code && self.depth == 0 && is_table_header(&line) {
                // The kind of what this header opens: a list's (`Some`), another table's
                // (`None`: `[policy]`), or more of the current entry (a sub-table: no change).
                let opens = match self.entry_header(&line) {
                    Some(list) => Some(Some(list)),
                    None if is_sub_table(&line, kind.as_deref()) => None,
                    None => Some(None),
                };
                if let Some(opens) = opens {
                    let full = opens.is_some() && entries >= PIECE_ENTRIES;
                    if !text.is_empty() && (opens != kind || full) {
                        self.pending = Some(line);
                        return Ok(Some(TomlPiece {
                            text,
                            first_line,
                            kind,
                        }));
                    }
                    kind = opens;
                    entries += 1;
                }
            }
            self.scan(&line);
            text.push_str(&line);
        }
        self.done = true;
        Ok((!text.is_empty()).then_some(TomlPiece {
            text,
            first_line,
            kind,
        }))
    }

    /// `users` for a top-level `[[users]]` line.
    fn entry_header(&self, line: &str) -> Option<String> {
        let inner = line.trim().strip_prefix("[[")?;
        let (name, rest) = inner.split_once("]]")?;
        let rest = rest.trim_start();
        if !(rest.is_empty() || rest.starts_with('#')) {
            return None;
        }
        let name = name.trim();
        // `[["users"]]` is the same header, quoted.
        let name = ['"', '\'']
            .iter()
            .find_map(|q| name.strip_prefix(*q).and_then(|n| n.strip_suffix(*q)))
            .unwrap_or(name);
        ENTRY_LISTS.contains(&name).then(|| name.to_string())
    }

    /// Follow strings and brackets through one line, so that the next line is known to start
    /// at the top level or not.
    fn scan(&mut self, line: &str) {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match self.lex {
                Lex::MultiBasic => {
                    if b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i..].starts_with(b"\"\"\"") {
                        self.lex = Lex::Code;
                        i += 3;
                        continue;
                    }
                    i += 1;
                }
                Lex::MultiLiteral => {
                    if b[i..].starts_with(b"'''") {
                        self.lex = Lex::Code;
                        i += 3;
                        continue;
                    }
                    i += 1;
                }
                Lex::Code => match b[i] {
                    b'#' => return,
                    b'"' if b[i..].starts_with(b"\"\"\"") => {
                        self.lex = Lex::MultiBasic;
                        i += 3;
                    }
                    b'\'' if b[i..].starts_with(b"'''") => {
                        self.lex = Lex::MultiLiteral;
                        i += 3;
                    }
                    b'"' => {
                        // A one-line basic string: to its closing quote, escapes skipped.
                        i += 1;
                        while i < b.len() && b[i] != b'"' {
                            i += if b[i] == b'\\' { 2 } else { 1 };
                        }
                        i += 1;
                    }
                    b'\'' => {
                        i += 1;
                        while i < b.len() && b[i] != b'\'' {
                            i += 1;
                        }
                        i += 1;
                    }
                    b'[' | b'{' => {
                        self.depth += 1;
                        i += 1;
                    }
                    b']' | b'}' => {
                        self.depth = self.depth.saturating_sub(1);
                        i += 1;
                    }
                    _ => i += 1,
                },
            }
        }
    }
}

/// Whether a line is a table header (`[policy]`, `[[x.y]]`), at the top level.
fn is_table_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

/// Whether a header line names a table inside the current list's last entry
/// (`[users.extra]` under `[[users]]`): it stays with that entry.
fn is_sub_table(line: &str, kind: Option<&str>) -> bool {
    let Some(kind) = kind else { return false };
    let name = line.trim().trim_start_matches('[').trim_start();
    name.strip_prefix(kind)
        .is_some_and(|rest| rest.trim_start().starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<TomlPiece> {
        let mut p = TomlPieces::new(text.as_bytes());
        let mut all = Vec::new();
        while let Some(piece) = p.next_piece().unwrap() {
            all.push(piece);
        }
        all
    }

    #[test]
    fn the_pieces_put_together_are_the_file() {
        let text = super::super::directory::DEMO;
        let all = pieces(text);
        assert!(all.len() > 1, "the demo has several lists");
        let joined: String = all.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, text);
        let mut line = 1;
        for p in &all {
            assert_eq!(p.first_line, line);
            line += p.text.matches('\n').count();
        }
    }

    #[test]
    fn a_header_inside_a_multi_line_string_or_array_does_not_cut() {
        let text = "[[users]]\nid = \"a\"\nname = \"\"\"\n[[devices]]\n\"\"\"\n\
                    [[users]]\nid = \"b\"\nprofiles = [\n\"x\",\n]\n[[devices]]\nname = \"d\"\n\
                    [[ \"devices\" ]]\nname = 'it''s'\n";
        let all = pieces(text);
        let kinds: Vec<_> = all.iter().map(|p| p.kind.clone()).collect();
        assert_eq!(
            kinds,
            [Some("users".to_string()), Some("devices".to_string())]
        );
        assert!(all[0].text.contains("[[devices]]\n\"\"\""));
        assert_eq!(all[1].first_line, 11);
    }

    #[test]
    fn a_list_is_cut_every_so_many_entries_and_other_tables_get_their_own_piece() {
        let mut text = String::from("# top\n[policy]\nmultiple_login = \"allowed\"\n");
        for i in 0..(PIECE_ENTRIES * 2 + 1) {
            text.push_str(&format!("[[users]]\nid = \"u{i}\"\n[users.extra]\n"));
        }
        text.push_str("[[profiles]]\nname = \"p\"\n[policy]\n[[profiles]]\nname = \"q\"\n");
        let all = pieces(&text);
        let kinds: Vec<_> = all.iter().map(|p| p.kind.as_deref()).collect();
        assert_eq!(
            kinds,
            [
                None,
                Some("users"),
                Some("users"),
                Some("users"),
                Some("profiles"),
                None,
                Some("profiles")
            ]
        );
        assert!(all[0].text.contains("[policy]"));
        assert_eq!(all[1].text.matches("[[users]]").count(), PIECE_ENTRIES);
        assert_eq!(all[3].text.matches("[[users]]").count(), 1);
        assert_eq!(all[1].text.matches("[users.extra]").count(), PIECE_ENTRIES);
        assert_eq!(all[5].text, "[policy]\n");
    }
}
