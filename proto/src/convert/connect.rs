//! Conversions between the connect domain types and their protobuf form.

use crate::v1::IntentionRecord;
use tessera_mesh::connect::intention::Action;
use tessera_mesh::connect::intention::DefaultPolicy;
use tessera_mesh::connect::intention::Intention;

impl From<&Intention> for IntentionRecord {
    fn from(i: &Intention) -> Self {
        IntentionRecord {
            id: i.id.clone(),
            source: i.source.clone(),
            destination: i.destination.clone(),
            action: i.action.to_string(),
            description: i.description.clone(),
            meta: i.meta.clone().into_iter().collect(),
            create_index: i.create_index,
            modify_index: i.modify_index,
        }
    }
}

impl TryFrom<&IntentionRecord> for Intention {
    type Error = tessera_mesh::connect::intention::IntentionError;

    fn try_from(r: &IntentionRecord) -> Result<Self, Self::Error> {
        Ok(intention_with(r, r.action.parse::<Action>()?))
    }
}

/// The intentions of a pushed set, failing closed: a record that does not
/// convert (an action this version does not know) still covers its pair, as
/// a deny, and is reported so the caller can log it. Dropping it instead
/// would let a less specific allow, or the default policy, decide.
pub fn intentions_failing_closed(records: &[IntentionRecord]) -> (Vec<Intention>, Vec<String>) {
    let mut unreadable = Vec::new();
    let intentions = records
        .iter()
        .map(|r| {
            Intention::try_from(r).unwrap_or_else(|e| {
                unreadable.push(format!("intention {} => {} ({}): {e}; denying", r.source, r.destination, r.id));
                intention_with(r, Action::Deny)
            })
        })
        .collect();
    (intentions, unreadable)
}

/// A pushed default policy, failing closed: anything but allow or deny is
/// deny, with the reason.
pub fn default_policy_failing_closed(text: &str) -> (DefaultPolicy, Option<String>) {
    match text.parse() {
        Ok(policy) => (policy, None),
        Err(e) => (DefaultPolicy::Deny, Some(format!("default intention policy {text:?}: {e}; denying"))),
    }
}

/// The record's intention with `action`, the one field that can fail to convert.
fn intention_with(r: &IntentionRecord, action: Action) -> Intention {
    Intention {
        id: r.id.clone(),
        source: r.source.clone(),
        destination: r.destination.clone(),
        action,
        description: r.description.clone(),
        meta: r.meta.clone().into_iter().collect(),
        create_index: r.create_index,
        modify_index: r.modify_index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_mesh::connect::intention::evaluate;

    #[test]
    fn an_unreadable_intention_denies_its_pair_instead_of_vanishing() {
        let allow_all = Intention {
            source: "*".into(),
            destination: "*".into(),
            ..intention_with(&IntentionRecord::default(), Action::Allow)
        };
        let mut bad =
            IntentionRecord::from(&Intention { source: "web".into(), destination: "db".into(), ..allow_all.clone() });
        bad.action = "allow-if-friendly".into();
        let (intentions, unreadable) = intentions_failing_closed(&[IntentionRecord::from(&allow_all), bad]);
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
        assert!(unreadable[0].contains("web => db"), "{unreadable:?}");
        assert!(!evaluate(&intentions, "web", "db", DefaultPolicy::Allow).allowed, "the unreadable rule denies");
        assert!(evaluate(&intentions, "api", "db", DefaultPolicy::Allow).allowed, "other pairs keep their rules");
    }

    #[test]
    fn an_unreadable_default_policy_is_deny() {
        assert_eq!(default_policy_failing_closed("allow"), (DefaultPolicy::Allow, None));
        assert_eq!(default_policy_failing_closed("deny"), (DefaultPolicy::Deny, None));
        let (policy, reason) = default_policy_failing_closed("");
        assert_eq!(policy, DefaultPolicy::Deny);
        assert!(reason.unwrap().contains("denying"));
    }

    #[test]
    fn intentions_round_trip() {
        let i = Intention {
            id: "x".into(),
            source: "web".into(),
            destination: "*".into(),
            action: Action::Deny,
            description: "d".into(),
            meta: [("k".to_string(), "v".to_string())].into(),
            create_index: 3,
            modify_index: 4,
        };
        assert_eq!(Intention::try_from(&IntentionRecord::from(&i)).unwrap(), i);
    }
}
