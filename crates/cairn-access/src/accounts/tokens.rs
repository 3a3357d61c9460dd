//! API tokens: `cairn_` + 43 base64url characters (256 random bits), shown once and stored
//! as SHA-256. A bearer is looked up by its hash, compared again in constant time, and
//! refused when revoked or expired. Its last use is written at most once a minute, so a
//! busy script does not turn every request into a database write.

use cairn_state::{NewToken, StoredToken};
use chrono::{DateTime, Utc};

use super::{check_name, stored_role, Accounts, AccountsError, Result, TokenRecord};
use crate::secret::{constant_time_eq, random_token, sha256_hex};
use crate::{Identity, Principal, Role, Scopes};

pub const TOKEN_PREFIX: &str = "cairn_";
const LAST_USED_GRANULARITY: chrono::Duration = chrono::Duration::minutes(1);

fn token_record(stored: &StoredToken) -> Result<TokenRecord> {
    let scopes: Scopes = serde_json::from_str(&stored.scopes).map_err(|_| {
        AccountsError::State(cairn_state::StateError::BadValue {
            column: "api_tokens.scopes",
            value: stored.scopes.clone(),
        })
    })?;
    Ok(TokenRecord {
        id: stored.id,
        name: stored.name.clone(),
        role: stored_role("api_tokens.role", &stored.role)?,
        scopes,
        created_at: stored.created_at,
        created_by: stored.created_by.clone(),
        expires_at: stored.expires_at,
        last_used_at: stored.last_used_at,
        revoked: stored.revoked_at.is_some(),
    })
}

