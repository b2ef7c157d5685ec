//! Switchboard's database schema as sea-orm migrations, for SQLite and PostgreSQL alike.
//!
//! Migrations only ever add: a released migration is never edited, a change is a new one.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000010_knowledge;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000010_knowledge::Migration),
        ]
    }
}
