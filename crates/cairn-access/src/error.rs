//! What access can refuse, with a kind callers match on (the server maps it to a status).

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Who is asking is known, and may not do this.
    #[error("{who} may not {action}{on}", on = on_text(.resource))]
    Forbidden {
        who: String,
        action: String,
        resource: Option<String>,
    },
    /// A value a person wrote (a role, a scope, a name) is not one.
    #[error("{0}")]
    InvalidInput(String),
}

fn on_text(resource: &Option<String>) -> String {
    resource
        .as_deref()
        .map(|r| format!(" on {r}"))
        .unwrap_or_default()
}
