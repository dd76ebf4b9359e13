//! The service and role names a world may use, as the schema declares them. Built by
//! [`crate::decide::policy`] from the schema's `type Roles`; the world only checks names
//! against it and never learns what a role grants.

use std::collections::BTreeMap;

/// The service and role names the schema declares in `type Roles`.
#[derive(Debug, Clone, Default)]
pub struct RoleCatalog {
    services: BTreeMap<String, Vec<String>>,
}

impl RoleCatalog {
    /// A catalogue of these services, each with its role names.
    pub fn new(services: BTreeMap<String, Vec<String>>) -> Self {
        RoleCatalog { services }
    }

    /// The roles a service has (sorted by name); `None` for an unknown service.
    pub fn roles(&self, service: &str) -> Option<&Vec<String>> {
        self.services.get(service)
    }

    /// Every service.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }
}
