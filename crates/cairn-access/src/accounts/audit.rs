//! The audit log: every mutating call, successful or refused, with who, from where, what and
//! to what. The server and the CLI write it; admins read it newest first, a page at a time.

use cairn_state::{AuditRecord, NewAuditRecord};

use super::{Accounts, Result};

/// One audit record as a caller states it. `result`'s error text must hold no secret (the
/// accounts' own errors never do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    /// `Principal::actor()`, or `local:<unix user>` for the CLI.
    pub actor: &'a str,
    /// The client's address, or `cli`.
    pub address: &'a str,
    /// `user.add`, `token.create`, `login`, `plan.edit`, …
    pub action: &'a str,
    pub target: &'a str,
    pub result: std::result::Result<(), &'a str>,
}

impl Accounts {
    pub fn audit(&self, entry: &AuditEntry<'_>) -> Result<()> {
        let (result, detail) = match entry.result {
            Ok(()) => ("ok", None),
            Err(why) => ("failed", Some(why)),
        };
        self.state.insert_audit(&NewAuditRecord {
            at: self.now(),
            actor: entry.actor,
            address: entry.address,
            action: entry.action,
            target: entry.target,
            result,
            detail,
        })?;
        Ok(())
    }

    /// At most `limit` records, newest first, older than `before_id` when given.
    pub fn audit_log(&self, limit: usize, before_id: Option<i64>) -> Result<Vec<AuditRecord>> {
        Ok(self.state.audit_records(limit, before_id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Fixture, PASSWORD};
    use super::super::{LoginStep, TokenRecord, UserRecord};
    use super::*;
    use crate::{Role, Scopes};

    #[test]
    fn the_log_pages_newest_first() {
        let f = Fixture::new();
        for i in 0..5 {
            let target = format!("u{i}");
            let result = if i == 3 {
                Err("refused: last admin")
            } else {
                Ok(())
            };
            f.accounts
                .audit(&AuditEntry {
                    actor: "local:root",
                    address: "cli",
                    action: "user.add",
                    target: &target,
                    result,
                })
                .unwrap();
        }
        let page = f.accounts.audit_log(2, None).unwrap();
        let targets: Vec<&str> = page.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets, ["u4", "u3"]);
        assert_eq!(page[1].result, "failed");
        assert_eq!(page[1].detail.as_deref(), Some("refused: last admin"));
        let next = f.accounts.audit_log(10, Some(page[1].id)).unwrap();
        let targets: Vec<&str> = next.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets, ["u2", "u1", "u0"]);
        assert_eq!(next[0].result, "ok");
    }

    /// Every record type that serializes, from the state rows to the API records, filled with
    /// real secrets; none of their JSON holds a hash, seed, cookie, CSRF or token.
    #[test]
    fn no_serialized_record_contains_a_secret() {
        let f = Fixture::new();
        let user = f.accounts.add_user("alice", Role::Admin, PASSWORD).unwrap();
        let enrolment = f.accounts.begin_totp(user.id, "cairn").unwrap();
        let session = f
            .accounts
            .create_session(user.id, "10.0.0.1", true)
            .unwrap();
        let (token_record, token) = f
            .accounts
            .create_token("ci", Role::Viewer, Scopes::all(), None, "user:alice")
            .unwrap();
        f.accounts
            .audit(&AuditEntry {
                actor: "user:alice",
                address: "10.0.0.1",
                action: "token.create",
                target: "ci",
                result: Ok(()),
            })
            .unwrap();
        let stored_user = f.state.user_by_name("alice").unwrap().unwrap();
        let stored_session = f
            .state
            .session_by_hash(&crate::secret::sha256_hex(&session.cookie_value))
            .unwrap()
            .unwrap();
        let stored_token = f.state.token_by_name("ci").unwrap().unwrap();
        let secrets = [
            PASSWORD.to_string(),
            stored_user.password_hash.clone(),
            stored_user.totp_pending_sealed.clone().unwrap(),
            enrolment.secret_base32.clone(),
            session.cookie_value.clone(),
            session.csrf_token.clone(),
            stored_session.id_hash.clone(),
            token.clone(),
            stored_token.token_hash.clone(),
        ];
        let info = f.accounts.session(&session.cookie_value).unwrap().unwrap();
        let user_record: UserRecord = info.user.clone();
        let login = match f.accounts.check_password("alice", PASSWORD).unwrap() {
            LoginStep::Done(u) | LoginStep::NeedsSecondFactor(u) => u,
        };
        let token_records: Vec<TokenRecord> = f.accounts.tokens().unwrap();
        let texts = [
            serde_json::to_string(&stored_user).unwrap(),
            serde_json::to_string(&stored_session).unwrap(),
            serde_json::to_string(&stored_token).unwrap(),
            serde_json::to_string(&user_record).unwrap(),
            serde_json::to_string(&login).unwrap(),
            serde_json::to_string(&token_record).unwrap(),
            serde_json::to_string(&token_records).unwrap(),
            serde_json::to_string(&info.principal).unwrap(),
            serde_json::to_string(&f.accounts.users().unwrap()).unwrap(),
            serde_json::to_string(&f.accounts.audit_log(10, None).unwrap()).unwrap(),
            serde_json::to_string(&f.accounts.token_principal(&token).unwrap()).unwrap(),
        ];
        for text in &texts {
            assert!(text.len() > 10, "{text}");
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "{text} holds a secret");
            }
            for field in ["hash", "sealed", "csrf", "secret", "totp_last_step"] {
                assert!(!text.contains(field), "{text} has a {field} field");
            }
        }
    }
}
