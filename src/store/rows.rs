//! The rows of one multi-row statement, gathered column by column. Each backend turns them
//! into the statement's row source its own way (`push_rows`): SQLite as `VALUES` with one
//! parameter per cell; PostgreSQL as `UNNEST` of one array per column, so that the statement's
//! text is the same for any number of rows and is prepared once per connection, not parsed
//! and planned again for every batch.

/// A column of the store's tables: every stored value is text, an integer or bytes.
pub(super) enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Bytes(Vec<Vec<u8>>),
}

#[derive(Default)]
pub(super) struct Rows {
    pub(super) columns: Vec<Column>,
    /// The column the next value goes to.
    next: usize,
    pub(super) len: usize,
}

impl Rows {
    pub(super) fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.opt_text(Some(value))
    }

    pub(super) fn opt_text(&mut self, value: Option<impl Into<String>>) -> &mut Self {
        self.push(Cell::Text(value.map(Into::into)))
    }

    pub(super) fn int(&mut self, value: i64) -> &mut Self {
        self.opt_int(Some(value))
    }

    pub(super) fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        self.push(Cell::Int(value))
    }

    pub(super) fn bytes(&mut self, value: Vec<u8>) -> &mut Self {
        self.push(Cell::Bytes(value))
    }

    /// Ends the row whose values were just given.
    pub(super) fn end_row(&mut self) {
        debug_assert!(self.next == self.columns.len(), "every row has every column");
        self.next = 0;
        self.len += 1;
    }

    /// Adds a value to the next column; the first row makes the columns, of its values' kinds.
    fn push(&mut self, cell: Cell) -> &mut Self {
        if self.len == 0 {
            self.columns.push(match cell {
                Cell::Text(_) => Column::Text(Vec::new()),
                Cell::Int(_) => Column::Int(Vec::new()),
                Cell::Bytes(_) => Column::Bytes(Vec::new()),
            });
        }
        match (&mut self.columns[self.next], cell) {
            (Column::Text(values), Cell::Text(value)) => values.push(value),
            (Column::Int(values), Cell::Int(value)) => values.push(value),
            (Column::Bytes(values), Cell::Bytes(value)) => values.push(value),
            _ => unreachable!("column {} holds values of another kind", self.next),
        }
        self.next += 1;
        self
    }
}

/// One value, as a backend binds it.
pub(super) enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Vec<u8>),
}

impl Rows {
    /// The values row by row.
    pub(super) fn into_rows(self) -> Vec<Vec<Cell>> {
        let mut rows: Vec<Vec<Cell>> = (0..self.len).map(|_| Vec::with_capacity(self.columns.len())).collect();
        for column in self.columns {
            match column {
                Column::Text(values) => rows.iter_mut().zip(values).for_each(|(row, v)| row.push(Cell::Text(v))),
                Column::Int(values) => rows.iter_mut().zip(values).for_each(|(row, v)| row.push(Cell::Int(v))),
                Column::Bytes(values) => rows
                    .iter_mut()
                    .zip(values)
                    .for_each(|(row, v)| row.push(Cell::Bytes(v))),
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_their_columns_row_by_row() {
        let mut rows = Rows::default();
        for n in 0..3 {
            rows.text(format!("id-{n}"))
                .opt_int((n > 0).then_some(n))
                .opt_text(None::<String>);
            rows.end_row();
        }
        assert_eq!(rows.len, 3);
        let [Column::Text(ids), Column::Int(counts), Column::Text(notes)] = &rows.columns[..] else {
            panic!("three columns of the right kinds");
        };
        assert_eq!(ids, &[Some("id-0".into()), Some("id-1".into()), Some("id-2".into())]);
        assert_eq!(counts, &[None, Some(1), Some(2)]);
        assert_eq!(notes, &[None, None, None]);
        let by_row = rows.into_rows();
        assert!(matches!(&by_row[2][..], [Cell::Text(Some(id)), Cell::Int(Some(2)), Cell::Text(None)] if id == "id-2"));
    }
}
