//! Directory files as CSV, the way Cisco's bulk tool and spreadsheets keep them: one file per
//! kind (`users.csv`, `devices.csv`, `profiles.csv`), a header row of the directory file's keys,
//! lists separated by `;` (README "CSV directory files").
//!
//! A CSV file becomes the same [`DirectoryFile`] a TOML file does, and is imported through the
//! same [`super::directory::import`]: the same rules, locks and canonical names. An empty cell
//! leaves the stored value as it is, except in a list column, where it is the empty list (so an
//! export, which writes every column, imports back as it was).

use super::directory::{DeviceEntry, DirectoryError, DirectoryFile, ProfileEntry, UserEntry};

/// Which entities a CSV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    Users,
    Devices,
    Profiles,
}

impl CsvKind {
    pub const ALL: [CsvKind; 3] = [CsvKind::Users, CsvKind::Devices, CsvKind::Profiles];

    pub fn name(self) -> &'static str {
        match self {
            CsvKind::Users => "users",
            CsvKind::Devices => "devices",
            CsvKind::Profiles => "profiles",
        }
    }

    pub fn parse(name: &str) -> Option<CsvKind> {
        CsvKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind a file's name says: `users*.csv`, `devices*.csv`, `profiles*.csv`.
    pub fn of_file(path: &std::path::Path) -> Option<CsvKind> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if !name.ends_with(".csv") {
            return None;
        }
        CsvKind::ALL
            .into_iter()
            .find(|k| name.starts_with(k.name()))
    }

    /// The columns, in the order an export writes them; the first is the key.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            CsvKind::Users => &[
                "id",
                "name",
                "pin",
                "password",
                "extension",
                "profiles",
                "max_login_minutes",
            ],
            CsvKind::Devices => &["name", "model", "em_enabled", "logout_profile"],
            CsvKind::Profiles => &["name", "description", "lines"],
        }
    }

    fn lists(self) -> &'static [&'static str] {
        match self {
            CsvKind::Users => &["profiles"],
            CsvKind::Devices => &[],
            CsvKind::Profiles => &["lines"],
        }
    }
}

/// One row's cells by column name, with where they are for messages.
struct Row<'a> {
    file: &'a str,
    line: u64,
    cells: Vec<(&'a str, String)>,
    kind: CsvKind,
}

