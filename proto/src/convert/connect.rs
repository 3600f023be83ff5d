//! Conversions between the connect domain types and their protobuf form.

use tessera_mesh::connect::intention::Action;
use tessera_mesh::connect::intention::Intention;
use crate::v1::IntentionRecord;

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
        Ok(Intention {
            id: r.id.clone(),
            source: r.source.clone(),
            destination: r.destination.clone(),
            action: r.action.parse::<Action>()?,
            description: r.description.clone(),
            meta: r.meta.clone().into_iter().collect(),
            create_index: r.create_index,
            modify_index: r.modify_index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