impl Accounts {
    /// Makes a token; returns its record and the token itself, which is not kept.
    pub fn create_token(
        &self,
        name: &str,
        role: Role,
        scopes: Scopes,
        expires_at: Option<DateTime<Utc>>,
        created_by: &str,
    ) -> Result<(TokenRecord, String)> {
        check_name("token", name)?;
        let now = self.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(AccountsError::InvalidInput(format!(
                "token {name:?} would expire before it is made; give a time in the future"
            )));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_token());
        let scopes_json = serde_json::to_string(&scopes).expect("scopes serialize");
        let hash = sha256_hex(&token);
        let inserted = self.state.insert_token(&NewToken {
            name,
            role: role.as_str(),
            scopes: &scopes_json,
            token_hash: &hash,
            created_at: now,
            created_by,
            expires_at,
        })?;
        if inserted.is_none() {
            return Err(AccountsError::Conflict(format!(
                "a token named {name:?} exists already; choose another name or revoke it first"
            )));
        }
        let stored = self
            .state
            .token_by_name(name)?
            .ok_or_else(|| AccountsError::NotFound(format!("token {name:?}")))?;
        Ok((token_record(&stored)?, token))
    }

    /// Every token, by name, revoked ones included.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.state.list_tokens()?.iter().map(token_record).collect()
    }

    pub fn revoke_token(&self, name: &str) -> Result<()> {
        if self.state.revoke_token(name, self.now())? {
            return Ok(());
        }
        match self.state.token_by_name(name)? {
            Some(_) => Err(AccountsError::Conflict(format!(
                "token {name:?} is revoked already"
            ))),
            None => Err(AccountsError::NotFound(format!(
                "token {name:?}; see `cairn token list`"
            ))),
        }
    }

    /// Who a bearer token is, or `None` when it is no live token.
    pub fn token_principal(&self, bearer: &str) -> Result<Option<Principal>> {
        if !bearer.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = sha256_hex(bearer);
        let Some(stored) = self.state.token_by_hash(&hash)? else {
            return Ok(None);
        };
        let now = self.now();
        let expired = stored.expires_at.is_some_and(|at| at <= now);
        if !constant_time_eq(&stored.token_hash, &hash) || stored.revoked_at.is_some() || expired {
            return Ok(None);
        }
        self.state
            .touch_token(stored.id, now, now - LAST_USED_GRANULARITY)?;
        let record = token_record(&stored)?;
        Ok(Some(Principal {
            identity: Identity::Token {
                id: record.id,
                name: record.name,
            },
            role: record.role,
            scopes: record.scopes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Fixture;
    use super::*;
    use crate::Resource;

    #[test]
    fn a_token_is_shown_once_and_names_its_principal() {
        let f = Fixture::new();
        let scopes = Scopes::parse_all(["repo:main", "!plan:db"]).unwrap();
        let (record, token) = f
            .accounts
            .create_token("ci", Role::Operator, scopes.clone(), None, "user:alice")
            .unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(record.scopes, scopes, "scopes survive the round trip");
        assert_eq!(f.accounts.tokens().unwrap()[0].scopes, scopes);
        let principal = f.accounts.token_principal(&token).unwrap().unwrap();
        assert_eq!(principal.role, Role::Operator);
        assert_eq!(principal.scopes, scopes);
        assert_eq!(principal.actor(), "token:ci");
        let db = Resource::Plan {
            name: "db",
            repository: "main",
        };
        assert!(!principal.may(crate::Action::Read, db));
        // Unrestricted scopes stay unrestricted.
        let (all, _) = f
            .accounts
            .create_token("all", Role::Viewer, Scopes::all(), None, "local:root")
            .unwrap();
        assert_eq!(all.scopes, Scopes::all());

        let duplicate = f
            .accounts
            .create_token("ci", Role::Viewer, Scopes::all(), None, "x")
            .unwrap_err();
        assert!(
            matches!(duplicate, AccountsError::Conflict(_)),
            "{duplicate}"
        );
        // A near miss, another prefix, a wrong one: nobody.
        let mut near = token.clone();
        near.pop();
        near.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(f.accounts.token_principal(&near).unwrap().is_none());
        assert!(f.accounts.token_principal("Bearer x").unwrap().is_none());
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let f = Fixture::new();
        let (_, token) = f
            .accounts
            .create_token("ci", Role::Viewer, Scopes::all(), None, "x")
            .unwrap();
        assert_eq!(f.accounts.tokens().unwrap()[0].last_used_at, None);
        let first = f.now();
        f.accounts.token_principal(&token).unwrap().unwrap();
        f.advance(30);
        f.accounts.token_principal(&token).unwrap().unwrap();
        assert_eq!(f.accounts.tokens().unwrap()[0].last_used_at, Some(first));
        f.advance(31);
        f.accounts.token_principal(&token).unwrap().unwrap();
        assert_eq!(f.accounts.tokens().unwrap()[0].last_used_at, Some(f.now()));
    }

    #[test]
    fn expired_and_revoked_tokens_are_nobody() {
        let f = Fixture::new();
        let expires = f.now() + chrono::Duration::days(1);
        let (_, token) = f
            .accounts
            .create_token("short", Role::Viewer, Scopes::all(), Some(expires), "x")
            .unwrap();
        assert!(f.accounts.token_principal(&token).unwrap().is_some());
        f.advance(24 * 3600);
        assert!(f.accounts.token_principal(&token).unwrap().is_none());
        let past = f.now() - chrono::Duration::seconds(1);
        assert!(f
            .accounts
            .create_token("past", Role::Viewer, Scopes::all(), Some(past), "x")
            .is_err());

        let (_, token) = f
            .accounts
            .create_token("ci", Role::Viewer, Scopes::all(), None, "x")
            .unwrap();
        f.accounts.revoke_token("ci").unwrap();
        assert!(f.accounts.token_principal(&token).unwrap().is_none());
        assert!(f
            .accounts
            .tokens()
            .unwrap()
            .iter()
            .any(|t| t.name == "ci" && t.revoked));
        assert!(matches!(
            f.accounts.revoke_token("ci").unwrap_err(),
            AccountsError::Conflict(_)
        ));
        assert!(matches!(
            f.accounts.revoke_token("nope").unwrap_err(),
            AccountsError::NotFound(_)
        ));
        // A revoked token's name can be taken again; the old token stays dead.
        let (_, fresh) = f
            .accounts
            .create_token("ci", Role::Viewer, Scopes::all(), None, "x")
            .unwrap();
        assert!(f.accounts.token_principal(&fresh).unwrap().is_some());
        assert!(f.accounts.token_principal(&token).unwrap().is_none());
    }
}