impl Row<'_> {
    fn error(&self, column: &str, message: impl Into<String>) -> DirectoryError {
        DirectoryError::Cell {
            file: self.file.to_string(),
            row: self.line,
            column: column.to_string(),
            message: message.into(),
        }
    }

    /// A text cell, without the spaces around it; an empty one is not given.
    fn text(&self, column: &str) -> Option<String> {
        self.secret(column)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A secret's cell as written: a space in a password is part of it.
    fn secret(&self, column: &str) -> Option<String> {
        self.cells
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty())
    }

    /// A list cell (`a;b`); an empty one, in a column the file has, is the empty list.
    fn list(&self, column: &str) -> Option<Vec<String>> {
        let (_, value) = self.cells.iter().find(|(c, _)| *c == column)?;
        Some(
            value
                .split(';')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    fn key(&self) -> Result<String, DirectoryError> {
        let column = self.kind.columns()[0];
        self.text(column)
            .ok_or_else(|| self.error(column, "is empty: every row needs one"))
    }
}

/// Read a CSV directory file of `kind`; `file` names it in errors.
pub fn parse(file: &str, kind: CsvKind, text: &str) -> Result<DirectoryFile, DirectoryError> {
    let mut whole = DirectoryFile::default();
    parse_pieces(file, kind, text.as_bytes(), usize::MAX, &mut |piece| {
        whole = piece;
        Ok::<_, DirectoryError>(())
    })?;
    Ok(whole)
}

/// Read a CSV directory file of `kind` record by record, handing `f` a directory of at most
/// `piece` entries at a time (`directory_source`), and one (perhaps empty) at the end.
pub fn parse_pieces<E: From<DirectoryError>>(
    file: &str,
    kind: CsvKind,
    input: impl std::io::Read,
    piece: usize,
    f: &mut dyn FnMut(DirectoryFile) -> Result<(), E>,
) -> Result<(), E> {
    let mut input = std::io::BufReader::new(input);
    // A byte-order mark, as spreadsheets write, is not part of the first column's name.
    if std::io::BufRead::fill_buf(&mut input).is_ok_and(|b| b.starts_with("\u{feff}".as_bytes())) {
        std::io::BufRead::consume(&mut input, 3);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut records = reader.records();
    let whole = |row: u64, column: &str, message: String| DirectoryError::Cell {
        file: file.to_string(),
        row,
        column: column.to_string(),
        message,
    };
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(whole(1, "-", e.to_string()).into()),
        None => {
            return Err(whole(
                1,
                "-",
                "an empty file: the first row names the columns".into(),
            )
            .into());
        }
    };
    let mut columns: Vec<&'static str> = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        let Some(known) = kind.columns().iter().find(|c| **c == name) else {
            return Err(whole(
                1,
                &format!("{} ({name:?})", i + 1),
                format!(
                    "unknown column for {}: expected {}",
                    kind.name(),
                    kind.columns().join(", ")
                ),
            )
            .into());
        };
        if columns.contains(known) {
            return Err(whole(1, known, "the column is given twice".into()).into());
        }
        columns.push(known);
    }
    let key = kind.columns()[0];
    if !columns.contains(&key) {
        return Err(whole(1, key, format!("the file needs a column {key}")).into());
    }
    let mut dir = DirectoryFile::default();
    for record in records {
        let record = record.map_err(|e| {
            let row = e.position().map_or(0, |p| p.line());
            whole(row, "-", e.to_string())
        })?;
        if dir.users.len() + dir.devices.len() + dir.profiles.len() >= piece {
            f(std::mem::take(&mut dir))?;
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|c| c.trim().is_empty()) {
            continue; // a blank line, as spreadsheets leave at the end
        }
        if record.len() > columns.len() {
            return Err(whole(
                line,
                &(columns.len() + 1).to_string(),
                format!("a cell past the last column ({} columns)", columns.len()),
            )
            .into());
        }
        let row = Row {
            file,
            line,
            // A row shorter than the header has empty cells at its end, as the same row
            // with its trailing commas would.
            cells: columns
                .iter()
                .enumerate()
                .map(|(i, c)| (*c, record.get(i).unwrap_or("").to_string()))
                .collect(),
            kind,
        };
        let list = |name: &str| {
            kind.lists()
                .contains(&name)
                .then(|| row.list(name))
                .flatten()
        };
        match kind {
            CsvKind::Users => dir.users.push(UserEntry {
                id: row.key()?,
                name: row.text("name"),
                pin: row.text("pin"),
                password: row.secret("password"),
                extension: row.text("extension"),
                profiles: list("profiles"),
                max_login_minutes: row
                    .text("max_login_minutes")
                    .map(|m| {
                        m.parse::<u32>().map_err(|_| {
                            row.error(
                                "max_login_minutes",
                                format!("{m:?} is not a number of minutes"),
                            )
                        })
                    })
                    .transpose()?,
            }),
            CsvKind::Devices => dir.devices.push(DeviceEntry {
                name: row.key()?,
                model: row.text("model"),
                em_enabled: row
                    .text("em_enabled")
                    .map(|v| match v.to_ascii_lowercase().as_str() {
                        "true" | "t" | "yes" | "y" | "1" => Ok(true),
                        "false" | "f" | "no" | "n" | "0" => Ok(false),
                        _ => Err(row.error("em_enabled", format!("{v:?} is not true or false"))),
                    })
                    .transpose()?,
                logout_profile: row.text("logout_profile"),
            }),
            CsvKind::Profiles => dir.profiles.push(ProfileEntry {
                name: row.key()?,
                description: row.text("description"),
                lines: list("lines"),
            }),
        }
    }
    f(dir)
}

