//! Hand-written SQL that Diesel prepares once per connection and then reuses.
//!
//! `diesel::sql_query` text is never cached: every call is parsed and planned again (on
//! PostgreSQL the one-statement task claim took ~1.35 ms that way against ~0.6 ms prepared; on
//! SQLite the member and task pickers were half of a claim's CPU, bench/findings.md § 1.3).
//! A [`Prepared`] statement has a query id of its own (the marker type `K`, one per
//! statement), which is what Diesel's statement cache keys on.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Untyped};
use diesel::{QueryResult, RunQueryDsl};

/// One bound value of a [`Prepared`] statement.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    /// `TEXT`.
    Text(String),
    /// `TEXT`, possibly `NULL`.
    NullableText(Option<String>),
    /// `BIGINT` (`INTEGER` on SQLite).
    BigInt(i64),
    /// `BIGINT`, possibly `NULL`.
    NullableBigInt(Option<i64>),
    /// `BOOLEAN` (an `INTEGER` 0 / 1 on SQLite).
    Bool(bool),
}

/// A statement whose text is `sql` with one `?` per bind, in order; each `?` becomes the
/// backend's placeholder (`?` on SQLite, `$n` on PostgreSQL). A value used twice is bound
/// twice, and `sql` must hold no other `?` (none in literals or comments). `K` names the
/// statement for the cache: one marker type per distinct `sql`
/// (two texts under one marker would run the first one prepared).
#[derive(Debug, Clone)]
pub(crate) struct Prepared<K> {
    sql: &'static str,
    binds: Vec<Bind>,
    _key: PhantomData<K>,
}

impl<K> Prepared<K> {
    /// The statement `sql` (with `?` placeholders) and its values, one per `?`.
    pub(crate) fn new(sql: &'static str, binds: Vec<Bind>) -> Self {
        debug_assert_eq!(sql.matches('?').count(), binds.len(), "{sql}");
        Prepared {
            sql,
            binds,
            _key: PhantomData,
        }
    }
}

impl<K: 'static> QueryId for Prepared<K> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K> Query for Prepared<K> {
    type SqlType = Untyped;
}

impl<K, C> RunQueryDsl<C> for Prepared<K> {}

impl<K, DB> QueryFragment<DB> for Prepared<K>
where
    DB: Backend,
    String: ToSql<Text, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    bool: ToSql<Bool, DB>,
    DB: diesel::sql_types::HasSqlType<Bool>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut parts = self.sql.split('?');
        if let Some(first) = parts.next() {
            out.push_sql(first);
        }
        for (part, bind) in parts.zip(&self.binds) {
            match bind {
                Bind::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Bind::NullableText(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Bind::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Bind::NullableBigInt(v) => out.push_bind_param::<Nullable<BigInt>, _>(v)?,
                Bind::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
            }
            out.push_sql(part);
        }
        Ok(())
    }
}
