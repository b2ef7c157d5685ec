//! Statements that must all run, sent as one where the database allows it: on PostgreSQL each
//! round trip is a wait for the server (and, on a busy machine, for a core), so the statements
//! go as data-modifying `WITH`s before the last one; SQLite's cost no round trip and run one
//! by one.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::Result;

/// Runs each of `first`, then `then`, in the caller's transaction; returns the rows `then`
/// affected. On PostgreSQL in one statement ([`after_in_one`]): the statements must not
/// depend on each other's changes (each sees the rows as they were before the statement).
pub(crate) async fn execute(
    db: &impl ConnectionTrait,
    first: Vec<Statement>,
    then: Statement,
) -> Result<u64> {
    if db.get_database_backend() == DbBackend::Postgres {
        return Ok(db
            .execute_raw(after_in_one(first, then))
            .await?
            .rows_affected());
    }
    for statement in first {
        db.execute_raw(statement).await?;
    }
    Ok(db.execute_raw(then).await?.rows_affected())
}

/// PostgreSQL's `then` with each of `first` run before it in the same statement, as
/// data-modifying `WITH`s (which run to completion whatever `then` reads of them): the
/// placeholders of each move past those before it.
fn after_in_one(first: Vec<Statement>, then: Statement) -> Statement {
    if first.is_empty() {
        return then;
    }
    let mut values = Vec::new();
    let mut parts = Vec::with_capacity(first.len());
    for (i, statement) in first.into_iter().enumerate() {
        parts.push(format!(
            "w{i} AS ({})",
            shift_placeholders(&statement.sql, values.len())
        ));
        values.extend(statement.values.map(|values| values.0).unwrap_or_default());
    }
    let sql = format!(
        "WITH {} {}",
        parts.join(", "),
        shift_placeholders(&then.sql, values.len())
    );
    values.extend(then.values.map(|values| values.0).unwrap_or_default());
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// `sql` with each PostgreSQL placeholder `$n` made `$(n + by)`. (sea-query binds every value,
/// so a `$` followed by digits is always a placeholder in what it writes.)
fn shift_placeholders(sql: &str, by: usize) -> String {
    let mut shifted = String::with_capacity(sql.len() + sql.len() / 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        shifted.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => shifted.push_str(&(n + by).to_string()),
            Err(_) => shifted.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    shifted.push_str(rest);
    shifted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_move_past_the_first_statements() {
        assert_eq!(
            shift_placeholders(
                "INSERT INTO m VALUES ($1, $2), ($10, $3) ON CONFLICT DO NOTHING",
                4
            ),
            "INSERT INTO m VALUES ($5, $6), ($14, $7) ON CONFLICT DO NOTHING"
        );
        assert_eq!(shift_placeholders("SELECT 1", 3), "SELECT 1");
        assert_eq!(shift_placeholders("a $ b $", 2), "a $ b $");
        let first = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO c VALUES ($1, $2)",
            ["a".into(), "b".into()],
        );
        let then = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO m VALUES ($1)",
            ["c".into()],
        );
        let second = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO t VALUES ($1)",
            ["d".into()],
        );
        let one = after_in_one(vec![first, second], then);
        assert_eq!(
            one.sql,
            "WITH w0 AS (INSERT INTO c VALUES ($1, $2)), w1 AS (INSERT INTO t VALUES ($3)) \
             INSERT INTO m VALUES ($4)"
        );
        assert_eq!(one.values.expect("values").0.len(), 4);
    }
}
