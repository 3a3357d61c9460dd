//! Users: adding, listing, removing, passwords, roles, the password check, and the one-time
//! setup token that creates the first admin.

use cairn_state::{FirstUser, StoredUser, UserChange};

use super::{
    check_name, stored_role, Accounts, AccountsError, LoginStep, Result, UserRecord, GUARDED_ROLE,
};
use crate::password::{hash_password, password_problem, verify_nothing, verify_password};
use crate::secret::{random_token, sha256_hex};
use crate::Role;

fn user_record(stored: &StoredUser) -> Result<UserRecord> {
    Ok(UserRecord {
        id: stored.id,
        name: stored.name.clone(),
        role: stored_role("users.role", &stored.role)?,
        totp_enabled: stored.totp_secret_sealed.is_some(),
        created_at: stored.created_at,
    })
}

fn no_user(name: &str) -> AccountsError {
    AccountsError::NotFound(format!("user {name:?}; see `cairn user list`"))
}

fn check_password_rules(password: &str) -> Result<()> {
    match password_problem(password) {
        Some(problem) => Err(AccountsError::InvalidInput(problem)),
        None => Ok(()),
    }
}

fn last_admin(name: &str, doing: &str) -> AccountsError {
    AccountsError::Conflict(format!(
        "cannot {doing} {name:?}: it is the last admin; make another user admin first"
    ))
}

impl Accounts {
    pub fn has_users(&self) -> Result<bool> {
        Ok(self.state.count_users()? > 0)
    }

    pub fn add_user(&self, name: &str, role: Role, password: &str) -> Result<UserRecord> {
        check_name("user", name)?;
        check_password_rules(password)?;
        let hash = hash_password(password);
        match self
            .state
            .insert_user(name, role.as_str(), &hash, self.now())?
        {
            Some(_) => self.user(name),
            None => Err(AccountsError::Conflict(format!(
                "a user named {name:?} exists already; choose another name or `cairn user passwd {name}`"
            ))),
        }
    }

    pub(crate) fn stored_user(&self, name: &str) -> Result<StoredUser> {
        self.state.user_by_name(name)?.ok_or_else(|| no_user(name))
    }

    pub(crate) fn stored_user_by_id(&self, id: i64) -> Result<StoredUser> {
        self.state
            .user_by_id(id)?
            .ok_or_else(|| AccountsError::NotFound(format!("user with id {id}")))
    }

    pub(crate) fn user_by_id(&self, id: i64) -> Result<UserRecord> {
        user_record(&self.stored_user_by_id(id)?)
    }

    pub fn user(&self, name: &str) -> Result<UserRecord> {
        user_record(&self.stored_user(name)?)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>> {
        self.state.list_users()?.iter().map(user_record).collect()
    }

    /// Removes a user and its sessions; refuses the last admin.
    pub fn remove_user(&self, name: &str) -> Result<()> {
        match self.state.delete_user(name, GUARDED_ROLE.as_str())? {
            UserChange::Done => Ok(()),
            UserChange::NotFound => Err(no_user(name)),
            UserChange::LastOfRole => Err(last_admin(name, "remove")),
        }
    }

    /// Sets a new password; every session of the user ends.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        check_password_rules(password)?;
        let hash = hash_password(password);
        if self.state.set_password_hash(name, &hash, self.now())? {
            Ok(())
        } else {
            Err(no_user(name))
        }
    }

    /// Changes a user's role; refuses to demote the last admin.
    pub fn set_role(&self, name: &str, role: Role) -> Result<()> {
        match self
            .state
            .set_user_role(name, role.as_str(), GUARDED_ROLE.as_str(), self.now())?
        {
            UserChange::Done => Ok(()),
            UserChange::NotFound => Err(no_user(name)),
            UserChange::LastOfRole => Err(last_admin(name, "demote")),
        }
    }

    /// Turns a user's second factor off (TOTP seed and recovery codes), e.g. a lost phone.
    pub fn reset_second_factor(&self, name: &str) -> Result<()> {
        if self.state.clear_second_factor(name, self.now())? {
            Ok(())
        } else {
            Err(no_user(name))
        }
    }

    /// The first step of a login. An unknown name and a wrong password give the same error
    /// after the same work (one argon2id verification either way).
    pub fn check_password(&self, name: &str, password: &str) -> Result<LoginStep> {
        let Some(stored) = self.state.user_by_name(name)? else {
            verify_nothing(password);
            return Err(AccountsError::BadCredentials);
        };
        if !verify_password(&stored.password_hash, password) {
            return Err(AccountsError::BadCredentials);
        }
        let user = user_record(&stored)?;
        Ok(if user.totp_enabled {
            LoginStep::NeedsSecondFactor(user)
        } else {
            LoginStep::Done(user)
        })
    }

    /// With no user yet: a fresh one-time setup token (any earlier one stops working). With
    /// users: `None`.
    pub fn setup_token(&self) -> Result<Option<String>> {
        if self.has_users()? {
            return Ok(None);
        }
        let token = random_token();
        self.state
            .replace_setup_token(&sha256_hex(&token), self.now())?;
        Ok(Some(token))
    }

