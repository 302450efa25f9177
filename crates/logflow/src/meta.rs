//! Opening the metadata store and bootstrapping the admin account (shared by `serve` and `db`).

use crate::config::Config;
use anyhow::{bail, Context};
use logflow_api::auth::{hash_password_blocking, verify_password_blocking};
use logflow_meta::{MetaStore, NewUser, OpenOptions, QueryObserver};
use std::sync::Arc;

/// The spec's default admin account.
pub const ADMIN_USERNAME: &str = "admin";
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin123";

/// Opens (creating and migrating when `migrate`) the configured metadata store.
pub async fn open(
    cfg: &Config,
    migrate: bool,
    observer: Option<Arc<dyn QueryObserver>>,
) -> anyhow::Result<Arc<dyn MetaStore>> {
    let url = cfg.database_url();
    if cfg.database.url.is_empty() {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    }
    let opts = OpenOptions {
        max_connections: cfg.database.max_connections,
        run_migrations: migrate,
        observer,
        ..OpenOptions::default()
    };
    logflow_meta::open(&url, opts).await.with_context(|| format!("opening the metadata database {}", redact_url(&url)))
}

/// What [`bootstrap_admin`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    Created,
    Exists,
}

/// Makes sure an admin can log in: creates `admin` when no admin account exists (with
/// `auth.admin_password`, or the spec's `admin123` in development), warns loudly while `admin123`
/// is in use, and refuses production while it is.
pub async fn bootstrap_admin(cfg: &Config, meta: &dyn MetaStore) -> anyhow::Result<Bootstrap> {
    let configured = cfg.auth.admin_password.as_str();
    if cfg.is_production() && configured == DEFAULT_ADMIN_PASSWORD {
        bail!("refusing to start in production with LOGFLOW_ADMIN_PASSWORD=admin123; choose a strong password");
    }
    if let Some(admin) = meta.user_by_username(ADMIN_USERNAME).await? {
        let hash = admin.hashed_password.clone();
        let is_default =
            tokio::task::spawn_blocking(move || verify_password_blocking(DEFAULT_ADMIN_PASSWORD, &hash)).await?;
        if is_default && admin.is_active {
            if cfg.is_production() {
                bail!(
                    "refusing to start in production while the '{ADMIN_USERNAME}' account still has the default password \
                     'admin123'. Change it first: log in and PUT /api/v1/auth/me with {{\"current_password\": \"admin123\", \
                     \"password\": \"<new>\"}} (in development mode), or run `logflow db reset` with LOGFLOW_ADMIN_PASSWORD set"
                );
            }
            warn_default_admin();
        }
        return Ok(Bootstrap::Exists);
    }
    if has_admin(meta).await? {
        return Ok(Bootstrap::Exists);
    }
    let password = if configured.is_empty() {
        if cfg.is_production() {
            bail!(
                "refusing to start in production without an admin account: set LOGFLOW_ADMIN_PASSWORD to the password \
                 of the '{ADMIN_USERNAME}' account to create"
            );
        }
        warn_default_admin();
        DEFAULT_ADMIN_PASSWORD.to_string()
    } else {
        configured.to_string()
    };
    let hashed_password = tokio::task::spawn_blocking(move || hash_password_blocking(&password)).await?;
    meta.create_user(NewUser {
        username: ADMIN_USERNAME.into(),
        email: "admin@localhost.localdomain".into(),
        full_name: Some("Administrator".into()),
        hashed_password,
        is_admin: true,
    })
    .await
    .context("creating the admin account")?;
    tracing::info!(username = ADMIN_USERNAME, "created the admin account");
    Ok(Bootstrap::Created)
}

async fn has_admin(meta: &dyn MetaStore) -> anyhow::Result<bool> {
    const PAGE: i64 = 500;
    let mut offset = 0;
    loop {
        let users = meta.list_users(PAGE, offset).await?;
        if users.iter().any(|u| u.is_admin && u.is_active) {
            return Ok(true);
        }
        if (users.len() as i64) < PAGE {
            return Ok(false);
        }
        offset += PAGE;
    }
}

fn warn_default_admin() {
    tracing::warn!(
        "\n\n  *** The '{ADMIN_USERNAME}' account has the default password '{DEFAULT_ADMIN_PASSWORD}'. ***\n  \
         Anyone who can reach this server can log in as admin. Change it (PUT /api/v1/auth/me) before\n  \
         exposing LogFlow; production mode (ENVIRONMENT=production) refuses to start like this.\n"
    );
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:///data/meta.db"), "sqlite:///data/meta.db");
    }

    async fn sqlite(cfg: &Config) -> Arc<dyn MetaStore> {
        open(cfg, true, None).await.unwrap()
    }

    #[tokio::test]
    async fn development_creates_the_default_admin_and_production_refuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        let meta = sqlite(&cfg).await;
        assert_eq!(bootstrap_admin(&cfg, &*meta).await.unwrap(), Bootstrap::Created);
        let admin = meta.user_by_username("admin").await.unwrap().unwrap();
        assert!(admin.is_admin && verify_password_blocking("admin123", &admin.hashed_password));
        assert_eq!(bootstrap_admin(&cfg, &*meta).await.unwrap(), Bootstrap::Exists);

        cfg.environment = "production".into();
        let e = bootstrap_admin(&cfg, &*meta).await.unwrap_err().to_string();
        assert!(e.contains("default password") && e.contains("PUT /api/v1/auth/me"), "{e}");
    }

    #[tokio::test]
    async fn production_needs_an_admin_password() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg =
            Config { data_dir: dir.path().to_path_buf(), environment: "production".into(), ..Config::default() };
        let meta = sqlite(&cfg).await;
        let e = bootstrap_admin(&cfg, &*meta).await.unwrap_err().to_string();
        assert!(e.contains("LOGFLOW_ADMIN_PASSWORD"), "{e}");
        assert!(meta.user_by_username("admin").await.unwrap().is_none());

        cfg.auth.admin_password = "admin123".into();
        assert!(bootstrap_admin(&cfg, &*meta).await.is_err());

        cfg.auth.admin_password = "a-strong-passw0rd".into();
        assert_eq!(bootstrap_admin(&cfg, &*meta).await.unwrap(), Bootstrap::Created);
        let admin = meta.user_by_username("admin").await.unwrap().unwrap();
        assert!(verify_password_blocking("a-strong-passw0rd", &admin.hashed_password));
        assert_eq!(bootstrap_admin(&cfg, &*meta).await.unwrap(), Bootstrap::Exists);
    }
}
