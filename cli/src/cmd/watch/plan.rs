//! What a watch asks for, checked as Consul's `watch.Parse` checks the
//! parameters the CLI builds from its flags: the type's own rules first,
//! then any parameter the type did not use is refused.

/// The data a watch follows, and how it reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// One KV entry (`null` while the key is absent).
    Key(String),
    /// Every KV entry under a prefix (`null` while there is none).
    KeyPrefix(String),
    /// `/v1/catalog/services`.
    Services,
    /// `/v1/catalog/nodes`.
    Nodes,
    /// `/v1/health/service/<name>` with tags and `?passing`.
    Service { name: String, tags: Vec<String>, passing_only: bool },
    /// `/v1/health/state/<state>` (any state when neither is given) or
    /// `/v1/health/checks/<service>`.
    Checks { service: Option<String>, state: Option<String>, tags: Vec<String> },
}

impl Kind {
    /// The watch type's name, as `-type` takes it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Key(_) => "key",
            Kind::KeyPrefix(_) => "keyprefix",
            Kind::Services => "services",
            Kind::Nodes => "nodes",
            Kind::Service { .. } => "service",
            Kind::Checks { .. } => "checks",
        }
    }
}

/// The flags a watch was given; empty strings are flags left out, as
/// Consul's CLI only passes on the ones set.
#[derive(Debug, Default)]
pub struct Params {
    pub watch_type: String,
    pub key: String,
    pub prefix: String,
    pub service: String,
    pub tags: Vec<String>,
    /// `-passingonly`, already parsed as Go's `ParseBool`.
    pub passing_only: Option<bool>,
    pub state: String,
    pub name: String,
    pub stale: bool,
}

impl Params {
    /// The parameters present, by the names Consul's errors use.
    fn present(&self) -> Vec<&'static str> {
        let given = [
            ("key", !self.key.is_empty()),
            ("name", !self.name.is_empty()),
            ("passingonly", self.passing_only.is_some()),
            ("prefix", !self.prefix.is_empty()),
            ("service", !self.service.is_empty()),
            ("stale", self.stale),
            ("state", !self.state.is_empty()),
            ("tag", !self.tags.is_empty()),
        ];
        given.into_iter().filter(|(_, set)| *set).map(|(name, _)| name).collect()
    }
}

/// The watch `params` describe, or Consul's error text for them.
pub fn parse(params: &Params) -> Result<Kind, String> {
    let (kind, used): (Kind, &[&str]) = match params.watch_type.as_str() {
        "" => return Err("Watch type must be specified".into()),
        "key" => (Kind::Key(required(&params.key, "key")?), &["stale", "key"]),
        "keyprefix" => (Kind::KeyPrefix(required(&params.prefix, "prefix")?), &["stale", "prefix"]),
        "services" => (Kind::Services, &["stale"]),
        "nodes" => (Kind::Nodes, &["stale"]),
        "service" => {
            let name = required(&params.service, "service")?;
            let kind =
                Kind::Service { name, tags: params.tags.clone(), passing_only: params.passing_only == Some(true) };
            (kind, &["stale", "service", "tag", "passingonly"])
        }
        "checks" => (checks(params)?, &["stale", "service", "state", "tag"]),
        other => return Err(format!("Unsupported watch type: {other}")),
    };
    let unused: Vec<&str> = params.present().into_iter().filter(|p| !used.contains(p)).collect();
    if !unused.is_empty() {
        return Err(format!("Invalid parameters: [{}]", unused.join(" ")));
    }
    Ok(kind)
}

fn required(value: &str, what: &str) -> Result<String, String> {
    match value {
        "" => Err(format!("Must specify a single {what} to watch")),
        value => Ok(value.to_string()),
    }
}

/// Checks of one service or in one state, never both; with neither, every
/// check (`state` `any`).
fn checks(params: &Params) -> Result<Kind, String> {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let (service, state) = (some(&params.service), some(&params.state));
    if service.is_some() && state.is_some() {
        return Err("Cannot specify service and state".into());
    }
    let state = if service.is_none() && state.is_none() { Some("any".to_string()) } else { state };
    Ok(Kind::Checks { service, state, tags: params.tags.clone() })
}

/// `-passingonly` as Go's `strconv.ParseBool` reads it, with Consul's error.
pub fn parse_passing_only(raw: &str) -> Result<bool, String> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("Failed to parse passingonly flag: strconv.ParseBool: parsing {raw:?}: invalid syntax")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(watch_type: &str) -> Params {
        Params { watch_type: watch_type.into(), ..Params::default() }
    }

    #[test]
    fn each_type_requires_its_subject() {
        assert_eq!(parse(&params("")).unwrap_err(), "Watch type must be specified");
        assert_eq!(parse(&params("key")).unwrap_err(), "Must specify a single key to watch");
        assert_eq!(parse(&params("keyprefix")).unwrap_err(), "Must specify a single prefix to watch");
        assert_eq!(parse(&params("service")).unwrap_err(), "Must specify a single service to watch");
        assert_eq!(parse(&params("event")).unwrap_err(), "Unsupported watch type: event");
        assert_eq!(parse(&params("nodes")).unwrap(), Kind::Nodes);
    }

    #[test]
    fn checks_take_a_service_or_a_state_and_default_to_any() {
        let both = Params { service: "web".into(), state: "critical".into(), ..params("checks") };
        assert_eq!(parse(&both).unwrap_err(), "Cannot specify service and state");
        let any = Kind::Checks { service: None, state: Some("any".into()), tags: vec![] };
        assert_eq!(parse(&params("checks")).unwrap(), any);
    }

    #[test]
    fn parameters_the_type_does_not_use_are_refused_by_name() {
        let extra = Params { key: "k".into(), service: "web".into(), tags: vec!["a".into()], ..params("key") };
        assert_eq!(parse(&extra).unwrap_err(), "Invalid parameters: [service tag]");
        let stale = Params { stale: true, passing_only: Some(false), ..params("nodes") };
        assert_eq!(parse(&stale).unwrap_err(), "Invalid parameters: [passingonly]");
    }

    #[test]
    fn passing_only_is_a_go_boolean() {
        assert_eq!(parse_passing_only("T"), Ok(true));
        assert_eq!(parse_passing_only("0"), Ok(false));
        let err = parse_passing_only("yes").unwrap_err();
        assert_eq!(err, r#"Failed to parse passingonly flag: strconv.ParseBool: parsing "yes": invalid syntax"#);
    }
}
