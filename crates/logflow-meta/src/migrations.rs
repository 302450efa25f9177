//! Schema migrations, shared by both backends: numbered SQL files per backend under
//! `migrations/<backend>/`, embedded at build time and recorded by sqlx in `_sqlx_migrations`.
//! On PostgreSQL sqlx holds an advisory lock while it migrates, so processes starting together
//! apply each migration once.

use std::collections::HashSet;

use sqlx::migrate::{Migrate, Migrator};

use crate::{MetaError, MigrationInfo};

/// The migrations `migrator` knows, each marked applied or not in the database behind `conn`.
/// Creates the (empty) bookkeeping table when the database was never migrated.
pub(crate) async fn status<C: Migrate>(conn: &mut C, migrator: &Migrator) -> Result<Vec<MigrationInfo>, MetaError> {
    conn.ensure_migrations_table().await?;
    let applied: HashSet<i64> = conn.list_applied_migrations().await?.into_iter().map(|m| m.version).collect();
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| MigrationInfo {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

/// Applies the pending migrations; returns how many were pending before (and are applied now).
pub(crate) async fn run<C: Migrate>(conn: &mut C, migrator: &Migrator) -> Result<usize, MetaError> {
    let pending = status(conn, migrator).await?.iter().filter(|m| !m.applied).count();
    migrator.run_direct(conn).await?;
    if pending > 0 {
        tracing::info!(pending, "applied metadata database migrations");
    }
    Ok(pending)
}
