//! The audit's error type. Owns only the error's shape and wording (each variant says what
//! its source says, so the messages users see are Cedar's and the engine's own).
//! Must not: format reports. May use: [`crate::decide`], [`crate::world`].

/// Why an audit, an impact or its preparation could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The world's entities cannot be prepared for Cedar's partial evaluation.
    #[error(transparent)]
    Entities(Box<cedar_policy::tpe_err::EntitiesError>),
    /// A request could not be translated or decided by the engine.
    #[error("{0}")]
    Engine(crate::world::problem::Problem),
}

impl From<cedar_policy::tpe_err::EntitiesError> for AuditError {
    fn from(e: cedar_policy::tpe_err::EntitiesError) -> Self {
        AuditError::Entities(Box::new(e))
    }
}
