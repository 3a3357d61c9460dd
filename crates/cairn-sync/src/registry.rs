//! The server's table of live sessions, one per peer. The rule that closes Backrest's
//! "sessions displacing each other" gap: a new connection replaces the peer's current
//! session only once it has authenticated (handshake done, admitted, its `Hello` read). A
//! connection that fails before that never touches the registered session, and closing a
//! displaced session never unregisters its successor.

use std::collections::BTreeMap;

use crate::identity::InstanceId;

/// A connection's id on the server, from [`SessionRegistry::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

#[derive(Debug, Default)]
pub struct SessionRegistry {
    next: u64,
    current: BTreeMap<InstanceId, SessionId>,
}

impl SessionRegistry {
    pub fn new() -> SessionRegistry {
        SessionRegistry::default()
    }

    /// An id for a new, not yet authenticated connection. It is registered for no peer.
    pub fn open(&mut self) -> SessionId {
        self.next += 1;
        SessionId(self.next)
    }

    /// The session authenticated as `peer` (its `Hello` arrived): it becomes the peer's
    /// current session. Returns the session it displaced, which the caller closes
    /// (`Bye {Replaced}`).
    pub fn authenticated(&mut self, peer: &InstanceId, session: SessionId) -> Option<SessionId> {
        self.current
            .insert(peer.clone(), session)
            .filter(|old| *old != session)
    }

    /// A session ended; the peer is unregistered only if this was its current session.
    pub fn closed(&mut self, peer: &InstanceId, session: SessionId) {
        if self.current.get(peer) == Some(&session) {
            self.current.remove(peer);
        }
    }

    /// The pairing was revoked: returns the session to close at once.
    pub fn revoke(&mut self, peer: &InstanceId) -> Option<SessionId> {
        self.current.remove(peer)
    }

    pub fn current(&self, peer: &InstanceId) -> Option<SessionId> {
        self.current.get(peer).copied()
    }

    pub fn connected(&self) -> impl Iterator<Item = (&InstanceId, SessionId)> {
        self.current.iter().map(|(peer, session)| (peer, *session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn only_an_authenticated_session_replaces_the_current_one() {
        let peer = Identity::generate(&mut ChaCha20Rng::seed_from_u64(1)).instance_id();
        let mut registry = SessionRegistry::new();
        let first = registry.open();
        assert_eq!(registry.authenticated(&peer, first), None);
        // A second connection that never authenticates changes nothing.
        let unauthenticated = registry.open();
        registry.closed(&peer, unauthenticated);
        assert_eq!(registry.current(&peer), Some(first));
        // One that authenticates displaces the first, which the caller closes.
        let second = registry.open();
        assert_eq!(registry.authenticated(&peer, second), Some(first));
        registry.closed(&peer, first);
        assert_eq!(
            registry.current(&peer),
            Some(second),
            "closing the old keeps the new"
        );
        assert_eq!(registry.revoke(&peer), Some(second));
        assert_eq!(registry.current(&peer), None);
    }
}
