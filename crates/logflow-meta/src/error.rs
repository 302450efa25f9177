//! The store's one error type. The API maps it to HTTP once: `NotFound` 404, `Conflict` and
//! `InvalidTransition` 409, `Invalid` 400, `Unavailable` 503, `Db` 500.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The user, rule or alert does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write, e.g. "username already exists".
    #[error("{0}")]
    Conflict(String),
    /// The alert is not in a status this action starts from (e.g. resolving a resolved alert).
    #[error("cannot move an alert from {from} to {to}")]
    InvalidTransition { from: String, to: String },
    /// The request cannot be carried out as given (bad URL, a reference to a user or rule that
    /// does not exist, a dump of another format, a restore into a store that is not empty...).
    #[error("{0}")]
    Invalid(String),
    /// The database cannot be reached, or no connection became free in time.
    #[error("metadata database unavailable: {0}")]
    Unavailable(String),
    /// Any other database failure.
    #[error("metadata database error: {0}")]
    Db(String),
}

impl From<sqlx::Error> for MetaError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => MetaError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => MetaError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                MetaError::Invalid("the referenced user or rule does not exist".into())
            }
            other => MetaError::Db(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for MetaError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(e) => e.into(),
            other => MetaError::Db(format!("migration failed: {other}")),
        }
    }
}

/// Turns a unique violation on `users` into the conflict the API reports; other errors pass.
///
/// The violation is recognised by the database's error code on both backends. Which column it was
/// comes from the constraint name on PostgreSQL (`users_email_key`) and from the message on SQLite
/// (`UNIQUE constraint failed: users.email`), which names no constraint.
pub(crate) fn user_conflict(e: sqlx::Error) -> MetaError {
    let Some(db) = e.as_database_error().filter(|db| db.is_unique_violation()) else {
        return e.into();
    };
    if db.constraint().unwrap_or(db.message()).contains("email") {
        MetaError::Conflict("email already registered".into())
    } else {
        MetaError::Conflict("username already exists".into())
    }
}

/// Turns a unique violation on `saved_searches` (the user already has a search named `name`) into
/// the conflict the API reports; other errors pass (an unknown user is a foreign key violation).
pub(crate) fn saved_search_conflict(name: &str) -> impl FnOnce(sqlx::Error) -> MetaError + '_ {
    move |e| {
        if e.as_database_error().is_some_and(|db| db.is_unique_violation()) {
            MetaError::Conflict(format!("a saved search named '{name}' already exists"))
        } else {
            e.into()
        }
    }
}