/// The entities of `kind` in `dir` as a CSV file, every column, secrets as they are held (an
/// export's hashes). A name holding `;` cannot be told apart in a list: refused.
pub fn write(dir: &DirectoryFile, kind: CsvKind) -> Result<String, String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| e.to_string();
    out.write_record(kind.columns()).map_err(fail)?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let list = |owner: &str, v: &Option<Vec<String>>| -> Result<String, String> {
        let items = v.as_deref().unwrap_or_default();
        if let Some(bad) = items.iter().find(|i| i.contains(';')) {
            return Err(format!(
                "{owner}: {bad:?} holds a ';', which a CSV list cannot carry"
            ));
        }
        Ok(items.join(";"))
    };
    match kind {
        CsvKind::Users => {
            for u in &dir.users {
                out.write_record([
                    u.id.clone(),
                    text(&u.name),
                    text(&u.pin),
                    text(&u.password),
                    text(&u.extension),
                    list(&u.id, &u.profiles)?,
                    u.max_login_minutes
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                ])
                .map_err(fail)?;
            }
        }
        CsvKind::Devices => {
            for d in &dir.devices {
                out.write_record([
                    d.name.clone(),
                    text(&d.model),
                    d.em_enabled.map(|e| e.to_string()).unwrap_or_default(),
                    text(&d.logout_profile),
                ])
                .map_err(fail)?;
            }
        }
        CsvKind::Profiles => {
            for p in &dir.profiles {
                out.write_record([
                    p.name.clone(),
                    text(&p.description),
                    list(&p.name, &p.lines)?,
                ])
                .map_err(fail)?;
            }
        }
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory;

    #[test]
    fn the_kind_comes_from_the_file_name() {
        let kind = |n: &str| CsvKind::of_file(std::path::Path::new(n));
        assert_eq!(kind("users.csv"), Some(CsvKind::Users));
        assert_eq!(kind("/x/Users-2026.CSV"), Some(CsvKind::Users));
        assert_eq!(kind("devices_lobby.csv"), Some(CsvKind::Devices));
        assert_eq!(kind("profiles.csv"), Some(CsvKind::Profiles));
        assert_eq!(kind("phones.csv"), None);
        assert_eq!(kind("users.toml"), None);
    }

    #[test]
    fn the_demo_goes_to_csv_and_back_as_it_was() {
        let demo = directory::parse("demo", directory::DEMO).unwrap();
        for kind in CsvKind::ALL {
            let text = write(&demo, kind).unwrap();
            let back = parse("x.csv", kind, &text).unwrap();
            let part = |d: &DirectoryFile| match kind {
                CsvKind::Users => serde_json::to_string(&d.users),
                CsvKind::Devices => serde_json::to_string(&d.devices),
                CsvKind::Profiles => serde_json::to_string(&d.profiles),
            };
            // The demo's users without PIN or profiles lists would differ by an empty list;
            // the demo names both for everyone.
            assert_eq!(part(&back).ok(), part(&demo).ok(), "{text}");
        }
    }

    #[test]
    fn errors_name_the_file_the_row_and_the_column() {
        let e = |kind, text: &str| parse("people.csv", kind, text).unwrap_err().to_string();
        assert_eq!(
            e(CsvKind::Users, "id,colour\njohn,red\n"),
            "people.csv: row 1, column 2 (\"colour\"): unknown column for users: expected id, name, pin, password, extension, profiles, max_login_minutes"
        );
        assert_eq!(
            e(CsvKind::Users, "id,max_login_minutes\njohn,60\nann,soon\n"),
            "people.csv: row 3, column max_login_minutes: \"soon\" is not a number of minutes"
        );
        assert_eq!(
            e(CsvKind::Devices, "name,em_enabled\nSEP1,maybe\n"),
            "people.csv: row 2, column em_enabled: \"maybe\" is not true or false"
        );
        assert_eq!(
            e(CsvKind::Profiles, "name,lines\n,1001\n"),
            "people.csv: row 2, column name: is empty: every row needs one"
        );
        assert_eq!(
            e(CsvKind::Profiles, "name\nP,extra\n"),
            "people.csv: row 2, column 2: a cell past the last column (1 columns)"
        );
        assert_eq!(
            e(CsvKind::Devices, "model\nCisco\n"),
            "people.csv: row 1, column name: the file needs a column name"
        );
        assert!(e(CsvKind::Users, "").contains("row 1"));
    }

    #[test]
    fn lists_split_on_semicolons_and_an_empty_text_cell_is_not_given() {
        let dir = parse(
            "u.csv",
            CsvKind::Users,
            "\u{feff}ID, Profiles ,name\njohn,DPJOHNIPC; UserDevProf,\n\n",
        )
        .unwrap();
        assert_eq!(dir.users.len(), 1);
        assert_eq!(
            dir.users[0].profiles.as_deref(),
            Some(&["DPJOHNIPC".to_string(), "UserDevProf".to_string()][..])
        );
        assert_eq!(dir.users[0].name, None);
        // A short row's missing cells are empty: its list column is the empty list.
        let short = parse(
            "u.csv",
            CsvKind::Users,
            "id,name,profiles
ann
",
        )
        .unwrap();
        assert_eq!(short.users[0].profiles.as_deref(), Some(&[][..]));
        let spaced = parse(
            "u.csv",
            CsvKind::Users,
            "id,password
ann, two words 
",
        )
        .unwrap();
        assert_eq!(spaced.users[0].password.as_deref(), Some(" two words "));
    }
}
