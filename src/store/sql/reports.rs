// Reads for the service-guidance reports: the facts of cases and transfers in a period.


/// Rows read per query: a year of a region's contacts is read in pieces, without holding a
/// reader for the whole report or every case in memory at once.
const CHUNK: i64 = 5_000;

impl Backend {
    pub async fn report_contacts(
        &self,
        q: &ReportQuery,
        each: &mut (dyn FnMut(ContactFacts) + Send),
    ) -> Result<u64, StoreError> {
        self.report_contacts_in_chunks(q, each, CHUNK).await
    }

    pub(in crate::store) async fn report_contacts_in_chunks(
        &self,
        q: &ReportQuery,
        each: &mut (dyn FnMut(ContactFacts) + Send),
        chunk: i64,
    ) -> Result<u64, StoreError> {
        let mut after: Option<(String, String)> = None;
        let mut seen = 0u64;
        loop {
            let mut sql = QueryBuilder::<Db>::new("SELECT id, organiser, owner, received_at");
            for field in ["channel", "language", "answered_at", "closed_at", "outcome"] {
                sql.push(format!(", {} AS {field}", document_field(field)));
            }
            sql.push(" FROM cases WHERE (owner IN (");
            push_list(&mut sql, &q.organisations);
            sql.push(") OR organiser IN (");
            push_list(&mut sql, &q.organisations);
            sql.push(")) AND received_at >= ")
                .push_bind(stored_time(&q.from))
                .push(" AND received_at < ")
                .push_bind(stored_time(&q.to));
            if let Some((at, id)) = &after {
                sql.push(" AND (received_at > ")
                    .push_bind(at.clone())
                    .push(" OR (received_at = ")
                    .push_bind(at.clone())
                    .push(" AND id > ")
                    .push_bind(id.clone())
                    .push("))");
            }
            sql.push(" ORDER BY received_at, id LIMIT ").push_bind(chunk);
            let rows = sql.build().fetch_all(&self.readers).await?;
            let Some(last) = rows.last() else {
                return Ok(seen);
            };
            after = Some((last.try_get("received_at")?, last.try_get("id")?));
            let full = rows.len() as i64 == chunk;
            for row in &rows {
                each(contact_row(row)?);
                seen += 1;
            }
            if !full {
                return Ok(seen);
            }
        }
    }

    pub async fn report_transfers(&self, q: &ReportQuery) -> Result<Vec<TransferFacts>, StoreError> {
        let mut sql = QueryBuilder::<Db>::new("SELECT case_id, from_org, to_org, at FROM case_transfers WHERE at >= ");
        sql.push_bind(stored_time(&q.from))
            .push(" AND at < ")
            .push_bind(stored_time(&q.to))
            .push(" AND (from_org IN (");
        push_list(&mut sql, &q.organisations);
        sql.push(") OR to_org IN (");
        push_list(&mut sql, &q.organisations);
        sql.push(")) ORDER BY at, case_id, seq");
        let rows = sql.build().fetch_all(&self.readers).await?;
        rows.iter()
            .map(|row| {
                Ok(TransferFacts {
                    case_id: uuid(row, "case_id")?,
                    from_org: row.try_get("from_org")?,
                    to_org: row.try_get("to_org")?,
                    at: parse_time(&row.try_get::<String, _>("at")?)?,
                })
            })
            .collect()
    }
}

fn uuid(row: &DbRow, column: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(column)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
}

/// A snake_case enum value of the case document (channel, language, outcome).
fn enum_value<T: DeserializeOwned>(row: &DbRow, column: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|e| StoreError::Corrupt(format!("case {column} {text:?}: {e}")))
}

fn optional_time(row: &DbRow, column: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .map(|t| parse_time(&t))
        .transpose()
}

fn contact_row(row: &DbRow) -> Result<ContactFacts, StoreError> {
    Ok(ContactFacts {
        id: uuid(row, "id")?,
        organiser: row.try_get("organiser")?,
        owner: row.try_get("owner")?,
        channel: enum_value(row, "channel")?,
        language: enum_value(row, "language")?,
        received_at: parse_time(&row.try_get::<String, _>("received_at")?)?,
        answered_at: optional_time(row, "answered_at")?,
        closed_at: optional_time(row, "closed_at")?,
        outcome: enum_value(row, "outcome")?,
    })
}
