//! PostgreSQL reads that always return exactly one row.
//!
//! Spin 4.0.0–4.0.2 never answers a PostgreSQL `query` that returns zero
//! rows (spinframework/spin#3671: `query` waits for the column list, which
//! only the first row sends). So the PostgreSQL backend never sends a
//! statement as it is: [`one_row`] wraps it in an aggregate, which yields
//! one row whatever the statement yields, and [`decode`] turns that row's
//! JSON back into [`Rows`]. Repositories keep writing plain SQL.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::sql::{DbError, Rows, Value};

/// Wraps `sql` (a `SELECT`, or an `INSERT`/`UPDATE`/`DELETE … RETURNING`)
/// so that it returns one row with one text column: the statement's rows
/// as a JSON array of objects in row order, or NULL when it has none.
///
/// `MATERIALIZED` makes the aggregate read the rows in the order the
/// statement produced them (an `ORDER BY` inside keeps its meaning), and
/// data-modifying statements are allowed in a top-level `WITH`. The cast
/// to text matters too: Spin's `postgres@2.0.0` interface reports `json`
/// values as unsupported.
pub(crate) fn one_row(sql: &str) -> String {
    format!("WITH q AS MATERIALIZED ({sql}) SELECT json_agg(q)::text FROM q")
}

/// Decodes the single value [`one_row`]'s statement returns: `None` (SQL
/// NULL) is no rows; otherwise columns come in the order the statement
/// named them.
pub(crate) fn decode(json: Option<&str>) -> Result<Rows, DbError> {
    let Some(json) = json else {
        return Ok(Rows::default());
    };
    let objects: Vec<OrderedRow> = serde_json::from_str(json)
        .map_err(|e| DbError::Other(format!("decoding a PostgreSQL result: {e}")))?;
    let columns = objects
        .first()
        .map(|row| row.0.iter().map(|(name, _)| name.clone()).collect())
        .unwrap_or_default();
    let rows = objects
        .into_iter()
        .map(|row| row.0.into_iter().map(|(_, value)| value).collect())
        .collect();
    Ok(Rows { columns, rows })
}

/// One JSON object with its members in document order (PostgreSQL's `json`
/// keeps the statement's column order; a map type would sort them).
struct OrderedRow(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = OrderedRow;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object (one row)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedRow, A::Error> {
                let mut columns = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((name, value)) = map.next_entry::<String, JsonScalar>()? {
                    columns.push((name, value.0));
                }
                Ok(OrderedRow(columns))
            }
        }
        deserializer.deserialize_map(RowVisitor)
    }
}

/// A column value: the store binds and reads only BIGINT and TEXT (and
/// reads booleans as 0/1, as the row-based path did).
struct JsonScalar(Value);

impl<'de> Deserialize<'de> for JsonScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Null => Ok(Self(Value::Null)),
            serde_json::Value::Bool(b) => Ok(Self(Value::Int(i64::from(b)))),
            serde_json::Value::String(s) => Ok(Self(Value::Text(s))),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(|i| Self(Value::Int(i)))
                .ok_or_else(|| de::Error::custom(format!("{n} is not a 64-bit integer"))),
            other => Err(de::Error::custom(format!(
                "unsupported column value {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_wrapped_in_one_aggregate_over_its_rows() {
        assert_eq!(
            one_row("UPDATE t SET n = n + 1 WHERE k = $1 RETURNING n"),
            "WITH q AS MATERIALIZED (UPDATE t SET n = n + 1 WHERE k = $1 RETURNING n) \
             SELECT json_agg(q)::text FROM q"
        );
    }

    #[test]
    fn null_means_no_rows() {
        assert_eq!(decode(None).expect("decodes"), Rows::default());
    }

    #[test]
    fn rows_keep_their_order_and_columns_keep_the_statements_order() {
        let rows = decode(Some(
            r#"[{"zeta":"b","alpha":2,"gone":null,"flag":true},
                {"zeta":"a","alpha":-9007199254740993,"gone":"x","flag":false}]"#,
        ))
        .expect("decodes");
        assert_eq!(rows.columns, ["zeta", "alpha", "gone", "flag"]);
        assert_eq!(
            rows.rows,
            vec![
                vec![
                    Value::Text("b".into()),
                    Value::Int(2),
                    Value::Null,
                    Value::Int(1)
                ],
                vec![
                    Value::Text("a".into()),
                    Value::Int(-9_007_199_254_740_993),
                    Value::Text("x".into()),
                    Value::Int(0)
                ],
            ]
        );
    }

    #[test]
    fn values_the_store_never_stores_are_errors_not_guesses() {
        for json in [
            r#"[{"n":1.5}]"#,
            r#"[{"n":[1]}]"#,
            r#"[{"n":{"a":1}}]"#,
            r#"[{"n":18446744073709551615}]"#,
            r#"{"n":1}"#,
            "not json",
        ] {
            assert!(
                matches!(decode(Some(json)), Err(DbError::Other(_))),
                "{json} must not decode"
            );
        }
    }

    #[test]
    fn text_survives_quotes_escapes_and_unicode() {
        let rows = decode(Some(
            r#"[{"s":"a\"b\\c\u00e9\ud83d\ude00'; DROP TABLE users;--"}]"#,
        ))
        .expect("decodes");
        assert_eq!(
            rows.rows[0][0],
            Value::Text("a\"b\\cé😀'; DROP TABLE users;--".into())
        );
    }
}
