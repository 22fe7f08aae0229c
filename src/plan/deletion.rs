//! The one deletion rule, for every kind of AWS resource dialtone owns (alarms, mute rules, and
//! what comes next): delete only what is (a) owned by the object, by an owner tag read from AWS in
//! the same sweep, (b) a name the object declares or declared (its prefix or its recorded names:
//! its [`Claim`]), and (c) wanted by no object, while every manifest loaded cleanly and the object
//! is managed. Owned resources outside (b) are orphans: reported, never deleted by this rule.
//!
//! The caller has already checked (a)'s first half (the resource carries this object's owner
//! tag, in the view it has) and that the object no longer declares the name.

/// The names an object may delete in a region (rule (b)): its prefix, and the names it recorded as
/// declared there (its footprint).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// Its name prefix, when its spec is known (an object gone from the source has none).
    pub prefix: Option<String>,
    /// Names it declared here before, as recorded.
    pub recorded: std::collections::BTreeSet<String>,
}

impl Claim {
    pub fn covers(&self, name: &str) -> bool {
        self.recorded.contains(name)
            || self
                .prefix
                .as_deref()
                .is_some_and(|p| !p.is_empty() && name.starts_with(p))
    }
}

/// What becomes of an owned resource its object no longer declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delete,
    /// Kept, and why.
    Keep(String),
    /// Ownership came from a cache: read it afresh and decide again.
    ConfirmOwnership,
    /// Outside the object's claim: reported, never deleted by the rule.
    Orphan(String),
}

/// The facts the rule weighs for one resource.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// `Kind namespace/name` of the owner, for messages.
    pub owner: &'a str,
    pub claim: &'a Claim,
    /// False for an object under `managementPolicy: Observe` (or last seen under it).
    pub manage: bool,
    /// Objects that still declare the name, if any.
    pub wanted_by: Option<&'a str>,
    /// Why deletions are withheld in this sweep (a manifest could not be loaded), if they are.
    pub withheld: Option<&'a str>,
    /// Whether ownership was read from AWS in this sweep.
    pub fresh: bool,
}

/// The rule.
pub fn decide(name: &str, facts: Facts<'_>) -> Decision {
    let owner = facts.owner;
    if !facts.claim.covers(name) {
        return Decision::Orphan(format!(
            "carries the owner tag of {owner}, which never declared this name (outside its prefix and its recorded names)"
        ));
    }
    if !facts.manage {
        return Decision::Keep("managementPolicy: Observe never deletes".into());
    }
    if let Some(others) = facts.wanted_by {
        return Decision::Keep(format!("declared by {others}"));
    }
    if let Some(why) = facts.withheld {
        return Decision::Keep(why.to_string());
    }
    if !facts.fresh {
        return Decision::ConfirmOwnership;
    }
    Decision::Delete
}
