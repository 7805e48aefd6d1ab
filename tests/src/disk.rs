//! Searching disks as a thief or a privacy reviewer would: every file's
//! bytes, and every change of every Automerge document stored in the
//! SQLite files among them (documents are stored compressed, so their
//! bytes alone prove nothing).

use std::path::Path;

use automerge::Automerge;

/// True when `needle` occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every needle found in `bytes`, named by `what`.
pub fn leaks_in(what: &str, bytes: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, n)| find(bytes, n))
        .map(|(s, _)| format!("{s:?} in {what}"))
        .collect()
}

/// Every change of the documents whose stored chunks are `chunks`
/// ((storage key, bytes), as samod names them), decoded: (document id, its
/// text).
pub fn documents_from_chunks(
    chunks: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut docs: std::collections::BTreeMap<String, Automerge> = Default::default();
    for (key, data) in chunks {
        let Some((doc, _)) = key.split_once('/') else {
            continue;
        };
        if doc == "storage-adapter-id" {
            continue;
        }
        docs.entry(doc.to_string())
            .or_default()
            .load_incremental(&data)?;
    }
    let mut out = Vec::new();
    for (id, d) in docs {
        let mut text = String::new();
        for change in d.get_changes(&[]) {
            text.push_str(&format!("{:?}\n", change.decode()));
        }
        text.push_str(&serde_json::to_string(&automerge::AutoSerde::from(&d))?);
        out.push((id, text));
    }
    Ok(out)
}

/// The documents in a plain `pg_dump` of a Linli database: the rows of
/// `samod_storage` (key, then `\x` and the chunk in hex), decoded.
pub fn documents_in_pg_dump(dump: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut rows = dump
        .lines()
        .skip_while(|l| !l.starts_with("COPY public.samod_storage "))
        .skip(1)
        .take_while(|l| *l != "\\.");
    let mut chunks = Vec::new();
    for line in rows.by_ref() {
        let (key, data) = line
            .split_once('\t')
            .ok_or_else(|| anyhow::anyhow!("a samod_storage row without a tab: {line}"))?;
        let hex = data
            .strip_prefix("\\\\x")
            .ok_or_else(|| anyhow::anyhow!("a chunk not in hex: {key}"))?;
        chunks.push((key.to_string(), hex::decode(hex)?));
    }
    documents_from_chunks(chunks)
}

/// Look through a plain `pg_dump` of a Linli database for `needles`: its
/// text (but for the documents' chunks, which are hex) and every change of
/// every document it carries, decoded: (what was found where, documents
/// searched).
pub fn search_pg_dump(
    dump: &str,
    needles: &[(String, Vec<u8>)],
) -> anyhow::Result<(Vec<String>, usize)> {
    let text: String = dump
        .lines()
        .filter(|l| !l.contains("\t\\\\x"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = leaks_in("the dump", text.as_bytes(), needles);
    let docs = documents_in_pg_dump(dump)?;
    for (id, doc) in &docs {
        found.extend(leaks_in(
            &format!("the dump's document {id}"),
            doc.as_bytes(),
            needles,
        ));
    }
    Ok((found, docs.len()))
}

/// Every change of every document stored in the SQLite file `db`, decoded
/// (documents are stored compressed, so their bytes alone prove nothing).
pub fn documents_in(db: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // A kiosk's journal file, say, holds no documents.
    let has_documents: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'samod_storage')",
        [],
        |r| r.get(0),
    )?;
    if !has_documents {
        return Ok(Vec::new());
    }
    let mut stmt = c.prepare("SELECT key, data FROM samod_storage ORDER BY key")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    documents_from_chunks(rows)
}

/// Look through every file under `dir`, and every change of every document
/// in its SQLite files, for `needles`: (what was found where, files
/// searched, documents searched).
pub fn search_disk_for(
    dir: &Path,
    what: &str,
    needles: &[(String, Vec<u8>)],
) -> anyhow::Result<(Vec<String>, usize, usize)> {
    let mut leaks = Vec::new();
    let (mut files, mut docs) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path)?;
            leaks.extend(leaks_in(
                &format!("{what} file {}", path.display()),
                &bytes,
                needles,
            ));
            if bytes.starts_with(b"SQLite format 3") {
                for (id, text) in documents_in(&path)? {
                    docs += 1;
                    leaks.extend(leaks_in(
                        &format!("{what} document {id}"),
                        text.as_bytes(),
                        needles,
                    ));
                }
            }
        }
    }
    Ok((leaks, files, docs))
}

/// Copy a directory tree (a kiosk's data directory, as a thief would).
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
