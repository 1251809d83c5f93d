//! Evidence snapshots: `export` writes all of a database's evidence with the database's identity
//! and an export counter; `import` adds it to another database, replacing the previous snapshot
//! of the same origin, so exports can be taken and imported as often as wanted without counting
//! a call twice.

use super::live::{add_evidence, add_source, add_ungranted, SourceCount};
use super::{now, EvidenceRow, Store, StoreError, UngrantedRow};
use sqlx::Connection;

pub const FORMAT: &str = "policy-miner-evidence";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub version: u32,
    /// The exporting database's identity, made on its first export.
    pub origin: String,
    /// Its exports, counted: a larger one holds everything a smaller one did, and more.
    pub sequence: i64,
    pub exported_at: String,
    pub evidence: Vec<ExportedEvidence>,
    pub ungranted: Vec<UngrantedRow>,
}

/// An evidence row with its counts per live source (none for CloudTrail evidence).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportedEvidence {
    #[serde(flatten)]
    pub row: EvidenceRow,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceCount>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Added, replacing `replaced` (the sequence of the previous snapshot of the origin).
    Added { rows: usize, replaced: Option<i64> },
    /// This snapshot, or a newer one of the same origin, is already in.
    AlreadyIn { imported: i64 },
}

impl Store {
    /// A snapshot of every piece of evidence in the database.
    pub async fn export(&self) -> Result<Snapshot, StoreError> {
        let (origin, sequence) = self.next_export().await?;
        let rows = self.evidence().await?;
        let sources = sqlx::query(
            "SELECT role_arn, action, resource, condition, error_code, source, count, first_seen,
                    last_seen
             FROM evidence_sources ORDER BY role_arn, action, resource, condition, error_code, source",
        )
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        let mut by_key: std::collections::HashMap<[String; 5], Vec<SourceCount>> =
            std::collections::HashMap::new();
        for s in &sources {
            let key = [
                self.column(s, 0)?,
                self.column(s, 1)?,
                self.column(s, 2)?,
                self.column(s, 3)?,
                self.column(s, 4)?,
            ];
            by_key.entry(key).or_default().push(SourceCount {
                source: self.column(s, 5)?,
                count: self.column(s, 6)?,
                first_seen: self.column(s, 7)?,
                last_seen: self.column(s, 8)?,
            });
        }
        let evidence = rows
            .into_iter()
            .map(|row| {
                let key = [
                    row.role_arn.clone(),
                    row.action.clone(),
                    row.resource.clone(),
                    row.condition.clone(),
                    row.error_code.clone(),
                ];
                ExportedEvidence {
                    sources: by_key.remove(&key).unwrap_or_default(),
                    row,
                }
            })
            .collect();
        Ok(Snapshot {
            format: FORMAT.to_string(),
            version: VERSION,
            origin,
            sequence,
            exported_at: now(),
            evidence,
            ungranted: self.ungranted().await?,
        })
    }

    /// The database's export identity and the next export's sequence, counted in one
    /// transaction (made on the first export).
    async fn next_export(&self) -> Result<(String, i64), StoreError> {
        let mut conn = self.writer().await?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))?;
        let meta = |key: &'static str| {
            sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = ?").bind(key)
        };
        let origin = match meta("origin")
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
        {
            Some(o) => o,
            None => new_origin(self.path()),
        };
        let sequence = meta("export_sequence")
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
            + 1;
        for (key, value) in [
            ("origin", origin.clone()),
            ("export_sequence", sequence.to_string()),
        ] {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES (?, ?)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok((origin, sequence))
    }

    /// Adds a snapshot, replacing the previous one of its origin, in one transaction.
    pub async fn import(&self, snapshot: &Snapshot, path: &str) -> Result<Imported, StoreError> {
        let mut conn = self.writer().await?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))?;
        let previous = sqlx::query("SELECT sequence, body FROM imports WHERE origin = ?")
            .bind(&snapshot.origin)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let mut replaced = None;
        if let Some(prev) = previous {
            let sequence: i64 = self.column(&prev, 0)?;
            if sequence >= snapshot.sequence {
                tx.rollback().await.map_err(|e| self.err(e))?;
                return Ok(Imported::AlreadyIn { imported: sequence });
            }
            let body: String = self.column(&prev, 1)?;
            // A previous body that no longer parses cannot be taken back: refuse rather than
            // count its calls twice.
            let old: Snapshot = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                path: self.path().to_path_buf(),
                detail: format!(
                    "the snapshot imported from {} is damaged: {e}",
                    snapshot.origin
                ),
            })?;
            apply(&mut tx, &old, -1).await.map_err(|e| self.err(e))?;
            replaced = Some(sequence);
        }
        apply(&mut tx, snapshot, 1).await.map_err(|e| self.err(e))?;
        let body = serde_json::to_string(snapshot).unwrap_or_default();
        sqlx::query(
            "INSERT INTO imports (origin, sequence, path, imported_at, body) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (origin) DO UPDATE SET sequence = excluded.sequence, path = excluded.path,
               imported_at = excluded.imported_at, body = excluded.body",
        )
        .bind(&snapshot.origin)
        .bind(snapshot.sequence)
        .bind(path)
        .bind(now())
        .bind(body)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Imported::Added {
            rows: snapshot.evidence.len() + snapshot.ungranted.len(),
            replaced,
        })
    }
}

async fn apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    snapshot: &Snapshot,
    sign: i64,
) -> Result<(), sqlx::Error> {
    for e in &snapshot.evidence {
        add_evidence(tx, &e.row, sign).await?;
        for s in &e.sources {
            add_source(tx, &e.row, s, sign).await?;
        }
    }
    for u in &snapshot.ungranted {
        add_ungranted(tx, u, sign).await?;
    }
    Ok(())
}

/// An identity no other database will have: the path, the process, the time and the address of
/// a fresh allocation, hashed.
fn new_origin(path: &std::path::Path) -> String {
    let marker = Box::new(0u8);
    let seed = format!(
        "{}|{}|{}|{:p}",
        path.display(),
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        &*marker
    );
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(seed.as_bytes()))
}

impl Snapshot {
    /// Writes the snapshot to `path` whole or not at all (a reader never sees half a file).
    pub fn write_to(&self, path: &std::path::Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let text = serde_json::to_vec(self)?;
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
    }

    /// Reads a file written by `policy-miner export`.
    pub fn read_from(path: &std::path::Path) -> anyhow::Result<Snapshot> {
        let text = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read it ({e})", path.display()))?;
        let snapshot: Snapshot = serde_json::from_slice(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: not evidence exported by `policy-miner export` ({e})",
                path.display()
            )
        })?;
        if snapshot.format != FORMAT || snapshot.version > VERSION {
            anyhow::bail!(
                "{}: format {:?} version {}, this policy-miner reads {FORMAT:?} up to version \
                 {VERSION}; upgrade policy-miner",
                path.display(),
                snapshot.format,
                snapshot.version
            );
        }
        Ok(snapshot)
    }
}