    /// Creates the first admin with the setup token, which is used up.
    pub fn complete_setup(
        &self,
        setup_token: &str,
        name: &str,
        password: &str,
    ) -> Result<UserRecord> {
        check_name("user", name)?;
        check_password_rules(password)?;
        let hash = hash_password(password);
        let outcome = self.state.insert_first_user(
            &sha256_hex(setup_token),
            name,
            Role::Admin.as_str(),
            &hash,
            self.now(),
        )?;
        match outcome {
            FirstUser::Created(_) => self.user(name),
            FirstUser::BadToken => Err(AccountsError::BadSetupToken),
            FirstUser::UsersExist => Err(AccountsError::Conflict(
                "setup is done: users exist already; log in, or add users with `cairn user add`"
                    .to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Fixture, PASSWORD};
    use super::*;

    #[test]
    fn users_are_added_listed_checked_and_removed() {
        let f = Fixture::new();
        assert!(!f.accounts.has_users().unwrap());
        let alice = f.accounts.add_user("alice", Role::Admin, PASSWORD).unwrap();
        assert_eq!((alice.name.as_str(), alice.role), ("alice", Role::Admin));
        assert!(!alice.totp_enabled);
        f.accounts.add_user("bob", Role::Viewer, PASSWORD).unwrap();
        let names: Vec<String> = f
            .accounts
            .users()
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(names, ["alice", "bob"]);

        let duplicate = f
            .accounts
            .add_user("bob", Role::Viewer, PASSWORD)
            .unwrap_err();
        assert!(matches!(duplicate, AccountsError::Conflict(_)));
        assert!(duplicate.to_string().contains("\"bob\""), "{duplicate}");
        let short = f
            .accounts
            .add_user("carol", Role::Viewer, "short")
            .unwrap_err();
        assert!(matches!(short, AccountsError::InvalidInput(_)), "{short}");
        let bad_name = f
            .accounts
            .add_user("../x", Role::Viewer, PASSWORD)
            .unwrap_err();
        assert!(
            matches!(bad_name, AccountsError::InvalidInput(_)),
            "{bad_name}"
        );

        assert_eq!(
            f.accounts.check_password("bob", PASSWORD).unwrap(),
            LoginStep::Done(f.accounts.user("bob").unwrap())
        );
        let wrong = f
            .accounts
            .check_password("bob", "wrong password!")
            .unwrap_err();
        let unknown = f.accounts.check_password("nobody", PASSWORD).unwrap_err();
        assert!(matches!(wrong, AccountsError::BadCredentials));
        assert!(matches!(unknown, AccountsError::BadCredentials));
        assert_eq!(wrong.to_string(), unknown.to_string());

        f.accounts
            .set_password("bob", "another long password")
            .unwrap();
        assert!(f.accounts.check_password("bob", PASSWORD).is_err());
        assert!(f
            .accounts
            .check_password("bob", "another long password")
            .is_ok());

        f.accounts.remove_user("bob").unwrap();
        assert!(matches!(
            f.accounts.user("bob").unwrap_err(),
            AccountsError::NotFound(_)
        ));
        assert!(matches!(
            f.accounts.remove_user("bob").unwrap_err(),
            AccountsError::NotFound(_)
        ));
    }

    #[test]
    fn the_last_admin_can_be_neither_removed_nor_demoted() {
        let f = Fixture::new();
        f.accounts.add_user("alice", Role::Admin, PASSWORD).unwrap();
        f.accounts
            .add_user("bob", Role::Operator, PASSWORD)
            .unwrap();
        let removed = f.accounts.remove_user("alice").unwrap_err();
        assert!(matches!(removed, AccountsError::Conflict(_)));
        assert!(removed.to_string().contains("last admin"), "{removed}");
        let demoted = f.accounts.set_role("alice", Role::Viewer).unwrap_err();
        assert!(matches!(demoted, AccountsError::Conflict(_)), "{demoted}");
        // With a second admin both work.
        f.accounts.set_role("bob", Role::Admin).unwrap();
        f.accounts.set_role("alice", Role::Viewer).unwrap();
        assert_eq!(f.accounts.user("alice").unwrap().role, Role::Viewer);
        assert!(
            f.accounts.remove_user("bob").is_err(),
            "bob is now the last admin"
        );
        f.accounts.remove_user("alice").unwrap();
    }

    #[test]
    fn the_setup_token_creates_the_first_admin_once() {
        let f = Fixture::new();
        let first = f.accounts.setup_token().unwrap().unwrap();
        let token = f.accounts.setup_token().unwrap().unwrap();
        assert_ne!(first, token);
        // A replaced token no longer works.
        let replaced = f
            .accounts
            .complete_setup(&first, "alice", PASSWORD)
            .unwrap_err();
        assert!(
            matches!(replaced, AccountsError::BadSetupToken),
            "{replaced}"
        );
        let alice = f
            .accounts
            .complete_setup(&token, "alice", PASSWORD)
            .unwrap();
        assert_eq!(alice.role, Role::Admin);
        let again = f
            .accounts
            .complete_setup(&token, "mallory", PASSWORD)
            .unwrap_err();
        assert!(matches!(again, AccountsError::Conflict(_)), "{again}");
        assert_eq!(f.accounts.setup_token().unwrap(), None);
        assert_eq!(f.accounts.users().unwrap().len(), 1);
    }
}
